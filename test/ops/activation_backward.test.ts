// activationBackward and biasActivationBackward for every activation against the float64
// derivatives (test/reference.ts), which are themselves held to finite differences.
import * as assert from 'node:assert/strict';
import { Device, FLOAT_DTYPES, FloatDType, randn, tensor } from '../../ts/index';
import { activationBackward, biasActivationBackward } from '../../ts/ops/activation_backward';
import { native } from '../../ts/native';
import { ACTIVATION_VARIANTS, DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, poisoned } from '../helpers';
import { activationGradRef, activationRef, biasActivationBackwardRef, sumRowsRef } from '../reference';

const SHAPES = [[1, 1], [3, 12], [197, 96], [197, 97], [3, 768], [2, 197, 12]];

/**
 * assertClose's ‖actual − reference‖ / ‖reference‖, with each element's reference magnitude
 * floored where rounding, not the kernel, sets the error:
 * - at |dy| / 128 for every dtype (dbias: its column's sum of |dy|, / 128): near a zero of
 *   the derivative (GELU's at x = -0.75) it is a difference of terms of size ~0.23 (Phi(x) and
 *   x phi(x)), so its error is absolute, about eps |dy| / 4, and a [1, 1] case drawn within 1e-2
 *   of the zero gave 4e-5 in float32 (gelu_tanh, seed 1513449956);
 * - at float16's smallest normal (2^-14): below it float16 keeps a fixed spacing of 2^-24, so a
 *   relative bound means nothing there (a [1, 1] case whose gradient is 1.4e-6 rounds by up to 2%).
 */
function assertGradClose(actual: ArrayLike<number>, reference: ArrayLike<number>, dy: ArrayLike<number>, dtype: FloatDType, label: string): void {
  let num = 0;
  let den = 0;
  for (let i = 0; i < reference.length; i++) {
    num += (actual[i] - reference[i]) ** 2;
    den += Math.max(reference[i] ** 2, (dy[i] / 128) ** 2, dtype === 'float16' ? 2 ** -28 : 0);
  }
  const err = Number.isNaN(num) ? Infinity : Math.sqrt(num / den);
  assert.ok(err <= TOLERANCE[dtype], `${label} relative error ${err.toExponential(3)} > ${TOLERANCE[dtype]}`);
}

function check(device: Device, dtype: FloatDType, shape: readonly number[], v: (typeof ACTIVATION_VARIANTS)[number], withBias: boolean): void {
  const seed = freshSeed();
  const cols = shape[shape.length - 1];
  // Spread over [-4, 4]: both sides of every kink and SmeLU's quadratic band.
  const x = tensor(randn(shape, { seed }).dataSync().map((u) => u * 2), shape, { dtype, device });
  const dy = randn(shape, { dtype, device, seed: seed + 1 });
  const bias = withBias ? randn([cols], { dtype, device, seed: seed + 2 }) : null;
  const label = `${v.label} [${shape}] bias ${withBias} ${dtype} seed ${seed}`;
  const ref = biasActivationBackwardRef(host(dy), host(x), cols, bias && host(bias), v.name, v.params);
  if (withBias) {
    const g = biasActivationBackward(dy, x, bias, v.spec);
    assertGradClose(host(g.dx), ref.dx, host(dy), dtype, `${label} dx`);
    assertGradClose(host(g.dbias!), ref.dbias, sumRowsRef(host(dy).map(Math.abs), cols), dtype, `${label} dbias`);
    g.dx.dispose();
    g.dbias!.dispose();
  } else {
    const dx = activationBackward(dy, x, v.spec);
    assertGradClose(host(dx), ref.dx, host(dy), dtype, `${label} dx`);
    dx.dispose();
  }
  for (const t of [x, dy, bias]) t?.dispose();
}

describe('activation backward references', () => {
  it('activationGradRef matches finite differences of activationRef for every activation', () => {
    for (const v of ACTIVATION_VARIANTS) {
      for (let i = 0; i < 80; i++) {
        const x = -4 + i * 0.1 + 0.013; // never on a kink
        const fd = (activationRef(v.name, x + 1e-6, v.params) - activationRef(v.name, x - 1e-6, v.params)) / 2e-6;
        const g = activationGradRef(v.name, x, v.params);
        assert.ok(Math.abs(fd - g) <= 1e-6 * Math.max(1, Math.abs(g)), `${v.label} at ${x}: ${g} vs ${fd}`);
      }
    }
  });
});

for (const device of DEVICES) {
  describeDevice(device, 'activation backward', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const v of ACTIVATION_VARIANTS) {
        it(`${v.label}: activationBackward and biasActivationBackward match float64, ${dtype}`, () => {
          for (const shape of SHAPES) {
            check(device, dtype, shape, v, false);
            check(device, dtype, shape, v, true);
          }
        });
      }
      it(`each element of gelu and gelu_tanh's gradient keeps its relative accuracy in the tails (x to ±6), ${dtype}`, () => {
        // 1 + tanh(u) cancelled to a 1.8% error at x = -4.7 (seed 1042136203 of the case above), and
        // 1 + erf(x / √2) to 3% at x = -5.6 (seed 1988327290).
        const xs = Array.from({ length: 25 }, (_, i) => -6 + i * 0.5 + 0.0137);
        const x = tensor(xs, [xs.length], { dtype, device });
        const dy = tensor(xs.map(() => 1), [xs.length], { dtype, device });
        for (const name of ['gelu', 'gelu_tanh'] as const) {
          const dx = host(activationBackward(dy, x, name));
          const xr = host(x);
          for (let i = 0; i < xs.length; i++) {
            const want = activationGradRef(name, xr[i]);
            const subnormal = dtype === 'float16' ? 2 ** -24 : 0; // float16's spacing below 2^-14
            assert.ok(Math.abs(dx[i] - want) <= 4 * TOLERANCE[dtype] * Math.abs(want) + subnormal, `${name} at ${xr[i]}: ${dx[i]} vs ${want}`);
          }
        }
        x.dispose();
        dy.dispose();
      });
      it(`the kinks take the x <= 0 side (relu'(0) = 0, leaky_relu'(0) = slope), ${dtype}`, () => {
        const x = tensor([0, 0, 0], [3], { dtype, device });
        const dy = tensor([1, 1, 1], [3], { dtype, device });
        for (const [spec, want] of [['relu', 0], [{ name: 'leaky_relu', slope: 0.25 }, 0.25], ['squared_relu', 0]] as const) {
          const dx = activationBackward(dy, x, spec);
          assert.deepEqual([...host(dx)], [want, want, want], JSON.stringify(spec));
          dx.dispose();
        }
        x.dispose();
        dy.dispose();
      });
      it(`a scalar x, a strided x, no rows (dbias zeros), and dx in place over dy, ${dtype}`, () => {
        const seed = freshSeed();
        const s = tensor([0.5], [], { dtype, device });
        const ds = tensor([2], [], { dtype, device });
        const dxs = activationBackward(ds, s, 'gelu');
        assertClose(host(dxs), [2 * activationGradRef('gelu', host(s)[0])], TOLERANCE[dtype], 'scalar');
        const base = randn([96, 197], { dtype, device, seed });
        const xt = base.transpose();
        const dy = randn([197, 96], { dtype, device, seed: seed + 1 });
        const g = biasActivationBackward(dy, xt, null, 'gelu_tanh');
        const ref = biasActivationBackwardRef(host(dy), host(xt), 96, null, 'gelu_tanh');
        assertClose(host(g.dx), ref.dx, TOLERANCE[dtype], `strided dx, seed ${seed}`);
        assertClose(host(g.dbias!), ref.dbias, TOLERANCE[dtype], `strided dbias, seed ${seed}`);
        const e = biasActivationBackward(randn([0, 12], { dtype, device }), randn([0, 12], { dtype, device }), null, 'relu');
        assert.deepEqual([...host(e.dbias!)], new Array(12).fill(0));
        const x = randn([3, 97], { dtype, device, seed: seed + 2 });
        const d = randn([3, 97], { dtype, device, seed: seed + 3 });
        const dbias = poisoned([97], dtype, device);
        const ref2 = biasActivationBackwardRef(host(d), host(x), 97, null, 'gelu');
        native().activationBackward(d, dbias, d, x, null, 2, 0, 0);
        assertClose(host(d), ref2.dx, TOLERANCE[dtype], `in place dx, seed ${seed}`);
        assertClose(host(dbias), ref2.dbias, TOLERANCE[dtype], `in place dbias, seed ${seed}`);
        for (const t of [s, ds, dxs, base, xt, dy, g.dx, g.dbias, e.dx, e.dbias, x, dbias, d]) t?.dispose();
      });
    }
  });
}

describe('activation backward argument errors', () => {
  const x = randn([4, 6]);
  it('rejects a dy of another shape, an unknown activation, a bias of the wrong length and a scalar with a bias gradient', () => {
    assert.throws(() => activationBackward(randn([4, 5]), x, 'relu'), { name: 'RangeError', message: /^activationBackward: dy must have x's shape \[4, 6\]/ });
    assert.throws(() => activationBackward(x, x, 'swish' as never), { name: 'TypeError', message: /^activationBackward: expected activation to be one of/ });
    assert.throws(() => biasActivationBackward(x, x, randn([5]), 'relu'), { name: 'RangeError', message: /^biasActivationBackward: bias must be \[6\]/ });
    assert.throws(() => biasActivationBackward(randn([]), randn([]), null, 'relu'), { name: 'RangeError', message: /^biasActivationBackward: x must have at least one dimension for a bias gradient/ });
    assert.throws(() => biasActivationBackward(x, x, null, 'relu', { biasGrad: 'yes' as never }), { name: 'TypeError', message: /^biasActivationBackward: expected options.biasGrad to be a boolean/ });
  });
  it('the addon refuses dbias overlapping dx', () => {
    const buf = randn([30]);
    const dx = buf._view([4, 6], [6, 1], 0);
    const db = buf._view([6], [1], 20);
    assert.throws(() => native().activationBackward(dx, db, x, x, null, 1, 0, 0), /activationBackward: dbias must not overlap dx/);
    for (const t of [buf, dx, db]) t.dispose();
  });
});
