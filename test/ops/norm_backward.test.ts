// layerNormBackward and rmsNormBackward against the float64 chain rule (test/reference.ts),
// which is itself held to finite differences of the forward reference.
import * as assert from 'node:assert/strict';
import { Device, FLOAT_DTYPES, FloatDType, randn, tensor } from '../../ts/index';
import { layerNormBackward, rmsNormBackward } from '../../ts/ops/norm_backward';
import { native } from '../../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, poisoned } from '../helpers';
import { finiteDifferenceVjp, normBackwardRef, normRef } from '../reference';

const ROWS = [1, 3, 197];
const COLS = [1, 12, 96, 97, 768];

interface Case { rms: boolean; weight: boolean; bias: boolean; eps?: number; offset?: number; strided?: boolean; lead?: number[] }

function check(device: Device, dtype: FloatDType, rows: number, cols: number, c: Case): void {
  const seed = freshSeed();
  const shape = c.lead ? [...c.lead, cols] : [rows, cols];
  const stored = c.strided ? [cols, rows] : shape;
  let values = randn(stored, { seed }).dataSync();
  if (c.offset) values = values.map((v) => v + c.offset!);
  const base = tensor(values, stored, { dtype, device });
  const x = c.strided ? base.transpose() : base;
  const dy = randn(shape, { dtype, device, seed: seed + 1 });
  const weight = c.weight ? randn([cols], { dtype, device, seed: seed + 2 }) : null;
  // One column: rms's dx is g · eps / (x² + eps)^1.5, below float16's normal range at eps 1e-6
  // (a subnormal result keeps a few bits): a larger eps keeps it representable.
  const eps = c.eps ?? (cols === 1 ? 0.1 : c.rms ? 1e-6 : 1e-5);
  const label = `${c.rms ? 'rmsNormBackward' : 'layerNormBackward'} [${shape}] ${dtype} seed ${seed}`;
  const options = { weightGrad: true, biasGrad: c.bias };
  const g = c.rms ? rmsNormBackward(dy, x, weight, eps, options) : layerNormBackward(dy, x, weight, eps, options);
  const ref = normBackwardRef(host(dy), host(x), cols, weight && host(weight), eps, c.rms);
  assert.deepEqual(g.dx.shape, shape);
  assertClose(host(g.dx), ref.dx, TOLERANCE[dtype], `${label} dx`);
  assertClose(host(g.dweight!), ref.dweight, TOLERANCE[dtype], `${label} dweight`);
  if (c.bias) assertClose(host(g.dbias!), ref.dbias, TOLERANCE[dtype], `${label} dbias`);
  else assert.equal(g.dbias, null);
  for (const t of [base, x, dy, weight, g.dx, g.dweight, g.dbias]) t?.dispose();
}

describe('norm backward references', () => {
  it('normBackwardRef matches finite differences of normRef (x, weight and bias), layer and rms', () => {
    const cols = 7;
    const x = Float64Array.from({ length: 3 * cols }, (_, i) => Math.sin(i * 1.7) * 2 + 0.3);
    const dy = Float64Array.from({ length: 3 * cols }, (_, i) => Math.cos(i * 0.9));
    const w = Float64Array.from({ length: cols }, (_, i) => 0.5 + i / 5);
    const b = Float64Array.from({ length: cols }, (_, i) => i / 7 - 0.4);
    for (const rms of [false, true]) {
      const ref = normBackwardRef(dy, x, cols, w, 1e-5, rms);
      assertClose(ref.dx, finiteDifferenceVjp((v) => normRef(v, cols, w, b, 1e-5, rms), x, dy), 1e-7, `dx rms ${rms}`);
      assertClose(ref.dweight, finiteDifferenceVjp((v) => normRef(x, cols, v, b, 1e-5, rms), w, dy), 1e-7, `dweight rms ${rms}`);
      assertClose(ref.dbias, finiteDifferenceVjp((v) => normRef(x, cols, w, v, 1e-5, rms), b, dy), 1e-7, `dbias rms ${rms}`);
    }
  });
});

for (const device of DEVICES) {
  describeDevice(device, 'norm backward', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const rows of ROWS) {
        it(`layerNormBackward and rmsNormBackward match float64 at rows ${rows}, cols ${COLS.join('/')}, ${dtype}`, () => {
          for (const cols of COLS) {
            check(device, dtype, rows, cols, { rms: false, weight: true, bias: true });
            check(device, dtype, rows, cols, { rms: true, weight: true, bias: false });
          }
        });
      }
      it(`without a weight, with eps 0.1, a strided x, a large mean and 3-D x, ${dtype}`, () => {
        check(device, dtype, 197, 97, { rms: false, weight: false, bias: true });
        check(device, dtype, 197, 97, { rms: true, weight: false, bias: true });
        check(device, dtype, 3, 768, { rms: false, weight: true, bias: true, eps: 0.1 });
        check(device, dtype, 197, 96, { rms: false, weight: true, bias: true, strided: true });
        check(device, dtype, 197, 768, { rms: false, weight: true, bias: true, offset: 10 });
        check(device, dtype, 0, 96, { rms: false, weight: true, bias: true, lead: [2, 197] });
      });
      it(`writes every element of its poisoned outputs and gives zero parameter gradients for no rows, ${dtype}`, () => {
        const x = randn([0, 12], { dtype, device });
        const dy = randn([0, 12], { dtype, device });
        const dx = poisoned([0, 12], dtype, device);
        const dw = poisoned([12], dtype, device);
        const db = poisoned([12], dtype, device);
        native().normBackward(dx, dw, db, dy, x, null, 1e-5, false);
        assert.deepEqual([...host(dw), ...host(db)], new Array(24).fill(0));
        for (const t of [x, dy, dx, dw, db]) t.dispose();
      });
      it(`the addon writes dx in place over dy, ${dtype}`, () => {
        const seed = freshSeed();
        const x = randn([3, 97], { dtype, device, seed });
        const dy = randn([3, 97], { dtype, device, seed: seed + 1 });
        const ref = normBackwardRef(host(dy), host(x), 97, null, 1e-5, false);
        const dw = poisoned([97], dtype, device);
        native().normBackward(dy, dw, null, dy, x, null, 1e-5, false);
        assertClose(host(dy), ref.dx, TOLERANCE[dtype], `in place, seed ${seed}`);
        assertClose(host(dw), ref.dweight, TOLERANCE[dtype], `dweight in place, seed ${seed}`);
        for (const t of [x, dy, dw]) t.dispose();
      });
    }
  });
}

describe('norm backward argument errors', () => {
  const x = randn([4, 6]);
  const w = randn([6]);
  it('rejects a dy of another shape, dtype or a non-tensor', () => {
    assert.throws(() => layerNormBackward(randn([4, 5]), x, w), { name: 'RangeError', message: /^layerNormBackward: dy must have x's shape \[4, 6\], got \[4, 5\]/ });
    assert.throws(() => layerNormBackward(randn([4, 6], { dtype: 'float16' }), x, w), { name: 'TypeError', message: /^layerNormBackward: expected dy to be a float32 tensor like x/ });
    assert.throws(() => rmsNormBackward(null as never, x, w), { name: 'TypeError', message: /^rmsNormBackward: expected dy to be a Tensor/ });
  });
  it('rejects a weight of the wrong length, a negative eps and a non-boolean option', () => {
    assert.throws(() => layerNormBackward(x, x, randn([5])), { name: 'RangeError', message: /^layerNormBackward: weight must be \[6\]/ });
    assert.throws(() => layerNormBackward(x, x, w, -1), { name: 'RangeError', message: /^layerNormBackward: eps must be non-negative/ });
    assert.throws(() => layerNormBackward(x, x, w, 1e-5, { biasGrad: 1 as never }), { name: 'TypeError', message: /^layerNormBackward: expected options.biasGrad to be a boolean/ });
  });
  it('the addon refuses dweight overlapping dx, and dx partly overlapping dy', () => {
    const buf = randn([30]);
    const dx = buf._view([4, 6], [6, 1], 0);
    const dw = buf._view([6], [1], 20);
    assert.throws(() => native().normBackward(dx, dw, null, x, x, null, 1e-5, false), /normBackward: dweight must not overlap dx/);
    const dy = buf._view([4, 6], [6, 1], 3);
    assert.throws(() => native().normBackward(dx, null, null, dy, x, null, 1e-5, false), /normBackward: dx must be dy itself or not overlap it/);
    for (const t of [buf, dx, dw, dy]) t.dispose();
  });
});
