// The MNIST example's short run on the CPU (the CI's): a smaller ViT for at most 45 s of
// training must learn: the loss falls by 30% or more and the test accuracy is far above
// chance (10%). The full run (examples/mnist/README.md) reaches 95% on CUDA.
import * as assert from 'node:assert/strict';
import { trainMnist } from '../../examples/mnist/train';

describe('MNIST example (short CPU run)', () => {
  it('trains a small ViT: the loss falls by 30% or more and test accuracy reaches 60% or more', function () {
    this.timeout(180_000);
    const result = trainMnist({
      device: 'cpu', epochs: 8, batchSize: 64, perClass: 300, maxSeconds: 45, lr: 3e-3,
      model: { embed_dim: 32, depth: 2, num_heads: 2, patch_size: 7 },
    });
    const head = result.losses.slice(0, 5);
    const tail = result.losses.slice(-5);
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const fall = 1 - avg(tail) / avg(head);
    const acc = result.accuracies[result.accuracies.length - 1];
    console.log(`      ${result.losses.length} steps in ${result.seconds.toFixed(1)} s (${result.imagesPerSecond.toFixed(0)} images/s): ` +
      `loss ${avg(head).toFixed(3)} -> ${avg(tail).toFixed(3)} (${(100 * fall).toFixed(0)}% lower), test accuracy ${(100 * acc).toFixed(1)}%`);
    assert.ok(result.losses.every(Number.isFinite), 'a loss is not finite');
    assert.ok(fall >= 0.3, `the loss fell by ${(100 * fall).toFixed(1)}% only`);
    assert.ok(acc >= 0.6, `test accuracy ${acc}`);
  });
});
