// gradcheck (finite differences in float64 around float32 evaluations, CPU) of the training
// kit's differentiable ops: patchEmbed, crossEntropy (smoothing, ignored rows, every
// reduction), mseLoss.
import * as assert from 'node:assert/strict';
import { crossEntropy, mseLoss, patchEmbed, randn, tensor } from '../../ts/index';
import { itGradchecks } from '../helpers';

let seed = 700;
const leaf = (shape: number[]) => randn(shape, { seed: seed++ }).requiresGrad_();
const constant = (shape: number[]) => randn(shape, { seed: seed++ });

const check = itGradchecks;

describe('gradcheck: patchEmbed', () => {
  check('images, weight and bias at B=2, C=3, 4x6, P=2, E=5', (x, w, b) => patchEmbed(x, w, b, 2), [leaf([2, 3, 4, 6]), leaf([5, 3, 2, 2]), leaf([5])]);
  check('P=1 (a 1x1 convolution), no bias', (x, w) => patchEmbed(x, w, null, 1), [leaf([1, 2, 3, 1]), leaf([4, 2, 1, 1])]);
  check('one patch covering the image (P = H = W = 3), E=1', (x, w, b) => patchEmbed(x, w, b, 3), [leaf([2, 1, 3, 3]), leaf([1, 1, 3, 3]), leaf([1])]);
  check('channels-last (strided) images, weight constant', (x, w) => patchEmbed(x.permute([0, 3, 1, 2]), w, null, 2), [leaf([1, 4, 2, 3]), constant([3, 3, 2, 2])]);
  check('only the weight requires grad (the images constant)', (x, w) => patchEmbed(x, w, null, 2), [constant([2, 2, 4, 4]), leaf([3, 2, 2, 2])]);
});

const labels = (values: number[], shape = [values.length]) => tensor(Int32Array.from(values), shape, { dtype: 'int32' });

describe('gradcheck: crossEntropy', () => {
  const y = labels([0, 4, 2, 1, 3, 3, 0]);
  check('mean over 7 rows of 5 classes', (x) => crossEntropy(x, y), [leaf([7, 5])]);
  check('label smoothing 0.2, two rows ignored (the mean over the other five)', (x) => crossEntropy(x, labels([0, -100, 2, 1, -100, 3, 0]), { labelSmoothing: 0.2 }), [leaf([7, 5])]);
  check('reduction sum, ignoreIndex 3', (x) => crossEntropy(x, y, { reduction: 'sum', ignoreIndex: 3 }), [leaf([7, 5])]);
  check('reduction none on [2, 3, 4] logits, smoothing 1', (x) => crossEntropy(x, labels([0, 1, 2, 3, 2, 1], [2, 3]), { reduction: 'none', labelSmoothing: 1 }), [leaf([2, 3, 4])]);
  check('one class, one row', (x) => crossEntropy(x, labels([0])), [leaf([1, 1])]);
  check('logits from a recorded op (a transposed view)', (x) => crossEntropy(x.transpose(), labels([1, 0, 2])), [leaf([4, 3])]);
  it('every row ignored: the mean is NaN as in PyTorch, and the gradient is zeros', () => {
    const x = leaf([3, 4]);
    const loss = crossEntropy(x, labels([-100, -100, -100]));
    assert.ok(Number.isNaN(loss.dataSync()[0]));
    loss.backward();
    assert.deepEqual([...x.grad!.dataSync()], new Array(12).fill(0));
    for (const t of [x, loss]) t.dispose();
  });
});

describe('gradcheck: mseLoss', () => {
  check('mean of [197, 3] against a target that requires grad', (a, b) => mseLoss(a, b), [leaf([197, 3]), leaf([197, 3])]);
  check('sum, target broadcast from [3]', (a, b) => mseLoss(a, b, { reduction: 'sum' }), [leaf([4, 3]), leaf([3])]);
  check('none, target constant', (a, b) => mseLoss(a, b, { reduction: 'none' }), [leaf([2, 5]), constant([2, 5])]);
});
