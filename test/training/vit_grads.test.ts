// The ViT's parameter gradients against PyTorch autograd in float64: the mean cross-entropy
// of timm's logits against the fixture's labels, d loss / d parameter in timm's names
// (<set>.grads.safetensors; test/fixtures/README.md and ../shared/fixtures/README.md).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crossEntropy, FloatDType, SparseMask } from '../../ts/index';
import { entryToTensor, entryValues, readSafetensors } from '../../ts/io/safetensors';
import { loadTimmViT, ViTConfig } from '../../ts/models/vit';
import { AttentionConfig } from '../../ts/nn/layers';
import { DEVICES, describeDevice, relativeError, requireFixtures } from '../helpers';

const FIXTURE_SETS = ['vit_notebook', 'vit_tiny'];
const BOUND: Record<FloatDType, number> = { float32: 1e-4, float16: 3e-2, bfloat16: 3e-2 };

type Case = { model: string; mechanism: string; mask?: 'dense' | 'sparse' };
const CASES: Case[] = [
  { model: '', mechanism: 'vanilla' },
  { model: '', mechanism: 'memory_efficient' },
  { model: '_sparse', mechanism: 'sparse', mask: 'sparse' },
  { model: '_sparse', mechanism: 'vanilla', mask: 'dense' },
  { model: '_sparse', mechanism: 'memory_efficient', mask: 'dense' },
];

for (const device of DEVICES) {
  for (const set of FIXTURE_SETS) {
    describeDevice(device, `ViT gradients against PyTorch autograd (${set})`, () => {
      let dir = '';
      let config: ViTConfig;
      before(function () {
        const files = ['', '_sparse'].flatMap((s) => ['json', 'weights.safetensors', 'io.safetensors', 'grads.safetensors'].map((e) => `${set}${s}.${e}`));
        dir = requireFixtures(this, files);
        const json = JSON.parse(fs.readFileSync(path.join(dir, `${set}.json`), 'utf8')) as { config: ViTConfig };
        config = { num_classes: 1000, ...json.config };
      });
      const dtypes: FloatDType[] = device === 'cpu' ? ['float32'] : ['float32', 'float16', 'bfloat16'];
      for (const c of CASES) {
        for (const dtype of dtypes) {
          const what = c.mask ? `${c.mechanism} with the mask as ${c.mask === 'sparse' ? 'a SparseMask' : 'a dense mask'}` : c.mechanism;
          it(`${set}${c.model}, ${what}, ${dtype}: loss and every parameter gradient within ${BOUND[dtype]}`, async function () {
            this.timeout(120_000);
            const name = `${set}${c.model}`;
            const io = await readSafetensors(path.join(dir, `${name}.io.safetensors`));
            const ref = await readSafetensors(path.join(dir, `${name}.grads.safetensors`));
            const maskEntry = io.tensors.get('attn_mask');
            const denseMask = c.mask ? entryToTensor(maskEntry!, { device, dtype: 'uint8' }) : undefined;
            const sparseMask = c.mask === 'sparse' ? SparseMask.fromDense(denseMask!, undefined, { device }) : undefined;
            const attention: AttentionConfig = { mechanism: c.mechanism, ...(c.mask ? { mask: sparseMask ?? denseMask } : {}) };
            const model = await loadTimmViT(path.join(dir, `${name}.weights.safetensors`), config, { device, dtype, attention });
            model.train();
            const images = entryToTensor(io.tensors.get('input')!, { device, dtype });
            const labels = entryToTensor(ref.tensors.get('labels')!, { device });
            const logits = model.forward(images);
            const loss = crossEntropy(logits.cast('float32'), labels);
            const lossRef = entryValues(ref.tensors.get('loss')!)[0];
            const lossErr = Math.abs(loss.dataSync()[0] - lossRef) / Math.abs(lossRef);
            loss.backward();
            let worst = 0;
            let worstName = '';
            const params = model.parameters();
            for (const [pname, p] of params) {
              const expected = ref.tensors.get(pname);
              assert.ok(expected, `no reference gradient for ${pname}`);
              assert.ok(p.grad, `${pname} has no gradient`);
              const err = relativeError(p.grad.dataSync(), entryValues(expected));
              if (!(err <= worst)) { worst = err; worstName = pname; }
            }
            const refNames = [...ref.tensors.keys()].filter((n) => n !== 'labels' && n !== 'loss');
            assert.deepEqual(refNames.filter((n) => !params.has(n)), [], 'reference gradients with no parameter');
            console.log(`      loss ${loss.dataSync()[0].toFixed(5)} (error ${lossErr.toExponential(2)}); worst gradient ${worstName} ${worst.toExponential(2)}`);
            assert.ok(lossErr <= BOUND[dtype], `loss error ${lossErr}`);
            assert.ok(worst <= BOUND[dtype], `gradient of ${worstName}: relative error ${worst}`);
            for (const t of [images, labels, logits, loss]) t.dispose();
            model.dispose();
            denseMask?.dispose();
            sparseMask?.dispose();
          });
        }
      }
    });
  }
}
