// The ops whose backward is native (norms, softmax, the activations, linear with an
// activation epilogue), checked by gradcheck over awkward shapes (rows 1, 3, 197; cols 1,
// 12, 97), with inputs kept off the activations' kinks (finite differences across a kink
// measure neither side).
import * as assert from 'node:assert/strict';
import {
  activation, biasActivation, gelu, geluTanh, gradcheck, layerNorm, leakyRelu, linear, randn, relu, rmsNorm, smelu, softmax,
  squaredRelu, starRelu, Tensor, tensor,
} from '../../ts/index';
import { ACTIVATION_VARIANTS, ActivationVariant } from '../helpers';

let seed = 500;
const leaf = (shape: number[]) => randn(shape, { seed: seed++ }).requiresGrad_();
const constant = (shape: number[]) => randn(shape, { seed: seed++ });

// Curved ops (GELU, rmsNorm of one column) take a smaller step (the central difference's h²
// term) and an atol of 1e-4: the float32 GELU forward is off by ~1e-7 absolutely (its erf/tanh
// in float32), which a step of 1e-3..1e-2 turns into ~1e-5 per output.
const CURVED = { eps: 3e-3, atol: 1e-4 };

function check(name: string, f: (...t: Tensor[]) => Tensor, inputs: () => Tensor[], options = {}): void {
  it(name, () => {
    const ts = inputs();
    try {
      assert.equal(gradcheck(f, ts, options), true);
    } finally {
      for (const t of ts) t.dispose();
    }
  });
}

const SHAPES: [number, number][] = [[1, 1], [1, 12], [3, 1], [3, 12], [3, 97], [197, 1], [197, 12]];

/** Where each activation's derivative jumps (or its second derivative, which central differences also feel). */
function kinks(v: ActivationVariant): number[] {
  if (v.name === 'smelu') return [-(v.params.beta ?? 2), v.params.beta ?? 2];
  return ['gelu', 'gelu_tanh', 'none'].includes(v.name) ? [] : [0];
}

/** A leaf of normal values, each moved at least `margin` away from every kink minus its column's offset. */
function offKinks(shape: number[], at: number[], offsets: Float32Array | null = null, margin = 0.1): Tensor {
  const v = randn(shape, { seed: seed++ }).dataSync() as Float32Array;
  const cols = shape[shape.length - 1];
  for (let i = 0; i < v.length; i++) {
    for (const k of at) {
      const d = v[i] + (offsets ? offsets[i % cols] : 0) - k;
      if (Math.abs(d) < margin) v[i] += d < 0 ? -2 * margin : 2 * margin;
    }
  }
  return tensor(v, shape).requiresGrad_();
}

describe('gradcheck: layerNorm and rmsNorm', () => {
  for (const [R, C] of SHAPES) {
    check(`layerNorm [${R}, ${C}] with weight and bias`, (x, w, b) => layerNorm(x, w, b), () => [leaf([R, C]), leaf([C]), leaf([C])]);
    check(`rmsNorm [${R}, ${C}] with weight`, (x, w) => rmsNorm(x, w, 1e-2), () => [leaf([R, C]), leaf([C])], CURVED);
  }
  check('layerNorm [197, 97] (x only, eps 1e-3)', (x) => layerNorm(x, null, null, 1e-3), () => [leaf([197, 97])]);
  check('layerNorm of a batched, transposed x with a constant weight', (x, w, b) => layerNorm(x.transpose(1, 2), w, b), () => [leaf([2, 12, 3]), constant([12]), leaf([12])]);
  check('layerNorm with only the bias requiring grad', (x, w, b) => layerNorm(x, w, b), () => [constant([3, 12]), constant([12]), leaf([12])]);
  check('rmsNorm without a weight', (x) => rmsNorm(x, null), () => [leaf([3, 12])]);
  check('rmsNorm with only the weight requiring grad', (x, w) => rmsNorm(x, w), () => [constant([197, 12]), leaf([12])]);
});

describe('gradcheck: softmax', () => {
  for (const [R, C] of SHAPES) check(`softmax [${R}, ${C}] with scale 0.7`, (x) => softmax(x, { scale: 0.7 }), () => [leaf([R, C])]);
  check('softmax [3, 97] of a transposed view', (x) => softmax(x.transpose()), () => [leaf([97, 3])]);
  check('softmax [2, 3, 12] with a broadcast mask [1, 12] (disposed after the forward)', (x) => {
    const mask = tensor(new Uint8Array(12).map((_, i) => (i % 3 === 0 ? 0 : 1)), [1, 12]);
    try {
      return softmax(x, { mask, scale: 2 });
    } finally {
      mask.dispose(); // the tape keeps its own view of the mask
    }
  }, () => [leaf([2, 3, 12])]);

  it('softmax with a fully masked row: zero gradients there, nothing NaN; gradcheck holds', () => {
    const keep = new Uint8Array(3 * 12).map((_, i) => (i < 12 ? 0 : (i * 7) % 5 === 0 ? 0 : 1));
    const mask = tensor(keep, [3, 12]);
    const x = leaf([3, 12]);
    const g = randn([3, 12], { seed: 9 });
    try {
      assert.equal(gradcheck((t) => softmax(t, { mask }), [x]), true);
      softmax(x, { mask }).backward(g);
      const dx = x.grad!.dataSync();
      assert.ok(dx.every(Number.isFinite), 'every gradient finite');
      assert.deepEqual(Array.from(dx.slice(0, 12)), new Array(12).fill(0));
      keep.forEach((k, i) => { if (k === 0) assert.equal(dx[i], 0, `dropped entry ${i}`); });
    } finally {
      for (const t of [mask, x, g]) t.dispose();
    }
  });
});

describe('gradcheck: activations and biasActivation', () => {
  for (const v of ACTIVATION_VARIANTS) {
    const o = v.name.startsWith('gelu') ? CURVED : {};
    check(`activation ${v.label} [197, 12]`, (x) => activation(x, v.spec), () => [offKinks([197, 12], kinks(v))], o);
    check(`biasActivation ${v.label} [3, 97] with bias`, (x, b) => biasActivation(x, b, v.spec), () => {
      const b = constant([97]);
      const bv = b.dataSync() as Float32Array;
      const x = offKinks([3, 97], kinks(v), bv);
      b.dispose();
      return [x, tensor(bv, [97]).requiresGrad_()];
    }, o);
  }
  check('biasActivation gelu [1, 1], a constant bias', (x, b) => biasActivation(x, b, 'gelu'), () => [leaf([1, 1]), constant([1])], CURVED);
  check('biasActivation gelu_tanh [197, 1], only the bias requiring grad', (x, b) => biasActivation(x, b, 'gelu_tanh'), () => [constant([197, 1]), leaf([1])], CURVED);
  check('biasActivation none of a strided x [2, 3, 5] (a view)', (x, b) => biasActivation(x.permute([1, 0, 2]), b, 'none'), () => [leaf([3, 2, 5]), leaf([5])]);
  check('activation of a scalar', (x) => gelu(x), () => [tensor([0.3], []).requiresGrad_()], CURVED);
  const named: [string, (x: Tensor) => Tensor, number[]][] = [
    ['relu', (x) => relu(x), [0]], ['gelu', (x) => gelu(x), []], ['geluTanh', (x) => geluTanh(x), []],
    ['leakyRelu slope 0.3', (x) => leakyRelu(x, 0.3), [0]], ['squaredRelu', (x) => squaredRelu(x), [0]],
    ['smelu beta 1', (x) => smelu(x, 1), [-1, 1]], ['starRelu scale 2 bias 1', (x) => starRelu(x, { scale: 2, bias: 1 }), [0]],
  ];
  for (const [name, f, at] of named) check(`${name} [3, 12]`, f, () => [offKinks([3, 12], at)], name.startsWith('gelu') ? CURVED : {});
});

describe('gradcheck: linear with an activation epilogue', () => {
  for (const [M, K, N] of [[1, 1, 1], [3, 12, 5], [197, 12, 3], [3, 97, 2]]) {
    check(`linear [${M}, ${K}] -> ${N}, bias, gelu`, (x, w, b) => linear(x, w, b, { activation: 'gelu' }), () => [leaf([M, K]), leaf([N, K]), leaf([N])], CURVED);
  }
  check('linear [2, 3, 4] -> 5, no bias, gelu_tanh', (x, w) => linear(x, w, null, { activation: 'gelu_tanh' }), () => [leaf([2, 3, 4]), leaf([5, 4])], CURVED);
  check('linear gelu_tanh with only the bias requiring grad', (x, w, b) => linear(x, w, b, { activation: 'gelu_tanh' }), () => [constant([3, 4]), constant([5, 4]), leaf([5])], CURVED);
  for (const v of ACTIVATION_VARIANTS.filter((a) => kinks(a).length > 0)) {
    check(`linear [3, 4] -> 5, bias, ${v.label} (pre-activations off the kinks)`, (x, w, b) => linear(x, w, b, { activation: v.spec }), () => offKinkLinear(v));
  }
});

/** x, W, b (leaves, [3, 4], [5, 4], [5]) of a seed whose pre-activations lie ≥ 0.3 from every kink. */
function offKinkLinear(v: ActivationVariant): Tensor[] {
  for (;;) {
    const [x, w, b] = [leaf([3, 4]), leaf([5, 4]), leaf([5])];
    const [X, W, B] = [x, w, b].map((t) => t.dataSync());
    let near = false;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 5; j++) {
        let s = B[j];
        for (let k = 0; k < 4; k++) s += X[i * 4 + k] * W[j * 4 + k];
        near ||= kinks(v).some((at) => Math.abs(s - at) < 0.3);
      }
    }
    if (!near) return [x, w, b];
    for (const t of [x, w, b]) t.dispose();
  }
}
