// crossEntropy (the fused native loss) and its gradient against PyTorch's definition in
// float64 (test/training_reference.ts) on every device and dtype: label smoothing, ignored
// rows, every reduction, labels of int32 and uint8; the edge cases PyTorch defines (every row
// ignored: NaN for a mean); labels out of range; CUDA against the CPU.
import * as assert from 'node:assert/strict';
import { backward, crossEntropy, CrossEntropyOptions, Device, empty, FLOAT_DTYPES, FloatDType, full, randn, tensor, Tensor } from '../../ts/index';
import { liveGradNodes } from '../../ts/autograd/graph';
import { native } from '../../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host } from '../helpers';
import { Rng } from '../fuzz/rng';
import { crossEntropyBackwardRef, crossEntropyRef } from '../training_reference';

type Labels = 'int32' | 'uint8';

interface Case { shape: number[]; labels?: Labels; ignoreEvery?: number; options?: CrossEntropyOptions }

/** Labels in [0, C), every `ignoreEvery`-th row set to the ignore index (when it fits the dtype). */
function makeLabels(rows: number, C: number, seed: number, c: Case): number[] {
  const rng = new Rng(seed);
  const ignore = c.options?.ignoreIndex ?? -100;
  return Array.from({ length: rows }, (_, r) => (c.ignoreEvery && r % c.ignoreEvery === 1 ? ignore : Math.floor(rng.next() * C)));
}

function labelTensor(values: number[], shape: readonly number[], dtype: Labels, device: Device): Tensor {
  return tensor(dtype === 'int32' ? Int32Array.from(values) : Uint8Array.from(values), shape, { dtype, device });
}

/** Forward and backward on `device`, both checked against float64; returns what ran for a cross-device comparison. */
function check(device: Device, dtype: FloatDType, c: Case, seed = freshSeed()): { loss: Float32Array; grad: Float32Array } {
  const C = c.shape[c.shape.length - 1];
  const lead = c.shape.slice(0, -1);
  const rows = lead.reduce((a, b) => a * b, 1);
  const reduction = c.options?.reduction ?? 'mean';
  const values = makeLabels(rows, C, seed, c);
  const x = tensor(randn(c.shape, { seed }).dataSync().map((v) => 3 * v), c.shape, { dtype, device }).requiresGrad_();
  const labels = labelTensor(values, lead, c.labels ?? 'int32', device);
  const loss = crossEntropy(x, labels, c.options);
  const label = `crossEntropy [${c.shape}] ${JSON.stringify(c.options ?? {})} ${c.labels ?? 'int32'} ${dtype} seed ${seed}`;
  assert.deepEqual(loss.shape, reduction === 'none' ? lead : [], `${label} shape`);
  assert.equal(loss.dtype, dtype);
  const o = { smoothing: c.options?.labelSmoothing, ignoreIndex: c.options?.ignoreIndex };
  const ref = crossEntropyRef(host(x), values, C, o);
  const sum = ref.rows.reduce((a, b) => a + b, 0);
  const expected = reduction === 'none' ? ref.rows : [reduction === 'mean' ? sum / ref.counted : sum];
  const got = host(loss);
  // Every row ignored (labels are random: it happens): the mean of nothing is NaN, as PyTorch's.
  if (reduction === 'mean' && ref.counted === 0) assert.ok(Number.isNaN(got[0]), `${label}: the mean over no rows is ${got[0]}, not NaN`);
  else assertClose(got, expected, TOLERANCE[dtype], `${label} loss`);
  const g = reduction === 'none' ? randn(lead, { dtype, device, seed: seed + 1 }) : full([], 0.75, { dtype, device });
  backward(loss, g);
  const grad = host(x.grad!);
  const gRef = crossEntropyBackwardRef(host(x), values, C, reduction === 'none' ? host(g) : 0.75, reduction, o);
  assertClose(grad, gRef, TOLERANCE[dtype], `${label} gradient`);
  for (const t of [x, labels, loss, g]) t.dispose();
  return { loss: got, grad };
}

const SHAPES = [[1, 1], [3, 10], [197, 1000], [2, 5, 7], [7]];

for (const device of DEVICES) {
  describeDevice(device, 'crossEntropy', () => {
    for (const dtype of FLOAT_DTYPES) {
      it(`the mean loss and its gradient match float64 at ${SHAPES.map((s) => `[${s}]`).join(', ')}, ${dtype}`, () => {
        for (const shape of SHAPES) check(device, dtype, { shape });
      });
      it(`label smoothing 0.1 and 1, ignored rows, every reduction, uint8 labels match float64, ${dtype}`, () => {
        for (const reduction of ['mean', 'sum', 'none'] as const) {
          check(device, dtype, { shape: [33, 12], ignoreEvery: 3, options: { labelSmoothing: 0.1, reduction } });
          check(device, dtype, { shape: [4, 9], labels: 'uint8', ignoreEvery: 2, options: { ignoreIndex: 7, reduction } });
        }
        check(device, dtype, { shape: [5, 6], options: { labelSmoothing: 1 } });
        check(device, dtype, { shape: [6, 3], ignoreEvery: 2, options: { ignoreIndex: 2, labelSmoothing: 0.3 } });
        check(device, dtype, { shape: [6, 3], ignoreEvery: 2, options: { ignoreIndex: 2, labelSmoothing: 0.3 } }, 31); // seed 31: every row ignored
      });
    }
    it('large logits (±3e4) stay finite and exact: the log-sum-exp subtracts the row max', () => {
      const x = tensor([30000, -30000, 29990, 0, 1e-3, 2], [2, 3], { device });
      const loss = crossEntropy(x, tensor(new Int32Array([2, 0]), [2], { dtype: 'int32', device }), { reduction: 'none' });
      const ref = crossEntropyRef([30000, -30000, 29990, 0, 1e-3, 2], [2, 0], 3).rows;
      assertClose(host(loss), ref, 1e-6, 'large logits');
      for (const t of [x, loss]) t.dispose();
    });
    it('every row ignored: the mean is NaN (PyTorch\'s 0/0), the sum 0, and the gradient zeros (never NaN)', () => {
      const labels = full([4], -100, { dtype: 'int32', device });
      for (const [reduction, expected] of [['mean', NaN], ['sum', 0]] as const) {
        const x = randn([4, 5], { device }).requiresGrad_();
        const loss = crossEntropy(x, labels, { reduction });
        assert.deepEqual([...host(loss)], [expected], reduction);
        loss.backward();
        assert.deepEqual([...host(x.grad!)], new Array(20).fill(0), `${reduction} gradient`);
        for (const t of [x, loss]) t.dispose();
      }
      const none = crossEntropy(empty([0, 5], { device }), empty([0], { dtype: 'int32', device }));
      assert.ok(Number.isNaN(host(none)[0]), 'no rows: a mean of nothing');
      for (const t of [labels, none]) t.dispose();
    });
    it('a label outside [0, C) is a RangeError naming it; without validateLabels its row is NaN, nothing else', () => {
      const x = randn([3, 4], { device }).requiresGrad_();
      assert.throws(() => crossEntropy(x, tensor(new Int32Array([0, 4, 1]), [3], { dtype: 'int32', device })),
        { name: 'RangeError', message: /^crossEntropy: labels\[1\] is 4, which is not a class index in \[0, 4\) nor the ignoreIndex -100/ });
      assert.throws(() => crossEntropy(x.reshape([3, 1, 4]), tensor(new Uint8Array([0, 1, 200]), [3, 1], { dtype: 'uint8', device })),
        { name: 'RangeError', message: /^crossEntropy: labels\[2, 0\] is 200/ });
      assert.throws(() => crossEntropy(x, tensor(new Int32Array([-1, 0, 0]), [3], { dtype: 'int32', device })), /labels\[0\] is -1/);
      const labels = tensor(new Int32Array([0, -7, 1]), [3], { dtype: 'int32', device });
      const loss = crossEntropy(x, labels, { reduction: 'none', validateLabels: false });
      const got = host(loss);
      assert.ok(Number.isNaN(got[1]) && Number.isFinite(got[0]) && Number.isFinite(got[2]), `losses ${got}`);
      backward(loss, full([3], 1, { device }));
      const grad = host(x.grad!);
      assert.ok(grad.every((v, i) => (i >= 4 && i < 8) === Number.isNaN(v)), `gradient ${grad}`);
      for (const t of [x, labels, loss]) t.dispose();
    });
    it('the loss records one tape node when the logits require grad, none when they do not', () => {
      const x = randn([8, 1000], { device });
      const labels = full([8], 3, { dtype: 'int32', device });
      const before = liveGradNodes();
      const loss = crossEntropy(x, labels);
      assert.equal(loss.requiresGrad, false);
      assert.equal(liveGradNodes(), before);
      x.requiresGrad_();
      const tracked = crossEntropy(x, labels);
      assert.equal(liveGradNodes(), before + 1);
      tracked.dispose();
      assert.equal(liveGradNodes(), before, 'disposing the loss frees its node');
      for (const t of [x, labels, loss]) t.dispose();
    });
  });
}

describeDevice('cuda:0', 'crossEntropy, CUDA against the CPU', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`loss and gradient on CUDA match the CPU's at [4096, 1000] (smoothing 0.1, ignored rows) and [64, 32000], ${dtype}`, () => {
      for (const c of [{ shape: [4096, 1000], ignoreEvery: 5, options: { labelSmoothing: 0.1 } }, { shape: [64, 32000], options: { reduction: 'none' as const } }]) {
        const seed = freshSeed();
        const cuda = check('cuda:0', dtype, c, seed);
        const cpu = check('cpu', dtype, c, seed);
        assertClose(cuda.loss, cpu.loss, TOLERANCE[dtype], `loss [${c.shape}] ${dtype} seed ${seed}`);
        assertClose(cuda.grad, cpu.grad, TOLERANCE[dtype], `gradient [${c.shape}] ${dtype} seed ${seed}`);
      }
    });
  }
});

describe('crossEntropy argument errors', () => {
  const x = randn([3, 4]);
  const labels = tensor(new Int32Array([0, 1, 2]), [3], { dtype: 'int32' });
  it('refuses float labels, labels of another shape, rank-0 logits, no classes, and bad options', () => {
    assert.throws(() => crossEntropy(x, randn([3])), { name: 'TypeError', message: /^crossEntropy: expected labels to be an int32 or uint8 tensor of class indices/ });
    assert.throws(() => crossEntropy(x, tensor(new Int32Array(4), [4], { dtype: 'int32' })), { name: 'RangeError', message: /^crossEntropy: labels must have the logits' leading shape \[3\]/ });
    assert.throws(() => crossEntropy(randn([]), labels), { name: 'RangeError', message: /^crossEntropy: logits must be \[\.\.\., C\]/ });
    assert.throws(() => crossEntropy(empty([3, 0]), labels), { name: 'RangeError', message: /^crossEntropy: logits must have at least one class/ });
    assert.throws(() => crossEntropy(x, labels, { labelSmoothing: 1.5 }), { name: 'RangeError', message: /^crossEntropy: options.labelSmoothing must be in \[0, 1\]/ });
    assert.throws(() => crossEntropy(x, labels, { ignoreIndex: 0.5 }), { name: 'TypeError', message: /^crossEntropy: expected options.ignoreIndex to be an integer/ });
    assert.throws(() => crossEntropy(x, labels, { reduction: 'avg' as never }), { name: 'TypeError', message: /^crossEntropy: expected options.reduction to be one of 'mean', 'sum', 'none'/ });
    assert.throws(() => crossEntropy(x, labels, { validateLabels: 1 as never }), { name: 'TypeError', message: /^crossEntropy: expected options.validateLabels to be a boolean/ });
  });
  it('the addon refuses stats, lse or dlogits of the wrong size, overlapping outputs, and a bad reduction', () => {
    const out = empty([]);
    const lse = empty([3]);
    const stats = empty([2], { dtype: 'int32' });
    assert.throws(() => native().crossEntropy(out, lse, empty([1], { dtype: 'int32' }), x, labels, 0, -100, 1), /^TypeError: crossEntropy: stats must be a contiguous int32 tensor of 2 elements/);
    assert.throws(() => native().crossEntropy(out, empty([2]), stats, x, labels, 0, -100, 1), /^TypeError: crossEntropy: lse must be a contiguous float32 tensor/);
    assert.throws(() => native().crossEntropy(out, lse, stats, x, labels, 0, -100, 3), /^TypeError: crossEntropy: reduction must be 0 \(none\), 1 \(mean\) or 2 \(sum\)/);
    assert.throws(() => native().crossEntropy(out, lse, stats, x, labels, NaN, -100, 1), /^TypeError: crossEntropy: label smoothing must be in \[0, 1\]/);
    assert.throws(() => native().crossEntropy(x._view([], [], 0), lse, stats, x, labels, 0, -100, 1), /^TypeError: crossEntropy: out, lse and stats must not overlap logits or labels/);
    assert.throws(() => native().crossEntropyBackward(x, out, x, labels, lse, stats, 0, -100, 1), /^TypeError: crossEntropyBackward: dlogits must not overlap an input/);
    assert.throws(() => native().crossEntropyBackward(empty([3, 5]), out, x, labels, lse, stats, 0, -100, 1), /^TypeError: crossEntropyBackward: dlogits must be contiguous, of logits' shape and dtype/);
    for (const t of [out, lse, stats]) t.dispose();
  });
});

describeDevice('cuda:0', 'crossEntropy device mismatch', () => {
  it('refuses labels on another device than the logits', () => {
    const x = randn([2, 3], { device: 'cuda:0' });
    assert.throws(() => crossEntropy(x, tensor(new Int32Array([0, 1]), [2], { dtype: 'int32' })), { name: 'TypeError', message: /^crossEntropy: expected labels to be on cuda:0 like logits/ });
    x.dispose();
  });
});
