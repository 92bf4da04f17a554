import * as assert from 'node:assert/strict';
import { cpu, Device, empty, FLOAT_DTYPES, FloatDType, layerNorm, randn, rmsNorm, Tensor, tensor } from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, poisoned, host, AWKWARD_SHAPES } from '../helpers';
import { normRef } from '../reference';

const SHAPES = AWKWARD_SHAPES;

interface Case { rms: boolean; weight: boolean; bias: boolean; eps?: number; offset?: number; strided?: boolean }

function check(device: Device, dtype: FloatDType, shape: readonly number[], c: Case): void {
  const seed = freshSeed();
  const cols = shape[shape.length - 1];
  // A strided x is the transpose of a [cols, rows] tensor; an offset shifts every value (a large mean).
  const stored = c.strided ? [cols, ...shape.slice(0, -1)] : shape;
  let values = randn(stored, { seed }).dataSync();
  if (c.offset) values = values.map((v) => v + c.offset!);
  const base = tensor(values, stored, { dtype, device });
  const x = c.strided ? base.transpose() : base;
  const weight = c.weight ? randn([cols], { dtype, device, seed: seed + 1 }) : null;
  const bias = c.bias ? randn([cols], { dtype, device, seed: seed + 2 }) : null;
  const out = poisoned(shape, dtype, device);
  const eps = c.eps ?? (c.rms ? 1e-6 : 1e-5);
  const result = c.rms
    ? rmsNorm(x, weight, c.eps, { out })
    : layerNorm(x, weight, bias, c.eps, { out });
  assert.equal(result, out);
  const ref = normRef(host(x), cols, weight && host(weight), bias && host(bias), eps, c.rms);
  assertClose(host(out), ref, TOLERANCE[dtype], `${c.rms ? 'rmsNorm' : 'layerNorm'} [${shape}] ${dtype} seed ${seed}`);
  for (const t of [base, x, weight, bias, out]) t?.dispose();
}

for (const device of DEVICES) {
  describeDevice(device, 'norms', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const shape of SHAPES) {
        it(`layerNorm matches float64 at [${shape}] ${dtype}`, () => check(device, dtype, shape, { rms: false, weight: true, bias: true }));
        it(`rmsNorm matches float64 at [${shape}] ${dtype}`, () => check(device, dtype, shape, { rms: true, weight: true, bias: false }));
      }
      it(`layerNorm and rmsNorm without weight or bias, and with eps 0.1, match float64, ${dtype}`, () => {
        for (const shape of [[197, 97], [3, 4099]]) {
          check(device, dtype, shape, { rms: false, weight: false, bias: false });
          check(device, dtype, shape, { rms: false, weight: true, bias: false });
          check(device, dtype, shape, { rms: false, weight: false, bias: true });
          check(device, dtype, shape, { rms: true, weight: false, bias: false });
          check(device, dtype, shape, { rms: false, weight: true, bias: true, eps: 0.1 });
          check(device, dtype, shape, { rms: true, weight: true, bias: false, eps: 0.1 });
        }
      });
      it(`layerNorm of a transposed (strided) x matches float64, ${dtype}`, () => {
        check(device, dtype, [197, 96], { rms: false, weight: true, bias: true, strided: true });
        check(device, dtype, [197, 96], { rms: true, weight: true, bias: false, strided: true });
      });
      it(`layerNorm keeps its accuracy on rows with a large mean (x + 100), ${dtype}`, () => {
        check(device, dtype, [197, 768], { rms: false, weight: true, bias: true, offset: 100 });
        check(device, dtype, [3, 4099], { rms: false, weight: true, bias: true, offset: 100 });
      });
      it(`layerNorm allocates a contiguous result without out and works in place with out = x, ${dtype}`, () => {
        const seed = freshSeed();
        const x = randn([2, 197, 96], { dtype, device, seed });
        const w = randn([96], { dtype, device, seed: seed + 1 });
        const b = randn([96], { dtype, device, seed: seed + 2 });
        const ref = normRef(host(x), 96, host(w), host(b), 1e-5, false);
        const y = layerNorm(x, w, b);
        assert.deepEqual(y.shape, [2, 197, 96]);
        assert.equal(y.dtype, dtype);
        assert.equal(y.isContiguous, true);
        assertClose(host(y), ref, TOLERANCE[dtype], `allocated, seed ${seed}`);
        assert.equal(layerNorm(x, w, b, 1e-5, { out: x }), x);
        assertClose(host(x), ref, TOLERANCE[dtype], `in place, seed ${seed}`);
        for (const t of [x, w, b, y]) t.dispose();
      });
    }
  });
}

describe('norm argument errors', () => {
  const x = randn([4, 6]);
  const w = randn([6]);
  it('rejects a rank-0 x, a non-float x and a non-tensor', () => {
    assert.throws(() => layerNorm(randn([]), null, null), { name: 'RangeError', message: /^layerNorm: x must be \[\.\.\., C\], got \[\]/ });
    assert.throws(() => rmsNorm(tensor(new Uint8Array(6), [1, 6]), null), { name: 'TypeError', message: /^rmsNorm: expected x to be a float32, float16 or bfloat16 tensor, got Tensor\[1, 6\] uint8/ });
    assert.throws(() => layerNorm({} as Tensor, null, null), { name: 'TypeError', message: /^layerNorm: expected x to be a Tensor/ });
  });
  it('rejects weight and bias of the wrong length, rank or dtype', () => {
    assert.throws(() => layerNorm(x, randn([5]), null), { name: 'RangeError', message: /^layerNorm: weight must be \[6\] to match x \[4, 6\], got \[5\]/ });
    assert.throws(() => layerNorm(x, w, randn([2, 3])), { name: 'RangeError', message: /^layerNorm: bias must be \[6\]/ });
    assert.throws(() => rmsNorm(x, randn([6], { dtype: 'bfloat16' })), { name: 'TypeError', message: /^rmsNorm: expected weight to be a float32 tensor like x/ });
  });
  it('rejects a bad eps', () => {
    assert.throws(() => layerNorm(x, w, null, -1), { name: 'RangeError', message: /^layerNorm: eps must be non-negative/ });
    assert.throws(() => rmsNorm(x, w, NaN), { name: 'TypeError', message: /^rmsNorm: expected eps to be a number/ });
    assert.throws(() => rmsNorm(x, w, Infinity), { name: 'RangeError', message: /^rmsNorm: eps must be finite/ });
  });
  it('rejects disposed tensors and a bad out', () => {
    const d = randn([6]);
    d.dispose();
    assert.throws(() => layerNorm(x, d, null), { name: 'TypeError', message: /^layerNorm: weight has been disposed/ });
    assert.throws(() => layerNorm(x, w, null, 1e-5, { out: empty([4, 6], { dtype: 'float16' }) }), { name: 'TypeError', message: /^layerNorm: expected options.out to be a float32 tensor/ });
    assert.throws(() => rmsNorm(x, w, 1e-6, { out: empty([24]) }), { name: 'RangeError', message: /^rmsNorm: options.out must have shape \[4, 6\], got \[24\]/ });
    assert.throws(() => layerNorm(x, w, null, 1e-5, 'fast' as never), { name: 'TypeError', message: /^layerNorm: expected options to be an object/ });
  });
});

describeDevice('cuda:0', 'norm device mismatch', () => {
  it('rejects weight, bias or out on another device', () => {
    const x = randn([4, 6], { device: 'cuda:0' });
    assert.throws(() => layerNorm(x, randn([6]), null), { name: 'TypeError', message: /^layerNorm: expected weight to be on cuda:0 like x/ });
    assert.throws(() => layerNorm(x, null, randn([6])), { name: 'TypeError', message: /^layerNorm: expected bias to be on cuda:0 like x/ });
    assert.throws(() => rmsNorm(x, null, 1e-6, { out: empty([4, 6]) }), { name: 'TypeError', message: /^rmsNorm: expected options.out to be on cuda:0/ });
    x.dispose();
  });
});

// float32 on a CPU with AVX2 runs the vectorized rows (native/cpu/norm_simd.cc) above; the
// reference GEMM selects the plain float64-accumulating rows, held here to the same bound.
describe('norms [cpu]: the plain kernel (reference GEMM)', () => {
  let kernel = '';
  before(() => { kernel = cpu.gemmKernel(); cpu.gemmKernel('reference'); });
  after(() => { cpu.gemmKernel(kernel === 'reference' ? 'reference' : 'best'); });
  for (const shape of [[197, 1], [197, 97], [3, 4099]]) {
    it(`layerNorm and rmsNorm match float64 at [${shape}] float32`, () => {
      check('cpu', 'float32', shape, { rms: false, weight: true, bias: true });
      check('cpu', 'float32', shape, { rms: true, weight: true, bias: false });
      check('cpu', 'float32', shape, { rms: false, weight: false, bias: false, offset: 100 });
    });
  }
});
