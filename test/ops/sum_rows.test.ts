// sumRows (the tape's column reduction) against float64 sums.
import * as assert from 'node:assert/strict';
import { Device, FLOAT_DTYPES, FloatDType, randn, tensor } from '../../ts/index';
import { sumRows } from '../../ts/ops/sum_rows';
import { native } from '../../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, poisoned } from '../helpers';
import { sumRowsRef } from '../reference';

const ROWS = [1, 3, 197, 4099];
const COLS = [1, 12, 96, 97, 768];

function check(device: Device, dtype: FloatDType, shape: readonly number[], strided = false): void {
  const seed = freshSeed();
  const cols = shape[shape.length - 1];
  const base = randn(strided ? [...shape].reverse() : shape, { dtype, device, seed });
  const x = strided ? base.permute([...shape.keys()].reverse()) : base;
  const out = sumRows(x);
  assert.deepEqual(out.shape, [cols]);
  assertClose(host(out), sumRowsRef(host(x), cols), TOLERANCE[dtype], `sumRows [${shape}] ${dtype} seed ${seed}`);
  for (const t of [base, x, out]) t.dispose();
}

for (const device of DEVICES) {
  describeDevice(device, 'sumRows', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const rows of ROWS) {
        it(`matches float64 at rows ${rows}, cols ${COLS.join('/')}, ${dtype}`, () => {
          for (const cols of COLS) check(device, dtype, [rows, cols]);
        });
      }
      it(`sums over every leading dim, of a strided x, ${dtype}`, () => {
        check(device, dtype, [2, 197, 96]);
        check(device, dtype, [5, 3, 97], true);
        check(device, dtype, [96]);
      });
      it(`keeps float32 sums where the dtype's own would stall (4099 rows of ones: float16 stops at 2048), ${dtype}`, () => {
        const x = tensor(new Float32Array(4099 * 3).fill(1), [4099, 3], { dtype, device });
        assert.deepEqual([...host(sumRows(x))], [4099, 4099, 4099].map((v) => host(tensor([v], [1], { dtype }))[0]));
        x.dispose();
      });
      it(`writes zeros for no rows into a poisoned out, ${dtype}`, () => {
        const out = poisoned([12], dtype, device);
        const x = randn([0, 12], { dtype, device });
        native().sumRows(out, x);
        assert.deepEqual([...host(out)], new Array(12).fill(0));
        for (const t of [out, x]) t.dispose();
      });
    }
  });
}

describe('sumRows argument errors', () => {
  it('rejects a rank-0 x, a non-float x, and (in the addon) an out of the wrong length or overlapping x', () => {
    assert.throws(() => sumRows(randn([])), { name: 'RangeError', message: /^sumRows: x must be \[\.\.\., C\]/ });
    assert.throws(() => sumRows(tensor([1, 2], [2], { dtype: 'int32' })), { name: 'TypeError', message: /^sumRows: expected x to be a float32, float16 or bfloat16 tensor/ });
    const x = randn([4, 6]);
    assert.throws(() => native().sumRows(randn([5]), x), /sumRows: out must be contiguous, of x's dtype, with x's last dim of elements/);
    assert.throws(() => native().sumRows(x._view([6], [1], 6), x), /sumRows: out must not overlap x/);
  });
});
