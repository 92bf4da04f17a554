// clipGradNorm against PyTorch's clip_grad_norm_ in float64: the total norm of every gradient
// as one vector (p = 1, 2, 3, Infinity), the scaling in place, the gradients it skips, the
// non-finite cases as PyTorch leaves them, many tensors in one call; CUDA against the CPU.
import * as assert from 'node:assert/strict';
import { add, backward, clipGradNorm, Device, DType, FloatDType, randn, Tensor, tensor, zeros } from '../ts/index';
import { DEVICES, assertClose, describeDevice, freshSeed, host } from './helpers';
import { globalNormRef } from './training_reference';

/** A parameter whose .grad holds `values` (given, or drawn from `seed`), by one backward. */
function withGrad(shape: number[], device: Device, dtype: FloatDType = 'float32', values?: ArrayLike<number>, seed = freshSeed()): Tensor {
  const p = zeros(shape, { dtype, device }).requiresGrad_();
  const g = values ? tensor(Array.from(values), shape, { dtype, device }) : randn(shape, { dtype, device, seed });
  backward(add(p, 0), g);
  g.dispose();
  return p;
}

/** The float64 clip: the norm of the gradients' values now and what each becomes. */
function clipRef(params: Tensor[], maxNorm: number, p: number): { norm: number; after: Float64Array[] } {
  const before = params.map((t) => Float64Array.from(host(t.grad!)));
  const norm = globalNormRef(before, p);
  const coef = Math.fround(maxNorm / Math.fround(Math.fround(norm) + 1e-6));
  const c = Number.isNaN(coef) ? coef : Math.min(coef, 1);
  return { norm, after: before.map((a) => a.map((v) => v * c)) };
}

function checkClip(params: Tensor[], maxNorm: number, p: number, tolerance: number, label: string): void {
  const ref = clipRef(params, maxNorm, p);
  const norm = clipGradNorm(params, maxNorm, { normType: p });
  assert.deepEqual(norm.shape, []);
  assert.equal(norm.dtype, 'float32');
  assertClose(host(norm), [ref.norm], tolerance, `${label} norm`);
  params.forEach((t, i) => assertClose(host(t.grad!), ref.after[i], tolerance, `${label} gradient ${i}`));
  norm.dispose();
}

for (const device of DEVICES) {
  describeDevice(device, 'clipGradNorm', () => {
    for (const p of [2, 1, 3, Infinity]) {
      it(`the total ${p}-norm of five gradients and their clipping match float64, and a large maxNorm leaves them exactly`, () => {
        const shapes = [[197, 96], [96], [1], [3, 4, 5], [40000]];
        const params = shapes.map((s) => withGrad(s, device));
        checkClip(params, 0.5, p, 2e-6, `p ${p}`);
        const before = params.map((t) => host(t.grad!));
        const norm = clipGradNorm(params, 1e30, { normType: p });
        params.forEach((t, i) => assert.deepEqual(host(t.grad!), before[i], `unchanged ${i}`));
        for (const t of [norm, ...params]) t.dispose();
      });
    }
    it('float16 and bfloat16 gradients beside float32 ones, in one call', () => {
      const params = (['float32', 'float16', 'bfloat16'] as FloatDType[]).map((d) => withGrad([333], device, d));
      checkClip(params, 1, 2, 4e-3, 'mixed dtypes');
      for (const t of params) t.dispose();
    });
    it('150 gradients (more than one kernel launch and one argument group) and a 1M-element one', () => {
      const params = Array.from({ length: 150 }, (_, i) => withGrad([1 + (i * 37) % 300], device));
      params.push(withGrad([1 << 20], device));
      checkClip(params, 2, 2, 1e-5, '151 gradients');
      for (const t of params) t.dispose();
    });
    it('skips parameters without a gradient, counts a parameter listed twice once, takes a Map and a lone Tensor', () => {
      const a = withGrad([3], device, 'float32', [3, 0, 0]);
      const b = withGrad([2], device, 'float32', [0, 4]);
      const none = randn([5], { device }).requiresGrad_();
      const norm = clipGradNorm([a, none, b, a], 100);
      assert.deepEqual([...host(norm)], [5]);
      const fromMap = clipGradNorm(new Map([['a', a], ['b', b]]), 100);
      assert.deepEqual([...host(fromMap)], [5]);
      const lone = clipGradNorm(a, 1);
      assertClose(host(lone), [3], 1e-7);
      assertClose(host(a.grad!), [1, 0, 0], 1e-6, 'clipped to norm 1');
      const empty = clipGradNorm([none], 1);
      assert.deepEqual([empty.device, ...host(empty)], ['cpu', 0]);
      for (const t of [a, b, none, norm, fromMap, lone, empty]) t.dispose();
    });
    it('a NaN gradient makes the norm NaN and, as PyTorch leaves it, every gradient NaN; errorIfNonfinite throws and scales nothing', () => {
      const a = withGrad([2], device, 'float32', [1, NaN]);
      const b = withGrad([2], device, 'float32', [3, 4]);
      assert.throws(() => clipGradNorm([a, b], 1, { errorIfNonfinite: true }), /^Error: clipGradNorm: the total norm of order 2 of the gradients is NaN/);
      assert.deepEqual([...host(b.grad!)], [3, 4]);
      const norm = clipGradNorm([a, b], 1);
      assert.ok(Number.isNaN(host(norm)[0]));
      assert.ok([...host(a.grad!), ...host(b.grad!)].every(Number.isNaN));
      for (const p of [Infinity, 1]) {
        const c = withGrad([2], device, 'float32', [Infinity, 2]);
        const n = clipGradNorm([c], 1, { normType: p });
        assert.deepEqual([...host(n)], [Infinity], `p ${p}`);
        const g = host(c.grad!);
        assert.ok(Number.isNaN(g[0]) && g[1] === 0, `an infinite norm scales by 0 (inf · 0 = NaN): ${g}`);
        for (const t of [c, n]) t.dispose();
      }
      for (const t of [a, b, norm]) t.dispose();
    });
  });
}

describeDevice('cuda:0', 'clipGradNorm, CUDA against the CPU', () => {
  for (const dtype of ['float32', 'float16', 'bfloat16'] as DType[]) {
    it(`the norms (p = 2, Infinity) and the clipped gradients on CUDA match the CPU's for a ViT's worth of shapes, ${dtype}`, () => {
      const shapes = [[768, 3, 16, 16], [768], [1, 197, 768], [2304, 768], [2304], [768, 768], [3072, 768], [3072], [768, 3072], [10, 768], [10]];
      for (const p of [2, Infinity]) {
        const seed = freshSeed();
        const run = (device: Device) => {
          const params = shapes.map((s, i) => withGrad(s, device, dtype as FloatDType, undefined, seed + i));
          const norm = clipGradNorm(params, 0.1, { normType: p });
          const out = { norm: host(norm), grads: params.map((t) => host(t.grad!)) };
          for (const t of [norm, ...params]) t.dispose();
          return out;
        };
        const cuda = run('cuda:0');
        const cpu = run('cpu');
        assertClose(cuda.norm, cpu.norm, 1e-5, `norm p ${p} seed ${seed}`);
        cuda.grads.forEach((g, i) => assertClose(g, cpu.grads[i], dtype === 'float32' ? 1e-5 : 1e-2, `gradient ${i} p ${p} seed ${seed}`));
      }
    });
  }
});

describe('clipGradNorm argument errors', () => {
  it('refuses a negative or NaN maxNorm, a normType that is not positive, and parameters that are no tensors', () => {
    const a = withGrad([2], 'cpu');
    assert.throws(() => clipGradNorm([a], -1), { name: 'RangeError', message: /^clipGradNorm: maxNorm must be non-negative/ });
    assert.throws(() => clipGradNorm([a], NaN), { name: 'TypeError', message: /^clipGradNorm: expected maxNorm to be a number/ });
    assert.throws(() => clipGradNorm([a], 1, { normType: 0 }), { name: 'RangeError', message: /^clipGradNorm: options.normType must be positive/ });
    assert.throws(() => clipGradNorm([a], 1, { errorIfNonfinite: 'yes' as never }), { name: 'TypeError', message: /^clipGradNorm: expected options.errorIfNonfinite to be a boolean/ });
    assert.throws(() => clipGradNorm(5 as never, 1), { name: 'TypeError', message: /^clipGradNorm: expected parameters to be a Tensor, an iterable of Tensors or a Map of them/ });
    assert.throws(() => clipGradNorm([a, 3 as never], 1), { name: 'TypeError', message: /^clipGradNorm: expected parameters\[1\] to be a Tensor/ });
    a.dispose();
  });
});
