// A small MLP's loss, linear → add → linear → mul → mean, against its gradients written by
// hand in float64 from the same float32 values.
import * as assert from 'node:assert/strict';
import { add, linear, mean, mul, randn, Tensor, tidy } from '../../ts/index';

type M = number[][];
const rows = (t: Tensor): M => {
  const v = Array.from(t.dataSync());
  const [r, c] = t.rank === 1 ? [1, t.shape[0]] : t.shape;
  return Array.from({ length: r }, (_, i) => v.slice(i * c, (i + 1) * c));
};
const matmulT = (a: M, b: M): M => a.map((ar) => b.map((br) => ar.reduce((s, v, k) => s + v * br[k], 0))); // a bᵀ
const transpose = (a: M): M => a[0].map((_, j) => a.map((r) => r[j]));
const colSum = (a: M): number[] => a[0].map((_, j) => a.reduce((s, r) => s + r[j], 0));

function assertNear(actual: Tensor, expected: number[], what: string): void {
  const got = Array.from(actual.dataSync());
  const scale = Math.max(...expected.map(Math.abs));
  got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]) <= 1e-5 * scale + 1e-7, `${what}[${i}]: ${g} vs float64 ${expected[i]}`));
}

describe('autograd: a small MLP against float64', () => {
  for (const B of [1, 3, 197]) {
    it(`linear → add → linear → mul → mean, batch ${B}: every parameter's gradient`, () => {
      const [I, H, O] = [4, 6, 3];
      const x = randn([B, I], { seed: 1 });
      const w1 = randn([H, I], { seed: 2 }).requiresGrad_();
      const b1 = randn([H], { seed: 3 }).requiresGrad_();
      const c = randn([H], { seed: 4 }).requiresGrad_();
      const w2 = randn([O, H], { seed: 5 }).requiresGrad_();
      const loss = tidy(() => {
        const y = linear(add(linear(x, w1, b1), c), w2);
        return mean(mean(mul(y, y), 1), 0);
      });
      loss.backward();

      const X = rows(x), W1 = rows(w1), W2 = rows(w2), B1 = rows(b1)[0], C = rows(c)[0];
      const z = matmulT(X, W1).map((r) => r.map((v, j) => v + B1[j] + C[j]));
      const y = matmulT(z, W2);
      const dy = y.map((r) => r.map((v) => (2 * v) / (B * O)));
      const dz = dy.map((r) => W2[0].map((_, j) => r.reduce((s, v, o) => s + v * W2[o][j], 0)));
      assertNear(loss, [y.flat().reduce((s, v) => s + v * v, 0) / (B * O)], 'loss');
      assertNear(w2.grad!, matmulT(transpose(dy), transpose(z)).flat(), 'dW2');
      assertNear(c.grad!, colSum(dz), 'dc');
      assertNear(b1.grad!, colSum(dz), 'db1');
      assertNear(w1.grad!, matmulT(transpose(dz), transpose(X)).flat(), 'dW1');
      for (const t of [x, w1, b1, c, w2, loss]) t.dispose();
    });
  }
});
