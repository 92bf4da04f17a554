import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Device, FloatDType, registerAttention, attention, randn, tensor, Tensor, SparseMask } from '../ts/index';
import { liveStorage } from '../ts/tensor';
import { native } from '../ts/native';
import { entryToTensor, entryValues, readSafetensors, saveSafetensors } from '../ts/io/safetensors';
import { buildViT, loadTimmViT, sweep, ViTConfig } from '../ts/models/vit';
import { DEVICES, describeDevice, relativeError, requireFixtures } from './helpers';

const NOTEBOOK: ViTConfig = {
  img_size: 224, patch_size: 16, embed_dim: 96, depth: 8, num_heads: 8, mlp_ratio: 3, qkv_bias: false, num_classes: 1000, norm_eps: 1e-5,
};

// The fixture sets: the notebook model (../shared/fixtures, the CI's set) and a tiny ViT of
// the same shape of parts (test/fixtures, committed, made by tools/make-test-fixtures.py).
// Each is <name> and <name>_sparse: .json (config), .weights.safetensors, .io.safetensors.
const FIXTURE_SETS = ['vit_notebook', 'vit_tiny'];
const fixtureFiles = (name: string) => [name, `${name}_sparse`].flatMap((n) => [`${n}.json`, `${n}.weights.safetensors`, `${n}.io.safetensors`]);

/** The fixture's ViT configuration: its JSON's config (timm's keywords and norm_eps), timm's 1000 classes unless it says. */
function fixtureConfig(dir: string, name: string): ViTConfig {
  const json = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8')) as { config: ViTConfig };
  return { num_classes: 1000, ...json.config };
}

async function io(dir: string, name: string) {
  const f = await readSafetensors(path.join(dir, `${name}.io.safetensors`));
  return {
    input: f.tensors.get('input')!,
    embed: entryValues(f.tensors.get('embed_out')!),
    block0: entryValues(f.tensors.get('block0_out')!),
    logits: entryValues(f.tensors.get('logits_f64')!),
    mask: f.tensors.get('attn_mask'),
  };
}

const BOUND: Record<FloatDType, number> = { float32: 1e-4, float16: 2e-2, bfloat16: 2e-2 };

for (const [device, set] of DEVICES.flatMap((d) => FIXTURE_SETS.map((s) => [d, s] as const))) {
  describeDevice(device, set === 'vit_notebook' ? 'ViT against timm fixtures' : `ViT against timm fixtures (${set})`, () => {
    let dir = '';
    let config: ViTConfig = NOTEBOOK;
    before(function () {
      dir = requireFixtures(this, fixtureFiles(set));
      config = fixtureConfig(dir, set);
    });
    const maskName = set === 'vit_notebook' ? 'the notebook mask' : 'its mask';
    const dtypes: FloatDType[] = device === 'cpu' ? ['float32'] : ['float32', 'float16', 'bfloat16'];
    for (const mechanism of ['memory_efficient', 'vanilla']) {
      for (const dtype of dtypes) {
        it(`${set} with ${mechanism} in ${dtype}: embed, block 0 and logits within ${BOUND[dtype]} of float64`, async () => {
          const ref = await io(dir, set);
          const model = await loadTimmViT(path.join(dir, `${set}.weights.safetensors`), config, { device, dtype, attention: { mechanism } });
          const images = entryToTensor(ref.input, { device });
          const embed = model.embed(images);
          const block0 = model.blocks[0].forward(embed);
          const logits = model.forward(images);
          const errs = [relativeError(embed.dataSync(), ref.embed), relativeError(block0.dataSync(), ref.block0), relativeError(logits.dataSync(), ref.logits)];
          console.log(`      relative errors: embed ${errs[0].toExponential(2)}, block0 ${errs[1].toExponential(2)}, logits ${errs[2].toExponential(2)}`);
          for (const e of errs) assert.ok(e <= BOUND[dtype], `relative error ${e}`);
          for (const t of [embed, block0, logits, images]) t.dispose();
          model.dispose();
        });
      }
    }
    for (const mechanism of ['memory_efficient', 'vanilla']) {
      it(`${set}_sparse: ${maskName} as a dense mask with ${mechanism}, float32`, async () => {
        const ref = await io(dir, `${set}_sparse`);
        const mask = entryToTensor(ref.mask!, { device, dtype: 'uint8' });
        const model = await loadTimmViT(path.join(dir, `${set}_sparse.weights.safetensors`), config, { device, attention: { mechanism, mask } });
        const images = entryToTensor(ref.input, { device });
        const err = relativeError(model.forward(images).dataSync(), ref.logits);
        console.log(`      relative error of logits ${err.toExponential(2)}`);
        assert.ok(err <= 1e-4);
        model.dispose();
      });
    }
    for (const dtype of dtypes) {
      for (const sparsePath of ['auto', 'csr', 'block'] as const) {
        it(`${set}_sparse with the sparse mechanism (path ${sparsePath}), ${dtype}: logits within ${BOUND[dtype]} of float64`, async () => {
          const ref = await io(dir, `${set}_sparse`);
          const mask = SparseMask.fromDense(entryToTensor(ref.mask!, { dtype: 'uint8' }), undefined, { device });
          const model = await loadTimmViT(path.join(dir, `${set}_sparse.weights.safetensors`), config,
            { device, dtype, attention: { mechanism: 'sparse', mask, sparsePath } });
          const images = entryToTensor(ref.input, { device });
          const err = relativeError(model.forward(images).dataSync(), ref.logits);
          console.log(`      relative error of logits ${err.toExponential(2)}`);
          assert.ok(err <= BOUND[dtype], `relative error ${err}`);
          model.dispose();
          mask.dispose();
        });
      }
    }
  });
}

// What a forward holds at once, by the library's own count of live storage bytes (any
// device): one stream is T = B·N·E elements. A pre-norm block needs its input, its output
// and at most five streams of temporaries (norm, qkv three wide, attention out; or norm,
// fc1 three wide, fc2 out), so the peak must not grow with depth; it was 5 T (vanilla 6 T)
// higher at depth 8 than at depth 2 while every block's output stayed alive to the end of
// the forward (2026-12-01).
for (const device of DEVICES) {
  describeDevice(device, 'ViT forward memory', () => {
    for (const mechanism of ['memory_efficient', 'vanilla']) {
      it(`the peak over weights + input does not grow with depth and stays within the embedding's or one block's needs, ${mechanism}`, () => {
        const B = 2, img = 112, E = 96;
        const N = (img / 16) ** 2 + 1;
        const T = B * N * E * 4;
        const peaks: number[] = [];
        const blockPeaks = [0, 0];
        const nat = native();
        for (const depth of [2, 8]) {
          const model = buildViT({ ...NOTEBOOK, img_size: img, depth, attention: { mechanism } }, { device, seed: 1 });
          const images = randn([B, 3, img, img], { device, seed: 2 });
          model.forward(images).dispose(); // plans and lazily built tensors, outside the count
          // The device backend's Buffers: tensor storages and the addon's own intermediates
          // (a fused block's, which liveStorage() does not see).
          const held = nat.bufferBytes(device, true).bytes;
          const heldStorage = liveStorage().bytes;
          model.forward(images).dispose();
          peaks.push(nat.bufferBytes(device).peak - held);
          assert.equal(liveStorage().bytes, heldStorage, 'the forward left storage behind');
          assert.equal(nat.bufferBytes(device).bytes, held, 'the forward left native buffers behind');
          // One block alone, over its input, as forward() runs it (one native call for
          // memory_efficient) and op by op: at most 5 T more each, and its input left as it was.
          const x = model.embed(images);
          const before = Array.from(x.dataSync());
          const block = model.blocks[0];
          for (const [i, run] of [() => block.forward(x), () => block.forwardOps(x)].entries()) {
            const heldX = nat.bufferBytes(device, true).bytes;
            const y = run();
            blockPeaks[i] = nat.bufferBytes(device).peak - heldX;
            y.dispose();
            assert.deepEqual(Array.from(x.dataSync()), before, 'the block wrote into its input');
          }
          for (const t of [x, images]) t.dispose();
          model.dispose();
        }
        console.log(`      peak over weights + input: depth 2 ${(peaks[0] / T).toFixed(2)} T, depth 8 ${(peaks[1] / T).toFixed(2)} T; one block over its input ${(blockPeaks[0] / T).toFixed(2)} T, op by op ${(blockPeaks[1] / T).toFixed(2)} T (T = ${T} bytes)`);
        assert.equal(peaks[1], peaks[0], `peak at depth 8 (${peaks[1]} bytes) differs from depth 2 (${peaks[0]} bytes)`);
        // A block over its input: norm (T), qkv (3 T) and the attention's output (T) at most,
        // qkv freed before the projection writes the block's output; then norm, fc1 (3 T) and
        // the output. vanilla also holds scores and probabilities, B·H·N² each.
        const scores = mechanism === 'vanilla' ? 2 * B * 8 * N * N * 4 : 0;
        for (const [i, blockPeak] of blockPeaks.entries()) {
          assert.ok(blockPeak <= 5 * T + scores, `one block's peak${i ? ' op by op' : ''} ${(blockPeak / T).toFixed(2)} T over 5 T${scores ? ' + scores' : ''}`);
        }
        // The whole forward: the embedding's gathered patches (B·P·768 elements here, one
        // chunk) and its output, or a block's needs over the two streams around it.
        const P = N - 1;
        const embedPeak = (B * P * 768 + B * P * E) * 4;
        const bound = Math.max(embedPeak, 2 * T + 5 * T + scores);
        assert.ok(peaks[0] <= bound, `peak ${(peaks[0] / T).toFixed(2)} T over the bound ${(bound / T).toFixed(2)} T`);
      });
    }
  });
}

describe('ViT construction and loading', () => {
  it('buildViT makes a model of the configured shape and forward gives [B, classes]', () => {
    const model = buildViT({ img_size: 32, patch_size: 16, embed_dim: 24, depth: 2, num_heads: 2, num_classes: 5 }, { seed: 1 });
    const out = model.forward(tensor(new Float32Array(2 * 3 * 32 * 32).fill(0.5), [2, 3, 32, 32]));
    assert.deepEqual(out.shape, [2, 5]);
    assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
    assert.equal(model.parameters().get('blocks.1.mlp.fc2.weight')?.shape[0], 24);
    model.dispose();
  });

  it('loader errors list missing, unexpected and mis-shaped tensors; a missing file says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-vit-'));
    const small: ViTConfig = { img_size: 32, patch_size: 16, embed_dim: 24, depth: 1, num_heads: 2, num_classes: 5 };
    const model = buildViT(small, { seed: 1 });
    const params = model.parameters();
    const state: Record<string, Tensor> = {};
    for (const [k, v] of params) if (k !== 'head.bias') state[k] = v;
    state['extra.weight'] = tensor([1], [1]);
    state['norm.weight'] = tensor([1, 2], [2]);
    const file = path.join(dir, 'bad.safetensors');
    await saveSafetensors(file, state);
    await assert.rejects(loadTimmViT(file, small), (e: Error) => {
      assert.match(e.message, /1 missing, 1 unexpected, 1 of the wrong shape/);
      assert.match(e.message, /missing \(1\): head.bias/);
      assert.match(e.message, /wrong shape \(1\): norm.weight model \[24\] checkpoint \[2\]/);
      assert.match(e.message, /unexpected \(1\): extra.weight/);
      return true;
    });
    await assert.rejects(loadTimmViT(path.join(dir, 'nope.safetensors'), small), /no such file/);
    fs.writeFileSync(path.join(dir, 'junk.safetensors'), 'not a safetensors file');
    await assert.rejects(loadTimmViT(path.join(dir, 'junk.safetensors'), small), /readSafetensors: .*junk.safetensors/);
    model.dispose();
  });

  it('a mechanism registered from TypeScript is used by the ViT by name', () => {
    let calls = 0;
    registerAttention('counting', { notSupportedReasons: () => [], forward: (i) => { calls++; return attention(i.q, i.k, i.v); } });
    const model = buildViT({ img_size: 32, patch_size: 16, embed_dim: 24, depth: 3, num_heads: 2, num_classes: 5, attention: { mechanism: 'counting' } }, { seed: 1 });
    model.forward(tensor(new Float32Array(3 * 32 * 32).fill(0.1), [1, 3, 32, 32])).dispose();
    assert.equal(calls, 3);
    model.dispose();
  });

  it('sweep yields every combination', () => {
    const all = [...sweep({ embed_dim: [96, 192], depth: [4, 8, 12] }, NOTEBOOK)];
    assert.equal(all.length, 6);
    assert.deepEqual(all.map((c) => `${c.embed_dim}/${c.depth}`), ['96/4', '96/8', '96/12', '192/4', '192/8', '192/12']);
    assert.equal(all[0].num_heads, 8);
  });
});

void (null as unknown as Device);
