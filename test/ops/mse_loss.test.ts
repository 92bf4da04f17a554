// mseLoss (composed of sub, mul and mean) against float64 on every device and dtype, with
// broadcasting and each reduction; the empty cases as PyTorch gives them.
import * as assert from 'node:assert/strict';
import { empty, FLOAT_DTYPES, mseLoss, randn } from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host } from '../helpers';

for (const device of DEVICES) {
  describeDevice(device, 'mseLoss', () => {
    for (const dtype of FLOAT_DTYPES) {
      it(`mean, sum and none match float64 at [197, 96] and with a broadcast target [96], ${dtype}`, () => {
        const seed = freshSeed();
        for (const targetShape of [[197, 96], [96]]) {
          const a = randn([197, 96], { dtype, device, seed });
          const b = randn(targetShape, { dtype, device, seed: seed + 1 });
          const ha = host(a);
          const hb = host(b);
          const squares = Float64Array.from(ha, (v, i) => (v - hb[i % hb.length]) ** 2);
          const sum = squares.reduce((x, y) => x + y, 0);
          const label = `target [${targetShape}] ${dtype} seed ${seed}`;
          const none = mseLoss(a, b, { reduction: 'none' });
          assert.deepEqual(none.shape, [197, 96]);
          assertClose(host(none), squares, TOLERANCE[dtype], `${label} none`);
          const mean = mseLoss(a, b);
          assert.deepEqual(mean.shape, []);
          assertClose(host(mean), [sum / squares.length], TOLERANCE[dtype], `${label} mean`);
          const total = mseLoss(a, b, { reduction: 'sum' });
          assertClose(host(total), [sum], TOLERANCE[dtype], `${label} sum`);
          for (const t of [a, b, none, mean, total]) t.dispose();
        }
      });
    }
    it('empty inputs: the mean is NaN and the sum 0, as PyTorch gives them', () => {
      const a = empty([0, 3], { device });
      assert.ok(Number.isNaN(host(mseLoss(a, a))[0]));
      assert.deepEqual([...host(mseLoss(a, a, { reduction: 'sum' }))], [0]);
      a.dispose();
    });
  });
}

describe('mseLoss argument errors', () => {
  it('refuses shapes that do not broadcast, mixed dtypes and a bad reduction', () => {
    const a = randn([2, 3]);
    assert.throws(() => mseLoss(a, randn([2])), { name: 'RangeError', message: /^mseLoss: input \[2, 3\] and target \[2\] do not broadcast together/ });
    assert.throws(() => mseLoss(a, randn([2, 3], { dtype: 'float16' })), { name: 'TypeError', message: /^mseLoss: expected target to be a float32 tensor like input/ });
    assert.throws(() => mseLoss(a, a, { reduction: 'max' as never }), { name: 'TypeError', message: /^mseLoss: expected options.reduction to be one of/ });
    a.dispose();
  });
});
