// depthwiseConv2d (channels last) and its gradients against float64 (test/zoo/mixing_reference.ts)
// over awkward sizes on every device and dtype, finite differences on the CPU, CUDA against the
// CPU, and the errors that name the op.
import * as assert from 'node:assert/strict';
import { backward, depthwiseConv2d, DepthwiseConv2dOptions, Device, empty, FLOAT_DTYPES, FloatDType, randn, Tensor, tensor } from '../../ts/index';
import { native } from '../../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, itGradchecks } from '../helpers';
import { depthwiseConv2dBackwardRef, depthwiseConv2dRef, outputSize, WindowRef } from '../zoo/mixing_reference';

interface Case {
  label: string;
  shape: [number, number, number, number]; // x [B, H, W, C]
  kernel: [number, number];
  options: DepthwiseConv2dOptions;
  window: WindowRef; // the options resolved, for the reference
  bias?: boolean;
  strided?: boolean; // x a channels-last view of [B, C, H, W] storage
}

const win = (kernel: [number, number], padding: [number, number] = [0, 0], dilation: [number, number] = [1, 1], stride: [number, number] = [1, 1]): WindowRef =>
  ({ kernel, padding, dilation, stride });

const CASES: Case[] = [
  { label: 'B=2, 7x5, C=12, 3x3, padding 1', shape: [2, 7, 5, 12], kernel: [3, 3], options: { padding: 1 }, window: win([3, 3], [1, 1]), bias: true },
  { label: "VAN's dilated 7x7 (dilation 3, 'same') on a 14x14 grid, C=12", shape: [1, 14, 14, 12], kernel: [7, 7], options: { padding: 'same', dilation: 3 }, window: win([7, 7], [9, 9], [3, 3]), bias: true },
  { label: "a 1x1 image, 5x5 'same'", shape: [2, 1, 1, 3], kernel: [5, 5], options: { padding: 'same' }, window: win([5, 5], [2, 2]), bias: true },
  { label: 'kernel [3, 2], padding [1, 0], dilation [2, 1], stride [2, 3], 9x7, C=5, no bias', shape: [2, 9, 7, 5], kernel: [3, 2], options: { padding: [1, 0], dilation: [2, 1], stride: [2, 3] }, window: win([3, 2], [1, 0], [2, 1], [2, 3]) },
  { label: '197x1, C=1, kernel [3, 1], padding [1, 0]', shape: [1, 197, 1, 1], kernel: [3, 1], options: { padding: [1, 0] }, window: win([3, 1], [1, 0]), bias: true },
  { label: 'a channels-last view of [B, C, H, W] storage, 6x8, C=4, 5x5 padding 2', shape: [2, 6, 8, 4], kernel: [5, 5], options: { padding: 2 }, window: win([5, 5], [2, 2]), bias: true, strided: true },
];

interface Result { y: Float32Array; dx: Float32Array; dweight: Float32Array; dbias: Float32Array | null; x: Float32Array; weight: Float32Array; bias: Float32Array | null; g: Float32Array }

/** The forward and its gradients on `device` for inputs drawn from `seed` (the same values on every device). */
function run(device: Device, dtype: FloatDType, c: Case, seed: number): Result {
  const [B, H, W, C] = c.shape;
  const K = c.kernel[0] * c.kernel[1];
  const base = (c.strided ? randn([B, C, H, W], { dtype, device, seed }) : randn(c.shape, { dtype, device, seed })).requiresGrad_();
  const x = c.strided ? base.permute([0, 2, 3, 1]) : base;
  const weight = tensor(randn([C, 1, ...c.kernel], { seed: seed + 1 }).dataSync().map((v) => v / Math.sqrt(K)), [C, 1, ...c.kernel], { dtype, device }).requiresGrad_();
  const bias = c.bias ? randn([C], { dtype, device, seed: seed + 2 }).requiresGrad_() : null;
  const y = depthwiseConv2d(x, weight, bias, c.options);
  const g = randn(y.shape, { dtype, device, seed: seed + 3 });
  backward(y, g);
  const dxView = c.strided ? base.grad!.permute([0, 2, 3, 1]) : base.grad!;
  const r = {
    y: host(y), dx: host(dxView), dweight: host(weight.grad!), dbias: bias ? host(bias.grad!) : null,
    x: host(x), weight: host(weight), bias: bias ? host(bias) : null, g: host(g),
  };
  for (const t of [base, x, weight, bias, y, g, dxView]) t?.dispose();
  return r;
}

function check(device: Device, dtype: FloatDType, c: Case): void {
  const seed = freshSeed();
  const r = run(device, dtype, c, seed);
  const label = `${c.label} ${dtype} seed ${seed}`;
  const [Ho, Wo] = outputSize(c.shape[1], c.shape[2], c.window);
  assert.equal(r.y.length, c.shape[0] * Ho * Wo * c.shape[3], `${label}: output size`);
  assertClose(r.y, depthwiseConv2dRef(r.x, c.shape, r.weight, r.bias, c.window), TOLERANCE[dtype], `${label} forward`);
  const ref = depthwiseConv2dBackwardRef(r.g, r.x, c.shape, r.weight, c.window);
  assertClose(r.dx, ref.dx, TOLERANCE[dtype], `${label} dx`);
  assertClose(r.dweight, ref.dweight, TOLERANCE[dtype], `${label} dweight`);
  if (r.dbias) assertClose(r.dbias, ref.dbias, TOLERANCE[dtype], `${label} dbias`);
}

describe('depthwise conv reference', () => {
  it('the gradient references are the adjoint of the forward reference: <conv(x), g> = <x, dx> = <w, dw>', () => {
    const shape = [2, 5, 4, 3];
    const w = win([3, 2], [1, 1], [2, 1], [2, 1]);
    const x = Float64Array.from({ length: 120 }, (_, i) => Math.sin(i * 1.7));
    const weight = Float64Array.from({ length: 18 }, (_, i) => Math.cos(i * 0.9));
    const y = depthwiseConv2dRef(x, shape, weight, null, w);
    const g = Float64Array.from(y, (_, i) => Math.sin(i * 0.3 + 1));
    const { dx, dweight } = depthwiseConv2dBackwardRef(g, x, shape, weight, w);
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i], 0);
    assert.ok(Math.abs(dot(y, g) - dot(x, dx)) < 1e-10 && Math.abs(dot(y, g) - dot(weight, dweight)) < 1e-10);
  });
});

for (const device of DEVICES) {
  describeDevice(device, 'depthwiseConv2d', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        it(`matches float64 forward and backward: ${c.label}, ${dtype}`, () => check(device, dtype, c));
      }
    }
    it('an empty batch gives an empty output and zero weight and bias gradients', () => {
      const x = empty([0, 4, 4, 3], { device }).requiresGrad_();
      const weight = randn([3, 1, 3, 3], { device }).requiresGrad_();
      const bias = randn([3], { device }).requiresGrad_();
      const y = depthwiseConv2d(x, weight, bias, { padding: 1 });
      assert.deepEqual(y.shape, [0, 4, 4, 3]);
      backward(y, empty([0, 4, 4, 3], { device }));
      assert.deepEqual([...host(weight.grad!)], new Array(27).fill(0));
      assert.deepEqual([...host(bias.grad!)], [0, 0, 0]);
      for (const t of [x, weight, bias, y]) t.dispose();
    });
  });
}

describe('depthwiseConv2d gradients by finite differences (CPU, float32)', () => {
  itGradchecks('x, weight and bias, 3x3 padding 1 on 4x3, C=2', (x, w, b) => depthwiseConv2d(x, w, b, { padding: 1 }),
    [randn([1, 4, 3, 2], { seed: 1 }).requiresGrad_(), randn([2, 1, 3, 3], { seed: 2 }).requiresGrad_(), randn([2], { seed: 3 }).requiresGrad_()]);
  itGradchecks('x and weight, kernel [2, 3], dilation [2, 1], stride 2, padding 1 on 5x4, C=3', (x, w) => depthwiseConv2d(x, w, null, { padding: 1, dilation: [2, 1], stride: 2 }),
    [randn([2, 5, 4, 3], { seed: 4 }).requiresGrad_(), randn([3, 1, 2, 3], { seed: 5 }).requiresGrad_()]);
});

describeDevice('cuda:0', 'depthwiseConv2d, CUDA against the CPU', () => {
  const van: Case = { label: "VAN's 5x5 then 7x7 dilation 3 shapes, B=8, 14x14, C=72", shape: [8, 14, 14, 72], kernel: [7, 7], options: { padding: 'same', dilation: 3 }, window: win([7, 7], [9, 9], [3, 3]), bias: true };
  const strided: Case = { label: 'stride 2, 31x17, C=40', shape: [3, 31, 17, 40], kernel: [3, 3], options: { padding: 1, stride: 2 }, window: win([3, 3], [1, 1], [1, 1], [2, 2]), bias: true };
  for (const dtype of FLOAT_DTYPES) {
    for (const c of [van, strided]) {
      it(`the forward and the gradients on CUDA match the CPU's: ${c.label}, ${dtype}`, () => {
        const seed = freshSeed();
        const cuda = run('cuda:0', dtype, c, seed);
        const cpu = run('cpu', dtype, c, seed);
        for (const k of ['y', 'dx', 'dweight', 'dbias'] as const) assertClose(cuda[k]!, cpu[k]!, TOLERANCE[dtype], `${k} ${dtype} seed ${seed}`);
      });
    }
  }
  it('inputs on two devices are refused naming the op', () => {
    const x = randn([1, 4, 4, 2], { device: 'cuda:0' });
    const w = randn([2, 1, 3, 3]);
    assert.throws(() => depthwiseConv2d(x, w), /^TypeError: depthwiseConv2d: expected weight to be on cuda:0 like x/);
    for (const t of [x, w]) t.dispose();
  });
});

describe('depthwiseConv2d argument errors', () => {
  const x = randn([1, 5, 5, 3]);
  const w = randn([3, 1, 3, 3]);
  after(() => { x.dispose(); w.dispose(); });
  it('bad shapes and dtypes throw naming the op and the problem', () => {
    assert.throws(() => depthwiseConv2d(randn([5, 5, 3]), w), /^RangeError: depthwiseConv2d: x must be \[B, H, W, C\] \(channels last\), got \[5, 5, 3\]/);
    assert.throws(() => depthwiseConv2d(x, randn([3, 3, 3])), /^RangeError: depthwiseConv2d: weight must be \[3, 1, kh, kw\]/);
    assert.throws(() => depthwiseConv2d(x, randn([4, 1, 3, 3])), /weight must be \[3, 1, kh, kw\] \(kh, kw >= 1\) for x \[1, 5, 5, 3\]/);
    assert.throws(() => depthwiseConv2d(x, w.cast('float16')), /^TypeError: depthwiseConv2d: expected weight to be a float32 tensor like x/);
    assert.throws(() => depthwiseConv2d(tensor(new Int32Array(75), [1, 5, 5, 3], { dtype: 'int32' }), w), /^TypeError: depthwiseConv2d: expected x to be a float32, float16 or bfloat16 tensor/);
    assert.throws(() => depthwiseConv2d(x, w, randn([4])), /^RangeError: depthwiseConv2d: bias must be \[3\]/);
    const gone = randn([1, 5, 5, 3]);
    gone.dispose();
    assert.throws(() => depthwiseConv2d(gone, w), /^TypeError: depthwiseConv2d: x has been disposed/);
  });
  it('bad options throw naming the option', () => {
    assert.throws(() => depthwiseConv2d(x, w, null, { padding: -1 }), /^RangeError: depthwiseConv2d: options.padding must be at least 0/);
    assert.throws(() => depthwiseConv2d(x, w, null, { stride: 0 }), /options.stride must be at least 1/);
    assert.throws(() => depthwiseConv2d(x, w, null, { dilation: [1, 1.5] as never }), /expected options.dilation\[1\] to be an integer/);
    assert.throws(() => depthwiseConv2d(x, w, null, { padding: [1, 2, 3] as never }), /expected options.padding to be an integer or \[height, width\]/);
    assert.throws(() => depthwiseConv2d(x, randn([3, 1, 2, 2]), null, { padding: 'same' }), /options.padding 'same' needs stride 1 and dilation · \(kernel − 1\) even/);
    assert.throws(() => depthwiseConv2d(x, w, null, { dilation: 3 }), /the height 5 padded by 0 on each side is smaller than the dilated kernel \(7\)/);
    assert.throws(() => depthwiseConv2d(x, w, null, 'same' as never), /expected options to be an object/);
  });
  it('options.out is refused while an input requires grad', () => {
    const wg = randn([3, 1, 3, 3]).requiresGrad_();
    const out = empty([1, 3, 3, 3]);
    assert.throws(() => depthwiseConv2d(x, wg, null, { out }), /^TypeError: depthwiseConv2d: options.out cannot be used while an input requires grad/);
    for (const t of [wg, out]) t.dispose();
  });
  it('the addon refuses a wrong output, a wrong dweight and overlap, naming the op', () => {
    assert.throws(() => native().depthwiseConv2d(empty([1, 5, 5, 3]), x, w, null, 0, 0, 1, 1, 1, 1), /^TypeError: depthwiseConv2d: out must be contiguous \[B, 3, 3, C\]/);
    assert.throws(() => native().depthwiseConv2d(empty([1, 3, 3, 3]), x, w, null, -1, 0, 1, 1, 1, 1), /^TypeError: depthwiseConv2d: the padding must be a non-negative integer/);
    assert.throws(() => native().depthwiseConv2dBackward(null, empty([3, 1, 2, 3]), empty([1, 3, 3, 3]), x, w, 0, 0, 1, 1, 1, 1),
      /^TypeError: depthwiseConv2dBackward: dweight must be contiguous, of weight's shape and dtype/);
    const shared = empty([200]);
    const a = shared._view([1, 5, 5, 3], [75, 15, 3, 1], 0);
    const b = shared._view([1, 5, 5, 3], [75, 15, 3, 1], 50);
    assert.throws(() => native().depthwiseConv2d(a, b, w, null, 1, 1, 1, 1, 1, 1), /^TypeError: depthwiseConv2d: an output must not overlap an input/);
    for (const t of [shared, a, b] as Tensor[]) t.dispose();
  });
});
