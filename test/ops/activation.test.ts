import * as assert from 'node:assert/strict';
import {
  activation, ActivationSpec, biasActivation, Device, empty, FLOAT_DTYPES, FloatDType, gelu, geluTanh, leakyRelu, randn, relu,
  smelu, squaredRelu, starRelu, Tensor, tensor,
} from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, poisoned, host, AWKWARD_SHAPES, ACTIVATION_VARIANTS, ActivationVariant } from '../helpers';
import { ActivationParams, biasActivationRef, erf, erfc } from '../reference';

// Awkward last dims (1, 12, 96, 97, 768, 4099), N = 197 rows, an empty leading dim, 1-D and 3-D.
const SHAPES = AWKWARD_SHAPES;
// The shapes every activation variant runs over (the wide ones are covered by gelu above).
const VARIANT_SHAPES = [[197, 1], [197, 97], [3, 4099], [0, 96], [12]];

const VARIANTS = ACTIVATION_VARIANTS;

type Standalone = [string, (x: Tensor, out: Tensor) => Tensor, string, ActivationParams];
const STANDALONE: Standalone[] = [
  ['relu', (x, out) => relu(x, { out }), 'relu', {}],
  ['gelu', (x, out) => gelu(x, { out }), 'gelu', {}],
  ['geluTanh', (x, out) => geluTanh(x, { out }), 'gelu_tanh', {}],
  ['leakyRelu', (x, out) => leakyRelu(x, undefined, { out }), 'leaky_relu', {}],
  ['leakyRelu(x, 0.3)', (x, out) => leakyRelu(x, 0.3, { out }), 'leaky_relu', { slope: 0.3 }],
  ['squaredRelu', (x, out) => squaredRelu(x, { out }), 'squared_relu', {}],
  ['smelu', (x, out) => smelu(x, undefined, { out }), 'smelu', {}],
  ['smelu(x, 1)', (x, out) => smelu(x, 1, { out }), 'smelu', { beta: 1 }],
  ['starRelu', (x, out) => starRelu(x, { out }), 'star_relu', {}],
  ['starRelu(x, { scale: 2, bias: -1 })', (x, out) => starRelu(x, { scale: 2, bias: -1, out }), 'star_relu', { scale: 2, bias: -1 }],
];

// x · 2 so that every region of smelu (|x| < beta and beyond) and the tails of gelu are hit.
function input(shape: readonly number[], dtype: FloatDType, device: Device, seed: number): Tensor {
  const values = randn(shape, { seed }).dataSync().map((v) => 2 * v);
  return tensor(values, shape, { dtype, device });
}

function checkBiasActivation(device: Device, dtype: FloatDType, shape: readonly number[], v: ActivationVariant, withBias = true): void {
  const seed = freshSeed();
  const cols = shape[shape.length - 1];
  const x = input(shape, dtype, device, seed);
  const bias = withBias ? randn([cols], { dtype, device, seed: seed + 1 }) : null;
  const out = poisoned(shape, dtype, device);
  const result = biasActivation(x, bias, v.spec, { out });
  assert.equal(result, out);
  const ref = biasActivationRef(host(x), cols, bias && host(bias), v.name, v.params);
  assertClose(host(out), ref, TOLERANCE[dtype], `biasActivation ${v.label} [${shape}] ${dtype} seed ${seed}`);
  for (const t of [x, bias, out]) t?.dispose();
}

for (const device of DEVICES) {
  describeDevice(device, 'activations', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const shape of SHAPES) {
        it(`biasActivation(x, bias, 'gelu') matches float64 at [${shape}] ${dtype}`, () => checkBiasActivation(device, dtype, shape, VARIANTS[2]));
      }
      for (const v of VARIANTS) {
        it(`biasActivation with ${v.label} matches float64 with and without bias, every shape, ${dtype}`, () => {
          for (const shape of VARIANT_SHAPES) {
            checkBiasActivation(device, dtype, shape, v, true);
            checkBiasActivation(device, dtype, shape, v, false);
          }
        });
      }
      for (const [label, fn, name, params] of STANDALONE) {
        it(`${label} matches float64 at every shape, ${dtype}`, () => {
          for (const shape of VARIANT_SHAPES) {
            const seed = freshSeed();
            const x = input(shape, dtype, device, seed);
            const out = poisoned(shape, dtype, device);
            assert.equal(fn(x, out), out);
            const ref = biasActivationRef(host(x), shape[shape.length - 1], null, name, params);
            assertClose(host(out), ref, TOLERANCE[dtype], `${label} [${shape}] ${dtype} seed ${seed}`);
            x.dispose();
            out.dispose();
          }
        });
      }
      it(`activation(x, spec) matches float64 for every spec, ${dtype}`, () => {
        for (const v of VARIANTS) {
          const seed = freshSeed();
          const x = input([197, 97], dtype, device, seed);
          const out = poisoned([197, 97], dtype, device);
          activation(x, v.spec, { out });
          assertClose(host(out), biasActivationRef(host(x), 97, null, v.name, v.params), TOLERANCE[dtype], `activation ${v.label} ${dtype} seed ${seed}`);
          x.dispose();
          out.dispose();
        }
      });
      it(`gelu of a transposed (strided) view matches float64, ${dtype}`, () => {
        const seed = freshSeed();
        const base = input([97, 197], dtype, device, seed);
        const x = base.transpose();
        const out = poisoned([197, 97], dtype, device);
        gelu(x, { out });
        assertClose(host(out), biasActivationRef(host(x), 97, null, 'gelu'), TOLERANCE[dtype], `seed ${seed}`);
        for (const t of [base, x, out]) t.dispose();
      });
      it(`biasActivation allocates a contiguous result without out, and works in place with out = x, ${dtype}`, () => {
        const seed = freshSeed();
        const x = input([5, 197, 12], dtype, device, seed);
        const bias = randn([12], { dtype, device, seed: seed + 1 });
        const ref = biasActivationRef(host(x), 12, host(bias), 'gelu_tanh');
        const y = biasActivation(x, bias, 'gelu_tanh');
        assert.deepEqual(y.shape, [5, 197, 12]);
        assert.equal(y.dtype, dtype);
        assert.equal(y.device, device);
        assert.equal(y.isContiguous, true);
        assertClose(host(y), ref, TOLERANCE[dtype], `allocated, seed ${seed}`);
        assert.equal(biasActivation(x, bias, 'gelu_tanh', { out: x }), x);
        assertClose(host(x), ref, TOLERANCE[dtype], `in place, seed ${seed}`);
        for (const t of [x, bias, y]) t.dispose();
      });
    }
  });
}

describe('activation reference', () => {
  it('erf matches tabulated values to 1e-15', () => {
    const table: [number, number][] = [
      [0, 0], [1e-8, 1.1283791670955126e-8], [0.01, 0.011283415555849618], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
      [-1.5, -0.9661051464753108], [2, 0.9953222650189527], [3, 0.9999779095030014], [4.5, 0.9999999998033839], [7, 1],
    ];
    for (const [x, v] of table) assert.ok(Math.abs(erf(x) - v) <= 1e-15, `erf(${x}) = ${erf(x)}, expected ${v}`);
  });

  it('erfc keeps its relative accuracy in the tail (1e-13 of itself, to erfc(20) ~ 5e-176)', () => {
    // Python's math.erfc (the C library's, good to a few ulps).
    const table: [number, number][] = [
      [0, 1], [0.5, 0.4795001221869535], [0.999, 0.15771472979350307], [1, 0.15729920705028513], [2, 0.004677734981047265], [2.999, 2.2230168599834058e-5], [3, 2.2090496998585438e-5],
      [3.5, 7.430983723414128e-7], [5, 1.5374597944280351e-12], [5.12, 4.4613313509432617e-13], [7, 4.183825607779414e-23],
      [10, 2.088487583762545e-45], [20, 5.3958656116079005e-176],
    ];
    for (const [z, v] of table) assert.ok(Math.abs(erfc(z) - v) <= 1e-13 * v, `erfc(${z}) = ${erfc(z)}, expected ${v}`);
  });
});

describe('activation argument errors', () => {
  const x = randn([4, 6]);
  const bias = randn([6]);
  it('rejects unknown activation names and parameters that do not belong', () => {
    assert.throws(() => activation(x, 'swish' as ActivationSpec), { name: 'TypeError', message: /^activation: expected activation to be one of 'none', 'relu'/ });
    assert.throws(() => biasActivation(x, bias, { name: 'GELU' } as unknown as ActivationSpec), { name: 'TypeError', message: /^biasActivation: expected activation.name to be one of/ });
    assert.throws(() => biasActivation(x, bias, { name: 'gelu', slope: 1 } as ActivationSpec), { name: 'TypeError', message: /^biasActivation: activation 'gelu' has no parameter 'slope'/ });
    assert.throws(() => biasActivation(x, bias, undefined as unknown as ActivationSpec), { name: 'TypeError', message: /^biasActivation: expected activation/ });
    assert.throws(() => activation(x, 3 as unknown as ActivationSpec), { name: 'TypeError', message: /^activation: expected activation/ });
  });
  it('rejects bad activation parameters', () => {
    assert.throws(() => smelu(x, 0), { name: 'RangeError', message: /^smelu: beta must be positive/ });
    assert.throws(() => biasActivation(x, null, { name: 'smelu', beta: -1 }), { name: 'RangeError', message: /^biasActivation: activation.beta must be positive/ });
    assert.throws(() => leakyRelu(x, NaN), { name: 'TypeError', message: /^leakyRelu: expected slope to be a number/ });
    assert.throws(() => starRelu(x, { scale: Infinity }), { name: 'RangeError', message: /^starRelu: options.scale must be finite/ });
    assert.throws(() => activation(x, { name: 'star_relu', bias: '1' as unknown as number }), { name: 'TypeError', message: /^activation: expected activation.bias to be a number/ });
  });
  it('rejects a bias of the wrong shape, dtype or rank', () => {
    assert.throws(() => biasActivation(x, randn([5]), 'relu'), { name: 'RangeError', message: /^biasActivation: bias must be \[6\] to match x \[4, 6\], got \[5\]/ });
    assert.throws(() => biasActivation(x, randn([1, 6]), 'relu'), { name: 'RangeError', message: /^biasActivation: bias must be \[6\]/ });
    assert.throws(() => biasActivation(x, randn([6], { dtype: 'float16' }), 'relu'), { name: 'TypeError', message: /^biasActivation: expected bias to be a float32 tensor like x, got Tensor\[6\] float16/ });
    assert.throws(() => biasActivation(randn([]), randn([1]), 'relu'), { name: 'RangeError', message: /^biasActivation: x must have at least one dimension/ });
  });
  it('rejects non-float, non-tensor and disposed inputs', () => {
    assert.throws(() => gelu(tensor(new Int32Array([1, 2]))), { name: 'TypeError', message: /^gelu: expected x to be a float32, float16 or bfloat16 tensor, got Tensor\[2\] int32/ });
    assert.throws(() => relu([1, 2] as unknown as Tensor), { name: 'TypeError', message: /^relu: expected x to be a Tensor/ });
    const d = randn([3]);
    d.dispose();
    assert.throws(() => geluTanh(d), { name: 'TypeError', message: /^geluTanh: x has been disposed/ });
    const b = randn([6]);
    b.dispose();
    assert.throws(() => biasActivation(x, b, 'relu'), { name: 'TypeError', message: /^biasActivation: bias has been disposed/ });
  });
  it('rejects a bad out: shape, dtype, strides, disposed, and bad options', () => {
    assert.throws(() => relu(x, { out: empty([4, 5]) }), { name: 'RangeError', message: /^relu: options.out must have shape \[4, 6\], got \[4, 5\]/ });
    assert.throws(() => relu(x, { out: empty([4, 6], { dtype: 'bfloat16' }) }), { name: 'TypeError', message: /^relu: expected options.out to be a float32 tensor/ });
    assert.throws(() => relu(x, { out: empty([6, 4]).transpose() }), { name: 'RangeError', message: /^relu: options.out must be contiguous/ });
    const o = empty([4, 6]);
    o.dispose();
    assert.throws(() => squaredRelu(x, { out: o }), { name: 'TypeError', message: /^squaredRelu: options.out has been disposed/ });
    assert.throws(() => relu(x, 5 as never), { name: 'TypeError', message: /^relu: expected options to be an object/ });
  });
});

describeDevice('cuda:0', 'activation device mismatch', () => {
  it('rejects a bias or out on another device', () => {
    const x = randn([4, 6], { device: 'cuda:0' });
    assert.throws(() => biasActivation(x, randn([6]), 'gelu'), { name: 'TypeError', message: /^biasActivation: expected bias to be on cuda:0 like x, got Tensor\[6\] float32 on cpu/ });
    assert.throws(() => gelu(x, { out: empty([4, 6]) }), { name: 'TypeError', message: /^gelu: expected options.out to be on cuda:0/ });
    x.dispose();
  });
});
