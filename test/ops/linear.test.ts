import * as assert from 'node:assert/strict';
import {
  ActivationSpec, Device, empty, FLOAT_DTYPES, FloatDType, linear, matmul, randn, slice, Tensor, tensor, tidy,
} from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, relativeError, poisoned, host, ACTIVATION_VARIANTS, ActivationVariant } from '../helpers';
import { linearRef, matmulRef } from '../reference';
import { native } from '../../ts/native';

/** randn · scale in `dtype` (rounded on the device; the reference reads the rounded values back). */
function input(shape: readonly number[], dtype: FloatDType, device: Device, seed: number, scale = 1): Tensor {
  if (scale === 1) return randn(shape, { dtype, device, seed });
  return tensor(randn(shape, { seed }).dataSync().map((v) => v * scale), shape, { dtype, device });
}

// [x shape, out features]. The CPU GEMM is plain loops: K up to 768, M up to 394 there.
const LINEAR_CPU: [number[], number][] = [
  [[197, 96], 97], [[197, 768], 96], [[394, 96], 384], [[2, 197, 12], 768], [[197, 1], 12], [[197, 97], 1],
  [[1, 768], 768], [[96], 12], [[0, 96], 12],
];
// On a GPU also long reductions in float16/bfloat16 (K = 4099, 2048) against the same bounds.
const LINEAR_CUDA: [number[], number][] = [...LINEAR_CPU, [[197, 4099], 97], [[256, 2048], 512], [[4, 197, 768], 768]];

const ACTIVATIONS = ACTIVATION_VARIANTS;

interface LinearCase { act?: ActivationVariant; bias?: boolean; allowTF32?: boolean; tolerance?: number }

/** linear(x, weight, bias) on x [..., K] → [..., N], weight ~ N(0, 1/K) so outputs are O(1). Returns the output values. */
function checkLinear(device: Device, dtype: FloatDType, xShape: readonly number[], N: number, c: LinearCase = {}): Float32Array {
  const seed = freshSeed();
  const K = xShape[xShape.length - 1];
  const M = xShape.slice(0, -1).reduce((a, b) => a * b, 1);
  const x = input(xShape, dtype, device, seed);
  const w = input([N, K], dtype, device, seed + 1, 1 / Math.sqrt(Math.max(K, 1)));
  const bias = c.bias === false ? null : input([N], dtype, device, seed + 2, 0.5);
  const outShape = [...xShape.slice(0, -1), N];
  const out = poisoned(outShape, dtype, device);
  const result = linear(x, w, bias, { activation: c.act?.spec, allowTF32: c.allowTF32, out });
  assert.equal(result, out);
  const ref = linearRef(host(x), M, K, host(w), N, bias && host(bias), c.act?.name ?? 'none', c.act?.params);
  const got = host(out);
  assertClose(got, ref, c.tolerance ?? TOLERANCE[dtype], `linear [${xShape}] -> ${N} ${c.act?.label ?? ''} ${dtype} seed ${seed}`);
  for (const t of [x, w, bias, out]) t?.dispose();
  return got;
}

/** selfDot: b holds a's values (a · a), for a single output that random signs could cancel. */
interface MatmulCase { a: number[]; b: number[]; transA?: boolean; transB?: boolean; selfDot?: boolean }

function checkMatmul(device: Device, dtype: FloatDType, m: MatmulCase): void {
  const seed = freshSeed();
  const a = randn(m.a, { dtype, device, seed });
  const b = m.selfDot ? a.reshape(m.b).clone() : randn(m.b, { dtype, device, seed: seed + 1 });
  const ref = matmulRef(host(a), m.a, host(b), m.b, m.transA, m.transB);
  const out = poisoned(ref.shape, dtype, device);
  assert.equal(matmul(a, b, { transposeA: m.transA, transposeB: m.transB, out }), out);
  assertClose(host(out), ref.out, TOLERANCE[dtype], `matmul [${m.a}]${m.transA ? 'ᵀ' : ''} @ [${m.b}]${m.transB ? 'ᵀ' : ''} ${dtype} seed ${seed}`);
  for (const t of [a, b, out]) t.dispose();
}

const MATMULS: [string, MatmulCase][] = [
  ['2-D [197, 96] @ [96, 97]', { a: [197, 96], b: [96, 97] }],
  ['batched [3, 197, 12] @ [3, 12, 197]', { a: [3, 197, 12], b: [3, 12, 197] }],
  ['one matrix b broadcast: [2, 3, 33, 12] @ [12, 45]', { a: [2, 3, 33, 12], b: [12, 45] }],
  ['one matrix a broadcast: [33, 12] @ [4, 12, 20]', { a: [33, 12], b: [4, 12, 20] }],
  ['size-1 batch dims broadcast: [1, 1, 33, 12] @ [2, 3, 12, 45]', { a: [1, 1, 33, 12], b: [2, 3, 12, 45] }],
  ['both broadcast (copies): [2, 1, 33, 12] @ [3, 12, 45]', { a: [2, 1, 33, 12], b: [3, 12, 45] }],
  ['both broadcast (copies): [2, 1, 17, 96] @ [1, 3, 96, 5]', { a: [2, 1, 17, 96], b: [1, 3, 96, 5] }],
  ['transposeA: [3, 12, 33]ᵀ @ [3, 12, 45]', { a: [3, 12, 33], b: [3, 12, 45], transA: true }],
  ['transposeB: [3, 197, 12] @ [3, 197, 12]ᵀ (attention scores)', { a: [3, 197, 12], b: [3, 197, 12], transB: true }],
  ['both transposed, b broadcast: [2, 96, 33]ᵀ @ [45, 96]ᵀ', { a: [2, 96, 33], b: [45, 96], transA: true, transB: true }],
  // One output is one dot product: with independent random signs it can cancel to near 0, where a
  // relative error measures luck, not the kernel (it failed CI at 1.9e-5 once). a · a cannot cancel.
  ['M = 1, N = 1: [1, 768] @ [768, 1] (a · a)', { a: [1, 768], b: [768, 1], selfDot: true }],
  ['K = 1: [197, 1] @ [1, 97]', { a: [197, 1], b: [1, 97] }],
  ['K = 768: [2, 197, 768] @ [768, 96]', { a: [2, 197, 768], b: [768, 96] }],
  ['empty batch: [0, 5, 7] @ [7, 3]', { a: [0, 5, 7], b: [7, 3] }],
  ['empty M: [0, 12] @ [12, 5]', { a: [0, 12], b: [12, 5] }],
];

for (const device of DEVICES) {
  describeDevice(device, 'linear', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const [xShape, N] of device === 'cpu' ? LINEAR_CPU : LINEAR_CUDA) {
        it(`linear matches float64 at [${xShape}] -> ${N} with bias, ${dtype}`, () => { checkLinear(device, dtype, xShape, N); });
      }
      for (const act of ACTIVATIONS) {
        it(`linear with ${act.label} fused matches float64 at [197, 96] -> 97, ${dtype}`, () => { checkLinear(device, dtype, [197, 96], 97, { act }); });
      }
      it(`linear without bias matches float64, ${dtype}`, () => {
        checkLinear(device, dtype, [197, 96], 97, { bias: false });
        checkLinear(device, dtype, [2, 197, 12], 96, { bias: false, act: ACTIVATIONS[2] });
      });
      it(`linear reads a sliced x, a transposed x and a transposed weight in place, and copies unmergeable x, ${dtype}`, () => {
        const seed = freshSeed();
        const K = 96;
        const N = 97;
        const w = input([N, K], dtype, device, seed + 1, 1 / Math.sqrt(K));
        const bias = input([N], dtype, device, seed + 2);
        const wide = randn([197, 128], { dtype, device, seed });
        const xs = [
          slice(wide, 1, 16, 16 + K),                                  // rows with stride 128
          randn([K, 197], { dtype, device, seed: seed + 3 }).transpose(), // a column-major x
          randn([197, 2, K], { dtype, device, seed: seed + 4 }).permute([1, 0, 2]), // [2, 197, K]: rows do not merge
        ];
        const wT = input([K, N], dtype, device, seed + 5, 1 / Math.sqrt(K)).transpose(); // [N, K] view, column-major
        for (const [i, x] of xs.entries()) {
          for (const weight of [w, wT]) {
            const M = x.size / K;
            const out = poisoned([...x.shape.slice(0, -1), N], dtype, device);
            linear(x, weight, bias, { activation: 'gelu', out });
            const ref = linearRef(host(x), M, K, host(weight), N, host(bias), 'gelu');
            assertClose(host(out), ref, TOLERANCE[dtype], `x #${i} weight ${weight === w ? 'contiguous' : 'transposed'} ${dtype} seed ${seed}`);
            out.dispose();
          }
        }
        for (const t of [w, bias, wide, wT, ...xs]) t.dispose();
      });
      it(`linear with a residual adds it in the same GEMM: a new output, in place, without bias, batched, strided, ${dtype}`, () => {
        const seed = freshSeed();
        for (const [xShape, N, withBias] of [[[197, 96], 97, true], [[2, 197, 12], 96, false], [[1, 768], 5, true]] as const) {
          const K = xShape[xShape.length - 1];
          const M = xShape.slice(0, -1).reduce((p, q) => p * q, 1);
          const outShape = [...xShape.slice(0, -1), N];
          const x = input(xShape, dtype, device, seed);
          const w = input([N, K], dtype, device, seed + 1, 1 / Math.sqrt(K));
          const bias = withBias ? input([N], dtype, device, seed + 2, 0.5) : null;
          const residual = randn(outShape, { dtype, device, seed: seed + 3 });
          const before = Array.from(host(residual));
          const product = linearRef(host(x), M, K, host(w), N, bias && host(bias));
          const ref = product.map((v, i) => v + before[i]);
          const label = `[${xShape}] -> ${N}${withBias ? ' with bias' : ''} ${dtype} seed ${seed}`;
          // a new output; the residual is only read
          const out = linear(x, w, bias, { residual });
          assertClose(host(out), ref, TOLERANCE[dtype], `residual, new output, ${label}`);
          assert.deepEqual(Array.from(host(residual)), before, 'the residual was written');
          // into a given output apart from the residual (poisoned first)
          const given = poisoned(outShape, dtype, device);
          assert.equal(linear(x, w, bias, { residual, out: given }), given);
          assertClose(host(given), ref, TOLERANCE[dtype], `residual, given output, ${label}`);
          // in place: the residual stream updated
          assert.equal(linear(x, w, bias, { residual, out: residual }), residual);
          assertClose(host(residual), ref, TOLERANCE[dtype], `residual, in place, ${label}`);
          for (const t of [x, w, bias, residual, out, given]) t?.dispose();
        }
        // a strided residual (a transposed view) is read through a contiguous copy
        const x = input([197, 96], dtype, device, seed + 4);
        const w = input([97, 96], dtype, device, seed + 5, 1 / Math.sqrt(96));
        const rT = randn([97, 197], { dtype, device, seed: seed + 6 });
        const r = rT.transpose();
        const rValues = host(r);
        const ref = linearRef(host(x), 197, 96, host(w), 97, null).map((v, i) => v + rValues[i]);
        const out = linear(x, w, null, { residual: r });
        assertClose(host(out), ref, TOLERANCE[dtype], `residual, transposed view, ${dtype} seed ${seed}`);
        for (const t of [x, w, rT, r, out]) t.dispose();
      });
      it(`linear with K = 0 and a residual gives residual + bias, in place too, ${dtype}`, () => {
        const x = empty([2, 0], { dtype, device });
        const w = empty([3, 0], { dtype, device });
        const bias = tensor([-1, 0.5, 2], [3], { dtype, device });
        const residual = tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype, device });
        const out = linear(x, w, bias, { residual });
        assert.deepEqual(Array.from(host(out)), [0, 2.5, 5, 3, 5.5, 8]);
        linear(x, w, bias, { residual, out: residual });
        assert.deepEqual(Array.from(host(residual)), [0, 2.5, 5, 3, 5.5, 8]);
        for (const t of [x, w, bias, residual, out]) t.dispose();
      });
      it(`linear with K = 0 gives act(bias), ${dtype}`, () => {
        const x = empty([5, 0], { dtype, device });
        const w = empty([3, 0], { dtype, device });
        const bias = tensor([-1, 0.5, 2], [3], { dtype, device });
        const out = poisoned([5, 3], dtype, device);
        linear(x, w, bias, { activation: 'relu', out });
        assert.deepEqual(Array.from(host(out)), [0, 0.5, 2, 0, 0.5, 2, 0, 0.5, 2, 0, 0.5, 2, 0, 0.5, 2]);
        const plain = linear(x, w);
        assert.ok(host(plain).every((v) => v === 0));
        for (const t of [x, w, bias, out, plain]) t.dispose();
      });
      it(`linear allocates a contiguous [..., out] without out, ${dtype}`, () => {
        const x = randn([2, 3, 12], { dtype, device });
        const w = randn([5, 12], { dtype, device });
        const y = linear(x, w);
        assert.deepEqual(y.shape, [2, 3, 5]);
        assert.equal(y.dtype, dtype);
        assert.equal(y.device, device);
        assert.equal(y.isContiguous, true);
        assertClose(host(y), linearRef(host(x), 6, 12, host(w), 5, null), TOLERANCE[dtype]);
        for (const t of [x, w, y]) t.dispose();
      });
      for (const [label, m] of MATMULS) {
        it(`matmul matches float64: ${label}, ${dtype}`, () => checkMatmul(device, dtype, m));
      }
      it(`matmul reads transposed views in place and copies views without a unit stride, ${dtype}`, () => {
        const seed = freshSeed();
        const aT = randn([3, 12, 33], { dtype, device, seed }).transpose();      // [3, 33, 12], column-major matrices
        const bT = randn([3, 45, 12], { dtype, device, seed: seed + 1 }).transpose(); // [3, 12, 45]
        const wide = randn([33, 24], { dtype, device, seed: seed + 2 });
        const strided = wide._view([33, 12], [24, 2]);                                 // last stride 2: must be copied
        for (const [a, b] of [[aT, bT], [strided, bT], [aT.transpose(), bT.transpose()]] as const) {
          const transposed = a.shape[a.rank - 1] !== 12;
          const ref = matmulRef(host(a), a.shape, host(b), b.shape, transposed, transposed);
          const out = poisoned(ref.shape, dtype, device);
          matmul(a, b, { transposeA: transposed, transposeB: transposed, out });
          assertClose(host(out), ref.out, TOLERANCE[dtype], `a [${a.shape}] strides [${a.strides}] ${dtype} seed ${seed}`);
          out.dispose();
        }
        // A strided b broadcast over a's batch: one matrix copied, read for every batch entry.
        const a4 = randn([2, 3, 33, 12], { dtype, device, seed: seed + 3 });
        const bWide = randn([12, 10], { dtype, device, seed: seed + 4 });
        const bStrided = bWide._view([12, 5], [10, 2]);
        const ref = matmulRef(host(a4), a4.shape, host(bStrided), bStrided.shape);
        const out = poisoned(ref.shape, dtype, device);
        matmul(a4, bStrided, { out });
        assertClose(host(out), ref.out, TOLERANCE[dtype], `strided broadcast b ${dtype} seed ${seed}`);
        for (const t of [aT, bT, wide, strided, a4, bWide, bStrided, out]) t.dispose();
      });
      it(`matmul with K = 0 gives zeros, and allocates its result without out, ${dtype}`, () => {
        const a = empty([2, 4, 0], { dtype, device });
        const b = empty([0, 3], { dtype, device });
        const y = matmul(a, b);
        assert.deepEqual(y.shape, [2, 4, 3]);
        assert.equal(y.isContiguous, true);
        assert.ok(host(y).every((v) => v === 0));
        for (const t of [a, b, y]) t.dispose();
      });
    }
    it('linear fuses gelu (erf) and gelu_tanh as different functions, each matching its own formula in float32', () => {
      const seed = freshSeed();
      const x = input([197, 96], 'float32', device, seed, 2);
      const w = input([97, 96], 'float32', device, seed + 1, 1 / Math.sqrt(96));
      const erfOut = linear(x, w, null, { activation: 'gelu' });
      const tanhOut = linear(x, w, null, { activation: 'gelu_tanh' });
      const erfRef = linearRef(host(x), 197, 96, host(w), 97, null, 'gelu');
      const tanhRef = linearRef(host(x), 197, 96, host(w), 97, null, 'gelu_tanh');
      assertClose(host(erfOut), erfRef, TOLERANCE.float32, `gelu seed ${seed}`);
      assertClose(host(tanhOut), tanhRef, TOLERANCE.float32, `gelu_tanh seed ${seed}`);
      assert.ok(relativeError(host(erfOut), tanhRef) > 10 * TOLERANCE.float32, 'gelu must not be the tanh approximation');
      assert.ok(relativeError(host(tanhOut), erfRef) > 10 * TOLERANCE.float32, 'gelu_tanh must not be the erf form');
      for (const t of [x, w, erfOut, tanhOut]) t.dispose();
    });
    it('linear with allowTF32 in float32 stays within the bound of 10-bit-mantissa inputs (float16\'s)', () => {
      // TF32 rounds the inputs to float16's mantissa width, so float16's bound is the meaningful one.
      checkLinear(device, 'float32', [197, 768], 96, { allowTF32: true, tolerance: TOLERANCE.float16 });
    });
  });
}

describe('linear and matmul argument errors', () => {
  const x = randn([4, 6]);
  const w = randn([5, 6]);
  it('linear rejects wrong ranks and mismatched features', () => {
    assert.throws(() => linear(randn([]), w), { name: 'RangeError', message: /^linear: x must be \[\.\.\., in\], got \[\]/ });
    assert.throws(() => linear(x, randn([5, 6, 1])), { name: 'RangeError', message: /^linear: weight must be \[out, in\], got \[5, 6, 1\]/ });
    assert.throws(() => linear(x, randn([5, 7])), { name: 'RangeError', message: /^linear: weight \[5, 7\] takes 7 input features but x \[4, 6\] has 6/ });
    assert.throws(() => linear(x, w, randn([6])), { name: 'RangeError', message: /^linear: bias must be \[5\] to match weight \[5, 6\], got \[6\]/ });
  });
  it('linear rejects dtype mismatches, disposed tensors and non-tensors', () => {
    assert.throws(() => linear(x, randn([5, 6], { dtype: 'float16' })), { name: 'TypeError', message: /^linear: expected weight to be a float32 tensor like x, got Tensor\[5, 6\] float16/ });
    assert.throws(() => linear(x, w, randn([5], { dtype: 'bfloat16' })), { name: 'TypeError', message: /^linear: expected bias to be a float32 tensor like weight/ });
    assert.throws(() => linear(tensor(new Int32Array(6), [1, 6]), w), { name: 'TypeError', message: /^linear: expected x to be a float32, float16 or bfloat16 tensor/ });
    const d = randn([5, 6]);
    d.dispose();
    assert.throws(() => linear(x, d), { name: 'TypeError', message: /^linear: weight has been disposed/ });
    assert.throws(() => linear(x, [[1]] as unknown as Tensor), { name: 'TypeError', message: /^linear: expected weight to be a Tensor/ });
  });
  it('linear rejects a bad activation, allowTF32 and out', () => {
    assert.throws(() => linear(x, w, null, { activation: 'swish' as ActivationSpec }), { name: 'TypeError', message: /^linear: expected options.activation to be one of 'none'/ });
    assert.throws(() => linear(x, w, null, { activation: { name: 'relu', beta: 1 } as ActivationSpec }), { name: 'TypeError', message: /^linear: options.activation 'relu' has no parameter 'beta'/ });
    assert.throws(() => linear(x, w, null, { allowTF32: 1 as unknown as boolean }), { name: 'TypeError', message: /^linear: expected options.allowTF32 to be a boolean/ });
    assert.throws(() => linear(x, w, null, { out: empty([4, 6]) }), { name: 'RangeError', message: /^linear: options.out must have shape \[4, 5\], got \[4, 6\]/ });
    assert.throws(() => linear(x, w, null, { out: empty([5, 4]).transpose() }), { name: 'RangeError', message: /^linear: options.out must be contiguous/ });
    const shared = empty([4, 11]);
    const sx = slice(shared, 1, 0, 6);
    assert.throws(() => linear(sx, w, null, { out: shared._view([4, 5], [5, 1]) }), { name: 'RangeError', message: /^linear: options.out must not share storage with an input/ });
  });
  it('linear rejects a residual of the wrong shape, dtype or device, with an activation, disposed, or overlapping out', () => tidy(() => {
    const r = randn([4, 5]);
    assert.throws(() => linear(x, w, null, { residual: randn([4, 6]) }), { name: 'RangeError', message: /^linear: options.residual must have the output's shape \[4, 5\], got \[4, 6\]/ });
    assert.throws(() => linear(x, w, null, { residual: randn([4, 5], { dtype: 'float16' }) }), { name: 'TypeError', message: /^linear: expected options.residual to be a float32 tensor like x/ });
    assert.throws(() => linear(x, w, null, { residual: r, activation: 'gelu' }), { name: 'RangeError', message: /^linear: options.residual cannot be combined with an activation/ });
    assert.throws(() => linear(x, w, null, { residual: [1] as unknown as Tensor }), { name: 'TypeError', message: /^linear: expected options.residual to be a Tensor/ });
    const d = randn([4, 5]);
    d.dispose();
    assert.throws(() => linear(x, w, null, { residual: d }), { name: 'TypeError', message: /^linear: options.residual has been disposed/ });
    const stream = empty([5, 5]);
    const shifted = stream._view([4, 5], [5, 1], 5);
    assert.throws(() => linear(x, w, null, { residual: shifted, out: stream._view([4, 5], [5, 1]) }),
      { name: 'RangeError', message: /^linear: options.residual shares storage with options.out: it must be options.out itself \(in place\) or in another storage/ });
    // the addon checks too: a residual overlapping c, of another shape, or with an activation
    const c = { ...stream, _storage: stream._storage, offset: 0, shape: [1, 4, 5], strides: [20, 5, 1], dtype: 'float32' };
    const a = { _storage: x._storage, offset: 0, shape: [1, 4, 6], strides: [24, 6, 1], dtype: 'float32' };
    const b = { _storage: w._storage, offset: 0, shape: [1, 5, 6], strides: [30, 6, 1], dtype: 'float32' };
    const overlapping = { ...c, offset: 5 };
    assert.throws(() => native().gemm(a as never, b as never, c as never, null, false, true, 1, 0, 0, 0, false, overlapping as never), /gemm: residual must be c itself or not overlap it/);
    assert.throws(() => native().gemm(a as never, b as never, c as never, null, false, true, 1, 0, 0, 0, false, { ...c, _storage: r._storage, shape: [1, 5, 4], strides: [20, 4, 1] } as never),
      /gemm: residual must be contiguous, of c's shape and dtype/);
    assert.throws(() => native().gemm(a as never, b as never, c as never, null, false, true, 1, 1, 0, 0, false, { ...c, _storage: r._storage } as never),
      /gemm: a residual cannot be combined with an activation/);
  }));
  it('matmul rejects wrong ranks, inner dims, batch dims that do not broadcast, dtypes and options', () => {
    assert.throws(() => matmul(randn([6]), w), { name: 'RangeError', message: /^matmul: a must be \[\.\.\., M, K\], got \[6\]/ });
    assert.throws(() => matmul(x, randn([6])), { name: 'RangeError', message: /^matmul: b must be \[\.\.\., K, N\], got \[6\]/ });
    assert.throws(() => matmul(x, w), { name: 'RangeError', message: /^matmul: inner dimensions differ: a \[4, 6\] has K = 6, b \[5, 6\] has K = 5/ });
    assert.throws(() => matmul(randn([2, 4, 6]), randn([3, 6, 5])), { name: 'RangeError', message: /^matmul: a's batch dims \[2\] and b's batch dims \[3\] do not broadcast together/ });
    assert.throws(() => matmul(x, randn([6, 5], { dtype: 'bfloat16' })), { name: 'TypeError', message: /^matmul: expected b to be a float32 tensor like a/ });
    assert.throws(() => matmul(x, w, { transposeB: 'yes' as unknown as boolean }), { name: 'TypeError', message: /^matmul: expected options.transposeB to be a boolean/ });
    assert.throws(() => matmul(x, w, { transposeB: true, out: empty([4, 6]) }), { name: 'RangeError', message: /^matmul: options.out must have shape \[4, 5\]/ });
    const d = randn([4, 6]);
    d.dispose();
    assert.throws(() => matmul(d, w), { name: 'TypeError', message: /^matmul: a has been disposed/ });
  });
});

describeDevice('cuda:0', 'linear and matmul device mismatch', () => {
  it('rejects weight, bias, b or out on another device', () => {
    const x = randn([4, 6], { device: 'cuda:0' });
    const w = randn([5, 6], { device: 'cuda:0' });
    assert.throws(() => linear(x, randn([5, 6])), { name: 'TypeError', message: /^linear: expected weight to be on cuda:0 like x/ });
    assert.throws(() => linear(x, w, randn([5])), { name: 'TypeError', message: /^linear: expected bias to be on cuda:0 like weight/ });
    assert.throws(() => linear(x, w, null, { out: empty([4, 5]) }), { name: 'TypeError', message: /^linear: expected options.out to be on cuda:0/ });
    assert.throws(() => linear(x, w, null, { residual: randn([4, 5]) }), { name: 'TypeError', message: /^linear: expected options.residual to be on cuda:0 like x/ });
    assert.throws(() => matmul(x, randn([6, 5])), { name: 'TypeError', message: /^matmul: expected b to be on cuda:0 like a/ });
    x.dispose();
    w.dispose();
  });
});
