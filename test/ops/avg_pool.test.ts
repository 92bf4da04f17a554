// avgPool2d (channels last) and its gradient against float64 (test/zoo/mixing_reference.ts) over
// awkward sizes on every device and dtype, finite differences on the CPU, CUDA against the CPU,
// and the errors that name the op.
import * as assert from 'node:assert/strict';
import { avgPool2d, AvgPool2dOptions, backward, Device, empty, FLOAT_DTYPES, FloatDType, full, randn } from '../../ts/index';
import { native } from '../../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, itGradchecks } from '../helpers';
import { avgPool2dBackwardRef, avgPool2dRef, WindowRef } from '../zoo/mixing_reference';

interface Case { label: string; shape: [number, number, number, number]; options: AvgPool2dOptions; window: WindowRef; countIncludePad: boolean; strided?: boolean }

const win = (kernel: [number, number], padding: [number, number], stride: [number, number] = [1, 1]): WindowRef => ({ kernel, padding, dilation: [1, 1], stride });

const CASES: Case[] = [
  { label: "PoolFormer's 3x3, padding 1, 7x5, C=12", shape: [2, 7, 5, 12], options: { kernel: 3, padding: 1 }, window: win([3, 3], [1, 1]), countIncludePad: false },
  { label: 'a 1x1 image, 3x3 padding 1', shape: [2, 1, 1, 5], options: { kernel: 3, padding: 1 }, window: win([3, 3], [1, 1]), countIncludePad: false },
  { label: 'a 5x5 window on a 4x4 grid, padding 2', shape: [1, 4, 4, 3], options: { kernel: 5, padding: 2 }, window: win([5, 5], [2, 2]), countIncludePad: false },
  { label: 'kernel [2, 3], stride [2, 1], padding [1, 1], countIncludePad, 9x6', shape: [2, 9, 6, 4], options: { kernel: [2, 3], stride: [2, 1], padding: [1, 1], countIncludePad: true }, window: win([2, 3], [1, 1], [2, 1]), countIncludePad: true },
  { label: 'a strided channels-last view, 14x14, C=7, 3x3 padding 1', shape: [2, 14, 14, 7], options: { kernel: 3, padding: 1 }, window: win([3, 3], [1, 1]), countIncludePad: false, strided: true },
];

function run(device: Device, dtype: FloatDType, c: Case, seed: number): { y: Float32Array; dx: Float32Array; x: Float32Array; g: Float32Array } {
  const [B, H, W, C] = c.shape;
  const base = (c.strided ? randn([B, C, H, W], { dtype, device, seed }) : randn(c.shape, { dtype, device, seed })).requiresGrad_();
  const x = c.strided ? base.permute([0, 2, 3, 1]) : base;
  const y = avgPool2d(x, c.options);
  const g = randn(y.shape, { dtype, device, seed: seed + 1 });
  backward(y, g);
  const dxView = c.strided ? base.grad!.permute([0, 2, 3, 1]) : base.grad!;
  const r = { y: host(y), dx: host(dxView), x: host(x), g: host(g) };
  for (const t of [base, x, y, g, dxView]) t.dispose();
  return r;
}

describe('avg pool reference', () => {
  it('the gradient reference is the adjoint of the forward reference: <pool(x), g> = <x, dx>', () => {
    const shape = [2, 5, 4, 3];
    const w = win([3, 2], [1, 1], [2, 1]);
    const x = Float64Array.from({ length: 120 }, (_, i) => Math.sin(i * 1.7));
    for (const include of [false, true]) {
      const y = avgPool2dRef(x, shape, w, include);
      const g = Float64Array.from(y, (_, i) => Math.cos(i * 0.4));
      const dx = avgPool2dBackwardRef(g, shape, w, include);
      const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i], 0);
      assert.ok(Math.abs(dot(y, g) - dot(x, dx)) < 1e-10);
    }
  });
});

for (const device of DEVICES) {
  describeDevice(device, 'avgPool2d', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        it(`matches float64 forward and backward: ${c.label}, ${dtype}`, () => {
          const seed = freshSeed();
          const r = run(device, dtype, c, seed);
          const label = `${c.label} ${dtype} seed ${seed}`;
          assertClose(r.y, avgPool2dRef(r.x, c.shape, c.window, c.countIncludePad), TOLERANCE[dtype], `${label} forward`);
          assertClose(r.dx, avgPool2dBackwardRef(r.g, c.shape, c.window, c.countIncludePad), TOLERANCE[dtype], `${label} dx`);
        });
      }
    }
    it('averages exactly: a constant image stays constant with countIncludePad false, the border shrinks with true', () => {
      const x = full([1, 3, 3, 1], 1, { device });
      const ones = avgPool2d(x, { kernel: 3, padding: 1 });
      assert.deepEqual([...host(ones)], new Array(9).fill(1));
      const withPad = avgPool2d(x, { kernel: 3, padding: 1, countIncludePad: true });
      assert.deepEqual([...host(withPad)].map((v) => Math.round(v * 9)), [4, 6, 4, 6, 9, 6, 4, 6, 4]);
      for (const t of [x, ones, withPad]) t.dispose();
    });
  });
}

describe('avgPool2d gradient by finite differences (CPU, float32)', () => {
  itGradchecks('3x3 padding 1 on 4x3, C=2', (x) => avgPool2d(x, { kernel: 3, padding: 1 }), [randn([2, 4, 3, 2], { seed: 1 }).requiresGrad_()]);
  itGradchecks('kernel [2, 3], stride 2, padding 1, countIncludePad, 5x4, C=3', (x) => avgPool2d(x, { kernel: [2, 3], stride: 2, padding: 1, countIncludePad: true }),
    [randn([1, 5, 4, 3], { seed: 2 }).requiresGrad_()]);
});

describeDevice('cuda:0', 'avgPool2d, CUDA against the CPU', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`the forward and the gradient on CUDA match the CPU's, B=8, 14x14, C=96, pool 3 and pool 5 stride 2 with the pad counted, ${dtype}`, () => {
      const seed = freshSeed();
      for (const c of [
        { label: 'pool 3', shape: [8, 14, 14, 96], options: { kernel: 3, padding: 1 } },
        { label: 'pool 5 stride 2', shape: [8, 14, 14, 96], options: { kernel: 5, padding: 2, stride: 2, countIncludePad: true } },
      ] as Case[]) {
        const cuda = run('cuda:0', dtype, c, seed);
        const cpu = run('cpu', dtype, c, seed);
        assertClose(cuda.y, cpu.y, TOLERANCE[dtype], `${c.label} forward ${dtype} seed ${seed}`);
        assertClose(cuda.dx, cpu.dx, TOLERANCE[dtype], `${c.label} dx ${dtype} seed ${seed}`);
      }
    });
  }
});

describe('avgPool2d argument errors', () => {
  const x = randn([1, 5, 5, 3]);
  after(() => x.dispose());
  it('bad inputs and options throw naming the op and the problem', () => {
    assert.throws(() => avgPool2d(randn([5, 5, 3]), { kernel: 3 }), /^RangeError: avgPool2d: x must be \[B, H, W, C\] \(channels last\)/);
    assert.throws(() => avgPool2d(x, undefined as never), /^TypeError: avgPool2d: expected options to be an object with a kernel size/);
    assert.throws(() => avgPool2d(x, {} as never), /^TypeError: avgPool2d: expected options.kernel to be an integer or \[height, width\]/);
    assert.throws(() => avgPool2d(x, { kernel: 0 }), /^RangeError: avgPool2d: options.kernel must be at least 1/);
    assert.throws(() => avgPool2d(x, { kernel: 3, padding: 2 }), /^RangeError: avgPool2d: options.padding \[2, 2\] must be at most half the kernel \[3, 3\]/);
    assert.throws(() => avgPool2d(x, { kernel: 3, countIncludePad: 1 as never }), /^TypeError: avgPool2d: expected options.countIncludePad to be a boolean/);
    assert.throws(() => avgPool2d(x, { kernel: 7 }), /the height 5 padded by 0 on each side is smaller than the dilated kernel \(7\)/);
    assert.throws(() => avgPool2d(empty([1, 0, 4, 2]), { kernel: 1 }), /^RangeError: avgPool2d: x must have at least one row and one column/);
    const gone = randn([1, 2, 2, 1]);
    gone.dispose();
    assert.throws(() => avgPool2d(gone, { kernel: 1 }), /^TypeError: avgPool2d: x has been disposed/);
  });
  it('the addon refuses a wrong dy, a padding over half the kernel and an empty image, naming the op', () => {
    assert.throws(() => native().avgPool2dBackward(empty([1, 5, 5, 3]), empty([1, 5, 4, 3]), 3, 3, 1, 1, 1, 1, false),
      /^TypeError: avgPool2dBackward: dy must be contiguous \[B, 5, 5, C\] of dx's dtype/);
    assert.throws(() => native().avgPool2d(empty([1, 7, 7, 3]), x, 3, 3, 1, 1, 2, 2, false), /^TypeError: avgPool2d: the padding must be at most half the kernel size/);
    assert.throws(() => native().avgPool2d(empty([1, 1, 1, 3]), empty([1, 0, 0, 3]), 2, 2, 1, 1, 1, 1, false), /^TypeError: avgPool2d: x must have at least one row and column/);
  });
});
