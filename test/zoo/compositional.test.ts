// compositional: searches and retrievals composed by rules, with its own projections (it takes
// the tokens), against a float64 reference written from the paper; gradients of the tokens and
// every weight; by name in the ViT; bad options.
import * as assert from 'node:assert/strict';
import { attention, buildViT, FloatDType, FLOAT_DTYPES, gradcheck, Tensor, tensor } from '../../ts/index';
import { Affine, CompositionalAttention, compositionalTokens, CompositionalWeights } from '../../ts/attention/zoo/compositional';
import { assertClose, describeDevice, DEVICES, host, TOLERANCE } from '../helpers';
import { AffineRef, compositionalRef, mat } from './lowrank_reference';
import { checkAgainstCpu, onDevice, seeded, SMALL_VIT, vitTrainingStep } from './lowrank_helpers';

const toRef = (a: Affine | null): AffineRef | null =>
  a && { W: mat(a.weight.shape[0], a.weight.shape[1], Float64Array.from(host(a.weight))), b: a.bias && Float64Array.from(host(a.bias)) };

// x [B, N, E], heads, options.
const CASES: [number[], number, Record<string, unknown>][] = [
  [[2, 197, 24], 2, {}], [[1, 1, 24], 2, { qk_rule: true }], [[2, 33, 12], 3, { num_rules: 2, qk_rule: true, dim_selection: 5 }],
  [[1, 50, 24], 2, { num_rules: 4, dim_attn: 16, dim_selection: 3 }],
];

describe('compositional', () => {
  for (const [shape, heads, options] of CASES) {
    it(`matches the float64 reference at x [${shape}], ${heads} searches, ${JSON.stringify(options)}`, () => {
      const module = new CompositionalAttention('test', options, { dim: shape[2], heads }, { seed: 3 });
      const x = seeded(shape, 1);
      const out = module.forwardTokens(x.t, {});
      assert.deepEqual(out.shape, shape);
      const w = module.weights();
      const s = module.settings;
      const refW = { q: toRef(w.q)!, k: toRef(w.k)!, v: toRef(w.v)!, selectionQuery: toRef(w.selectionQuery)!, selectionKey: toRef(w.selectionKey), score: toRef(w.score), out: toRef(w.out) };
      const [B, N, E] = shape;
      const want = new Float64Array(B * N * E);
      for (let b = 0; b < B; b++) {
        const xb = mat(N, E, Float64Array.from(x.ref.data).subarray(b * N * E, (b + 1) * N * E));
        want.set(compositionalRef(xb, refW, s.searches, s.rules, s.selection, s.qkRule, s.scale).v, b * N * E);
      }
      assertClose(host(out), want, TOLERANCE.float32, `compositional [${shape}]`);
      for (const t of [x.t, out]) t.dispose();
      module.dispose();
    });
  }

  it('makes its own projections (the layer drops its qkv) and an output projection only when S·d_v ≠ E', () => {
    const names = (options: Record<string, unknown>) => [...new CompositionalAttention('test', options, { dim: 24, heads: 2 }, {}).parameters().keys()];
    assert.deepEqual(names({}), ['q_proj.weight', 'q_proj.bias', 'k_proj.weight', 'k_proj.bias', 'v_proj.weight', 'v_proj.bias', 'value_q.weight', 'value_q.bias', 'score.weight', 'score.bias']);
    assert.ok(names({ qk_rule: true }).includes('value_k.weight') && !names({ qk_rule: true }).includes('score.weight'));
    assert.ok(names({ num_rules: 3 }).includes('out_proj.weight'), 'S·d_v = 2·8 ≠ 24');
    const model = buildViT({ ...SMALL_VIT, attention: { mechanism: 'compositional' } }, { seed: 1 });
    assert.ok(![...model.parameters().keys()].some((n) => n.includes('.qkv.')));
    model.dispose();
  });

  for (const qkRule of [false, true]) {
    it(`gradcheck of the tokens and every weight, qk_rule ${qkRule}`, () => {
      const S = 2;
      const R = 3;
      const [E, ds, dv, N] = [4, 2, 2, 3];
      let seed = 20;
      const t = (shape: number[], std = 0.5) => seeded(shape, seed++, std).t.requiresGrad_();
      const shapes = [[1, N, E], [E, E], [E], [E, E], [E], [R * dv, E], [R * dv], [S * ds, E], [S * ds], qkRule ? [ds, dv] : [1, dv + ds], qkRule ? [ds] : [1], [E, S * dv], [E]];
      const inputs = shapes.map((s, i) => t(s, i === 0 ? 1 : 0.5));
      const pair = (a: Tensor, b: Tensor): Affine => ({ weight: a, bias: b });
      const f = (...x: Tensor[]) => {
        const w: CompositionalWeights = {
          q: pair(x[1], x[2]), k: pair(x[3], x[4]), v: pair(x[5], x[6]), selectionQuery: pair(x[7], x[8]),
          selectionKey: qkRule ? pair(x[9], x[10]) : null, score: qkRule ? null : pair(x[9], x[10]), out: pair(x[11], x[12]),
        };
        return compositionalTokens(x[0], w, { searches: S, rules: R, selection: ds, valueDim: dv, qkRule, scale: 0.7 });
      };
      try {
        assert.equal(gradcheck(f, inputs), true);
      } finally {
        for (const x of inputs) x.dispose();
      }
    });
  }

  it('trains by name in the small ViT, with either rule score', () => {
    const { names } = vitTrainingStep({ mechanism: 'compositional', num_rules: 3 });
    assert.ok(names.includes('blocks.0.attn.attention.score.weight') && names.includes('blocks.1.attn.attention.out_proj.bias'), names.join(' '));
    assert.ok(vitTrainingStep({ mechanism: 'compositional', qk_rule: true }).names.includes('blocks.1.attn.attention.value_k.weight'));
  });

  it('bad options and calls throw naming the function and the option', () => {
    const vit = (attention: Record<string, unknown>) => buildViT({ ...SMALL_VIT, attention });
    assert.throws(() => vit({ mechanism: 'compositional', num_rules: 0 }), { name: 'RangeError', message: /MultiHeadAttention: compositional option num_rules must be at least 1/ });
    assert.throws(() => vit({ mechanism: 'compositional', num_rules: 5 }), { name: 'RangeError', message: /MultiHeadAttention: compositional option dim_attn \(24\) must be a multiple of num_rules \(5\)/ });
    assert.throws(() => vit({ mechanism: 'compositional', qk_rule: 'yes' }), { name: 'TypeError', message: /expected compositional option qk_rule to be a boolean/ });
    assert.throws(() => vit({ mechanism: 'compositional', dim_selection: -2 }), /compositional option dim_selection must be at least 1/);
    assert.throws(() => vit({ mechanism: 'compositional', q_compose: true }), /mechanism 'compositional' takes no option 'q_compose'/);
    const q = tensor(new Float32Array(24), [1, 6, 1, 4]);
    assert.throws(() => attention(q, q, q, { mechanism: 'compositional' }), /mechanism 'compositional' has its own q, k, v projections[^]*module only/);
    q.dispose();
  });
});

for (const device of DEVICES.filter((d) => d !== 'cpu')) {
  describeDevice(device, 'compositional against the CPU', () => {
    for (const dtype of FLOAT_DTYPES as readonly FloatDType[]) {
      for (const qkRule of [false, true]) {
        it(`x [2, 197, 24], 2 searches, 3 rules, qk_rule ${qkRule}, ${dtype}`, () => {
          const module = new CompositionalAttention('test', { num_rules: 3, qk_rule: qkRule }, { dim: 24, heads: 2 }, { seed: 5 });
          const x = seeded([2, 197, 24], 1);
          checkAgainstCpu(device, dtype, (d, t) => {
            const m = new CompositionalAttention('test', { num_rules: 3, qk_rule: qkRule }, { dim: 24, heads: 2 }, { seed: 5 });
            m.loadStateDict(module.parameters());
            m.to(d).cast(t);
            const out = m.forwardTokens(onDevice(x.t, d, t), {}).cast('float32');
            m.dispose();
            return out;
          });
          x.t.dispose();
          module.dispose();
        });
      }
    }
  });
}
