// gradcheck (finite differences in float64 around float32 evaluations, CPU) of the training
// kit's differentiable ops: patchEmbed, the losses.
import * as assert from 'node:assert/strict';
import { gradcheck, patchEmbed, randn, Tensor } from '../../ts/index';

let seed = 700;
const leaf = (shape: number[]) => randn(shape, { seed: seed++ }).requiresGrad_();
const constant = (shape: number[]) => randn(shape, { seed: seed++ });

function check(name: string, f: (...t: Tensor[]) => Tensor, inputs: Tensor[]): void {
  it(name, () => {
    try {
      assert.equal(gradcheck(f, inputs), true);
    } finally {
      for (const t of inputs) t.dispose();
    }
  });
}

describe('gradcheck: patchEmbed', () => {
  check('images, weight and bias at B=2, C=3, 4x6, P=2, E=5', (x, w, b) => patchEmbed(x, w, b, 2), [leaf([2, 3, 4, 6]), leaf([5, 3, 2, 2]), leaf([5])]);
  check('P=1 (a 1x1 convolution), no bias', (x, w) => patchEmbed(x, w, null, 1), [leaf([1, 2, 3, 1]), leaf([4, 2, 1, 1])]);
  check('one patch covering the image (P = H = W = 3), E=1', (x, w, b) => patchEmbed(x, w, b, 3), [leaf([2, 1, 3, 3]), leaf([1, 1, 3, 3]), leaf([1])]);
  check('channels-last (strided) images, weight constant', (x, w) => patchEmbed(x.permute([0, 3, 1, 2]), w, null, 2), [leaf([1, 4, 2, 3]), constant([3, 3, 2, 2])]);
  check('only the weight requires grad (the images constant)', (x, w) => patchEmbed(x, w, null, 2), [constant([2, 2, 4, 4]), leaf([3, 2, 2, 2])]);
});
