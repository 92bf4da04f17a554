// The CPU's vectorized GELU (erf) in the GEMM's epilogue (native/cpu/activation_simd.cc): per
// element against float64 over the whole float32 range where GELU is not 0, the negative tail
// included (where 1 + erf(x / sqrt 2) cancels: the vectorized form takes erfc directly).
import * as assert from 'node:assert/strict';
import { cpu, linear, tensor } from '../ts/index';
import { activationBackward } from '../ts/ops/activation_backward';
import { host } from './helpers';
import { normalCdf } from './reference';

const gelu64 = (x: number) => x * normalCdf(x);
// GELU'(x) = Phi(x) + x phi(x).
const geluGrad64 = (x: number) => normalCdf(x) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

// x through linear(x [n, 1], [[1]]) with the GELU epilogue: the product is x exactly.
function geluByLinear(xs: Float32Array): Float32Array {
  const x = tensor(xs, [xs.length, 1]);
  const w = tensor([1], [1, 1]);
  const y = linear(x, w, null, { activation: 'gelu' });
  const out = host(y).slice();
  for (const t of [x, w, y]) t.dispose();
  return out;
}

describe('cpu GELU (erf), vectorized', () => {
  it('matches float64 per element within 1e-6 relative from x = -13 to 13 (gelu(-13) ~ -1e-37)', function () {
    if (cpu.gemmKernel() !== 'avx2' && cpu.gemmKernel() !== 'avx512') this.skip();
    const xs = Float32Array.from({ length: 26001 }, (_, i) => -13 + i * 0.001);
    const got = geluByLinear(xs);
    let worst = 0, at = 0;
    for (let i = 0; i < xs.length; i++) {
      const ref = gelu64(xs[i]);
      if (Math.abs(ref) < 1e-37) continue; // float32's normal range ends at 1.2e-38
      const rel = Math.abs(got[i] - ref) / Math.abs(ref);
      if (rel > worst) { worst = rel; at = xs[i]; }
    }
    console.log(`      worst relative error ${worst.toExponential(2)} at x = ${at}`);
    assert.ok(worst <= 1e-6, `worst relative error ${worst} at x = ${at}`);
  });
  it('its derivative (the backward, dy = 1) matches float64 per element within 1e-6 relative plus one float32 ulp of 1', function () {
    if (cpu.gemmKernel() !== 'avx2' && cpu.gemmKernel() !== 'avx512') this.skip();
    const xs = Float32Array.from({ length: 26001 }, (_, i) => -13 + i * 0.001);
    const x = tensor(xs, [xs.length]);
    const dy = tensor(new Float32Array(xs.length).fill(1), [xs.length]);
    const dx = activationBackward(dy, x, 'gelu');
    const got = host(dx);
    let worst = 0, at = 0;
    for (let i = 0; i < xs.length; i++) {
      const ref = geluGrad64(xs[i]);
      if (Math.abs(ref) < 1e-37) continue;
      // Phi(x) + x phi(x) adds terms up to 1 in size, and crosses 0 near x = -0.75 by cancelling
      // them: the bound is 1e-6 of the result plus one float32 ulp of 1 (2^-23).
      const excess = Math.abs(got[i] - ref) / (1e-6 * Math.abs(ref) + 2 ** -23);
      if (excess > worst) { worst = excess; at = xs[i]; }
    }
    console.log(`      worst error ${worst.toFixed(3)} of the bound, at x = ${at}`);
    assert.ok(worst <= 1, `error ${worst} times the bound at x = ${at}`);
    for (const t of [x, dy, dx]) t.dispose();
  });
  it('keeps 0, infinities and NaN as the formula does', () => {
    const got = geluByLinear(Float32Array.from([0, -0, Infinity, -Infinity, NaN, 40, -40, 1e-30, -1e-30]));
    assert.equal(got[0], 0);
    assert.equal(got[2], Infinity);
    assert.ok(Number.isNaN(got[3]), 'gelu(-inf) = -inf * 0');
    assert.ok(Number.isNaN(got[4]));
    assert.equal(got[5], 40);
    assert.equal(got[6], -0);
    assert.ok(Math.abs(got[7] - 5e-31) < 1e-36 && Math.abs(got[8] + 5e-31) < 1e-36);
  });
});
