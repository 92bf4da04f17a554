// favor: FAVOR+ random features (softmax and relu kernels, orthogonal features, the redraw
// schedule), against a float64 reference written from the paper; an estimate of softmax
// attention that tightens with more features; gradients; by name in the ViT; bad options.
import * as assert from 'node:assert/strict';
import { attention, buildViT, FloatDType, FLOAT_DTYPES, gradcheck, Tensor } from '../../ts/index';
import { FavorAttention, favorHeads, featureTensor, FavorSettings } from '../../ts/attention/zoo/favor';
import { favorFeatures } from '../../ts/attention/zoo/favor_features';
import { assertClose, describeDevice, DEVICES, host, relativeError, TOLERANCE } from '../helpers';
import { favorRef, mat } from './lowrank_reference';
import { checkAgainstCpu, onDevice, seeded, SMALL_VIT, vitTrainingStep } from './lowrank_helpers';

const base: FavorSettings = { features: 16, kernel: 'softmax', redrawInterval: 1000, seed: 3, orthogonal: true };

// [B, N, H, D], features, orthogonal.
const SIZES: [number[], number, boolean][] = [[[2, 197, 2, 12], 56, true], [[1, 1, 1, 12], 8, true], [[2, 33, 3, 7], 16, false], [[1, 50, 2, 12], 20, true]];

describe('favor', () => {
  for (const kernel of ['softmax', 'relu'] as const) {
    for (const [shape, m, orthogonal] of SIZES) {
      it(`matches the float64 reference, ${kernel} kernel, q [${shape}], ${m} ${orthogonal ? 'orthogonal' : 'independent'} features`, () => {
        const [q, k, v] = [seeded(shape, 1, 0.7), seeded(shape, 2, 0.7), seeded(shape, 3)];
        const s = { ...base, features: m, kernel, orthogonal };
        const w = featureTensor(s, shape[3], 0, 'cpu');
        const out = favorHeads(q.t, k.t, v.t, w, kernel);
        const W = mat(m, shape[3], favorFeatures(m, shape[3], s.seed * 1000003, orthogonal));
        assertClose(host(out), favorRef(q.ref, k.ref, v.ref, W, kernel), TOLERANCE.float32, `favor ${kernel} [${shape}]`);
        for (const t of [q.t, k.t, v.t, w, out]) t.dispose();
      });
    }
  }

  it('orthogonal features: rows of one block are orthogonal, each of a Gaussian length; the seed decides them', () => {
    const D = 8;
    const w = favorFeatures(20, D, 5, true);
    const row = (r: number) => w.subarray(r * D, (r + 1) * D);
    const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);
    for (const [a, b] of [[0, 1], [2, 7], [8, 15], [16, 19]]) assert.ok(Math.abs(dot(row(a), row(b))) < 1e-9, `rows ${a} and ${b}`);
    assert.ok(Math.abs(dot(row(0), row(8))) > 1e-6, 'rows of different blocks are drawn independently');
    const lengths = Array.from({ length: 20 }, (_, r) => Math.sqrt(dot(row(r), row(r))));
    assert.ok(new Set(lengths.map((x) => x.toFixed(6))).size === 20 && lengths.every((x) => x > 0.5 && x < 6), `lengths ${lengths}`);
    assert.deepEqual(favorFeatures(20, D, 5, true), w);
    assert.notDeepEqual(favorFeatures(20, D, 6, true), w);
  });

  it('estimates softmax attention: the error falls as the features grow', () => {
    const shape = [1, 16, 2, 8];
    const [q, k, v] = [seeded(shape, 4, 0.5), seeded(shape, 5, 0.5), seeded(shape, 6)];
    const exact = attention(q.t, k.t, v.t, { mechanism: 'vanilla' });
    const err = (m: number) => {
      const w = featureTensor({ ...base, features: m }, 8, 0, 'cpu');
      const e = relativeError(host(favorHeads(q.t, k.t, v.t, w, 'softmax')), host(exact));
      w.dispose();
      return e;
    };
    const [small, large] = [err(8), err(4096)];
    assert.ok(large < 0.03 && large < small, `relative error with 8 features ${small}, with 4096 ${large}`);
    for (const t of [q.t, k.t, v.t, exact]) t.dispose();
  });

  it('redraws its features every feature_redraw_interval training calls and keeps them in eval', () => {
    const m = new FavorAttention('test', { dim_features: 8, feature_redraw_interval: 2, seed: 1 }, { dim: 16, heads: 2 }, {});
    const shape = [1, 5, 2, 8];
    const [q, k, v] = [seeded(shape, 7), seeded(shape, 8), seeded(shape, 9)];
    const run = () => Array.from(host(m.forwardHeads(q.t, k.t, v.t, {})));
    m.train();
    const outs = [run(), run(), run(), run(), run()];
    assert.equal(m.draws, 3);
    assert.deepEqual(outs[1], outs[0]);
    assert.notDeepEqual(outs[2], outs[1]);
    assert.deepEqual(outs[3], outs[2]);
    assert.notDeepEqual(outs[4], outs[3]);
    m.eval();
    const fixed = [run(), run(), run()];
    assert.equal(m.draws, 3);
    assert.deepEqual(fixed[0], outs[4]);
    assert.deepEqual(fixed[2], fixed[0]);
    const never = new FavorAttention('test', { dim_features: 8, feature_redraw_interval: null }, { dim: 16, heads: 2 }, {});
    never.train();
    for (let i = 0; i < 5; i++) never.forwardHeads(q.t, k.t, v.t, {}).dispose();
    assert.equal(never.draws, 1);
    for (const t of [q.t, k.t, v.t]) t.dispose();
    m.dispose();
    never.dispose();
  });

  it('works as a function of q, k, v by name, with the features of its seed', () => {
    const shape = [2, 9, 2, 12];
    const [q, k, v] = [seeded(shape, 10), seeded(shape, 11), seeded(shape, 12)];
    const got = attention(q.t, k.t, v.t, { mechanism: 'favor', dim_features: 24, kernel: 'relu', seed: 4 });
    const w = featureTensor({ ...base, features: 24, kernel: 'relu', seed: 4 }, 12, 0, 'cpu');
    assert.deepEqual(Array.from(host(got)), Array.from(host(favorHeads(q.t, k.t, v.t, w, 'relu'))));
    for (const t of [q.t, k.t, v.t, got, w]) t.dispose();
  });

  for (const kernel of ['softmax', 'relu'] as const) {
    it(`gradcheck of q, k and v, ${kernel} kernel`, () => {
      const inputs = [seeded([1, 5, 2, 4], 13).t, seeded([1, 5, 2, 4], 14).t, seeded([1, 5, 2, 4], 15).t].map((t) => t.requiresGrad_());
      const w = featureTensor({ ...base, features: 6, kernel }, 4, 0, 'cpu');
      try {
        // A small step: the relu kernel's kinks are not crossed.
        assert.equal(gradcheck((q, k, v) => favorHeads(q, k, v, w, kernel), inputs, { eps: kernel === 'relu' ? 1e-3 : 1e-2 }), true);
      } finally {
        for (const t of [...inputs, w]) t.dispose();
      }
    });
  }

  it('trains by name in the small ViT with either kernel (no parameters of its own)', () => {
    assert.deepEqual(vitTrainingStep({ mechanism: 'favor', dim_features: 16, feature_redraw_interval: 1 }).names, []);
    assert.deepEqual(vitTrainingStep({ mechanism: 'favor', kernel: 'relu', orthogonal: false }).names, []);
  });

  it('bad options and inputs throw naming the function and the option', () => {
    const vit = (attention: Record<string, unknown>) => buildViT({ ...SMALL_VIT, attention });
    assert.throws(() => vit({ mechanism: 'favor', dim_features: 0 }), { name: 'RangeError', message: /MultiHeadAttention: favor option dim_features must be at least 1/ });
    assert.throws(() => vit({ mechanism: 'favor', kernel: 'gelu' }), { name: 'TypeError', message: /MultiHeadAttention: expected favor option kernel to be one of 'softmax', 'relu'/ });
    assert.throws(() => vit({ mechanism: 'favor', feature_redraw_interval: 0 }), { name: 'RangeError', message: /favor option feature_redraw_interval must be at least 1/ });
    assert.throws(() => vit({ mechanism: 'favor', seed: -1 }), /favor option seed must be at least 0/);
    assert.throws(() => vit({ mechanism: 'favor', orthogonal: 1 }), { name: 'TypeError', message: /expected favor option orthogonal to be a boolean/ });
    assert.throws(() => vit({ mechanism: 'favor', scale: 0.1 }), /MultiHeadAttention: favor estimates softmax\(q·k\/√D\): it takes no option 'scale'/);
    const q = seeded([1, 6, 1, 4], 1).t;
    assert.throws(() => attention(q, q, q, { mechanism: 'favor', causal: true }), /mechanism 'favor' cannot serve these inputs[^]*no causal form/);
    assert.throws(() => attention(q, q, q, { mechanism: 'favor', scale: 1 }), /options.scale must be 1\/√D/);
    assert.throws(() => attention(q, q, q, { mechanism: 'favor', features: 3 }), /attention: mechanism 'favor' takes no option 'features'/);
    q.dispose();
  });
});

for (const device of DEVICES.filter((d) => d !== 'cpu')) {
  describeDevice(device, 'favor against the CPU', () => {
    for (const kernel of ['softmax', 'relu'] as const) {
      for (const dtype of FLOAT_DTYPES as readonly FloatDType[]) {
        it(`q [2, 197, 2, 12], 56 features, ${kernel} kernel, ${dtype}`, () => {
          const inputs = [seeded([2, 197, 2, 12], 1, 0.7), seeded([2, 197, 2, 12], 2, 0.7), seeded([2, 197, 2, 12], 3)];
          checkAgainstCpu(device, dtype, (d, t) => {
            const [q, k, v] = inputs.map((x) => onDevice(x.t, d, t));
            const w: Tensor = featureTensor({ ...base, features: 56, kernel }, 12, 0, d);
            return favorHeads(q, k, v, w, kernel).cast('float32');
          });
          for (const x of inputs) x.t.dispose();
        });
      }
    }
  });
}
