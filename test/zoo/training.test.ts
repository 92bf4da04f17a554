// Every attention mechanism trains (issue 26's CI check): a small ViT over MNIST digits with
// each built-in mechanism in turn (those that need no mask of their own), a few AdamW steps
// on one batch, the default generator seeded; the loss must fall by a fifth. The pixel-level
// quality table is bench/mechanisms_quality.ts, run on the GPU.
import * as assert from 'node:assert/strict';
import { AdamW, builtInAttentionMechanisms, buildViT, crossEntropy, manualSeed, tidy } from '../../ts/index';
import { batch, loadDigits } from '../../examples/mnist/data';

const SKIP = new Set(['sparse', 'block_sparse']);
const STEPS = 16;

describe('every attention mechanism trains (MNIST, CPU)', () => {
  const names = builtInAttentionMechanisms().filter((m) => !SKIP.has(m));
  const { train } = loadDigits(5);
  for (const mechanism of names) {
    it(`${mechanism}: the loss falls by a fifth in ${STEPS} steps on one batch`, function () {
      this.timeout(120000);
      manualSeed(7); // the draws of 'random' in training, whatever ran before
      const model = buildViT({
        img_size: 28, patch_size: 7, in_chans: 1, num_classes: 10, embed_dim: 32, depth: 2, num_heads: 2, mlp_ratio: 2,
        attention: { mechanism },
      }, { seed: 5 });
      model.train();
      const opt = new AdamW(model.namedParameters(), { lr: 3e-3 });
      const b = batch(train, Int32Array.from({ length: 32 }, (_, i) => i), 'cpu');
      const losses: number[] = [];
      for (let s = 0; s < STEPS; s++) {
        losses.push(tidy(() => {
          const l = crossEntropy(model.forward(b.images), b.labels);
          l.backward();
          return l.dataSync()[0];
        }));
        opt.step();
        opt.zeroGrad();
      }
      b.images.dispose();
      b.labels.dispose();
      model.dispose();
      opt.dispose();
      assert.ok(losses.every(Number.isFinite), `finite losses: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
      assert.ok(losses[STEPS - 1] < 0.8 * losses[0], `${mechanism}: loss ${losses[0].toFixed(3)} -> ${losses[STEPS - 1].toFixed(3)}`);
    });
  }
});
