// Two pre-norm MLP blocks, layerNorm → linear+gelu → linear (+ residual, fused), then a
// weighted mean, against every gradient written out in float64 from the same float32 values
// (the forward and backward references of test/reference.ts).
import * as assert from 'node:assert/strict';
import { layerNorm, linear, mean, mul, randn, Tensor, tidy } from '../../ts/index';
import { activationGradRef, activationRef, linearRef, normBackwardRef, normRef } from '../reference';

const EPS = 1e-5;
const f64 = (t: Tensor) => Float64Array.from(t.dataSync());

interface Block { lw: Tensor; lb: Tensor; w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor }

function tsBlock(x: Tensor, p: Block): Tensor {
  const h = linear(layerNorm(x, p.lw, p.lb, EPS), p.w1, p.b1, { activation: 'gelu' });
  return linear(h, p.w2, p.b2, { residual: x });
}

/** One block's forward in float64, keeping what its backward needs. */
function refForward(X: Float64Array, p: Record<keyof Block, Float64Array>, B: number, C: number, H: number) {
  const n = normRef(X, C, p.lw, p.lb, EPS, false);
  const pre = linearRef(n, B, C, p.w1, H, p.b1);
  const a = pre.map((v) => activationRef('gelu', v));
  const out = linearRef(a, B, H, p.w2, C, p.b2).map((v, i) => v + X[i]);
  return { n, pre, a, out };
}

/** dOut → the block's parameter gradients and dX, in float64. */
function refBackward(dO: Float64Array, X: Float64Array, p: Record<keyof Block, Float64Array>, f: ReturnType<typeof refForward>, B: number, C: number, H: number) {
  const outer = (g: Float64Array, G: number, v: Float64Array, V: number) => { // Σ rows gᵀ v: [G, V]
    const r = new Float64Array(G * V);
    for (let i = 0; i < B; i++) for (let j = 0; j < G; j++) for (let k = 0; k < V; k++) r[j * V + k] += g[i * G + j] * v[i * V + k];
    return r;
  };
  const colSum = (g: Float64Array, G: number) => { const r = new Float64Array(G); g.forEach((v, i) => { r[i % G] += v; }); return r; };
  const back = (g: Float64Array, G: number, w: Float64Array, V: number) => { // g [B, G] · w [G, V]
    const r = new Float64Array(B * V);
    for (let i = 0; i < B; i++) for (let j = 0; j < G; j++) for (let k = 0; k < V; k++) r[i * V + k] += g[i * G + j] * w[j * V + k];
    return r;
  };
  const da = back(dO, C, p.w2, H);
  const dpre = da.map((v, i) => v * activationGradRef('gelu', f.pre[i]));
  const dn = back(dpre, H, p.w1, C);
  const nb = normBackwardRef(dn, X, C, p.lw, EPS, false);
  return {
    grads: { w2: outer(dO, C, f.a, H), b2: colSum(dO, C), w1: outer(dpre, H, f.n, C), b1: colSum(dpre, H), lw: nb.dweight, lb: nb.dbias },
    dX: nb.dx.map((v, i) => v + dO[i]),
  };
}

function assertNear(actual: Tensor, expected: Float64Array, what: string): void {
  const got = actual.dataSync();
  const scale = Math.max(...expected.map(Math.abs));
  got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]) <= 1e-4 * scale + 1e-7, `${what}[${i}]: ${g} vs float64 ${expected[i]}`));
}

describe('autograd: two pre-norm MLP blocks against float64', () => {
  for (const B of [1, 3, 197]) {
    it(`layerNorm → linear+gelu → linear+residual, twice, then a weighted mean; batch ${B}`, () => {
      const [C, H] = [12, 48];
      let seed = 40;
      const param = (shape: number[], scale = 1) => tidy(() => mul(randn(shape, { seed: seed++ }), scale)).requiresGrad_();
      const blocks: Block[] = [0, 1].map(() => ({
        lw: param([C]), lb: param([C]), w1: param([H, C], 0.3), b1: param([H]), w2: param([C, H], 0.15), b2: param([C]),
      }));
      const x = randn([B, C], { seed: 7 }).requiresGrad_();
      const c = randn([B, C], { seed: 8 });
      const loss = tidy(() => mean(mean(mul(tsBlock(tsBlock(x, blocks[0]), blocks[1]), c), 1), 0));
      loss.backward();

      const ps = blocks.map((b) => Object.fromEntries(Object.entries(b).map(([k, t]) => [k, f64(t)])) as Record<keyof Block, Float64Array>);
      const X0 = f64(x);
      const f1 = refForward(X0, ps[0], B, C, H);
      const f2 = refForward(f1.out, ps[1], B, C, H);
      const cv = f64(c);
      assertNear(loss, Float64Array.of(f2.out.reduce((s, v, i) => s + v * cv[i], 0) / (B * C)), 'loss');
      const b2 = refBackward(cv.map((v) => v / (B * C)), f1.out, ps[1], f2, B, C, H);
      const b1 = refBackward(b2.dX, X0, ps[0], f1, B, C, H);
      for (const [k, r] of [b1, b2].entries()) {
        for (const name of Object.keys(r.grads) as (keyof Block)[]) assertNear(blocks[k][name].grad!, r.grads[name], `block ${k} d${name}`);
      }
      assertNear(x.grad!, b1.dX, 'dx');
      for (const t of [x, c, loss, ...blocks.flatMap((b) => Object.values(b))]) t.dispose();
    });
  }
});
