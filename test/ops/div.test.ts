// div: a / (b·alpha) with numpy broadcasting, against float64 on every device and dtype, its
// gradient by finite differences, and its argument errors.
import * as assert from 'node:assert/strict';
import { div, FLOAT_DTYPES, randn, rand, Tensor, tensor } from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, itGradchecks } from '../helpers';

// b drawn in [0.5, 2) with a random sign: no quotient blows up, so the relative tolerances mean something.
function divisor(shape: number[], dtype: 'float32' | 'float16' | 'bfloat16', device: 'cpu' | 'cuda:0', seed: number): Tensor {
  const u = rand(shape, { seed });
  const values = Array.from(host(u), (x, i) => (i % 3 === 1 ? -1 : 1) * (0.5 + 1.5 * x));
  u.dispose();
  return tensor(Float32Array.from(values), shape, { dtype, device });
}

function broadcastIndex(index: number, shape: number[], of: number[]): number {
  let flat = 0;
  let rem = index;
  const digits: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    digits[d] = rem % shape[d];
    rem = Math.floor(rem / shape[d]);
  }
  const lead = shape.length - of.length;
  for (let d = 0; d < of.length; d++) flat = flat * of[d] + (of[d] === 1 ? 0 : digits[lead + d]);
  return flat;
}

const CASES: [number[], number[]][] = [[[197, 12], [197, 12]], [[2, 197, 97], [97]], [[3, 1], [1, 5]], [[1], [1]], [[2, 3, 4], [2, 1, 4]]];

for (const device of DEVICES) {
  describeDevice(device, 'div', () => {
    for (const dtype of FLOAT_DTYPES) {
      it(`matches float64 over broadcasts and alpha, ${dtype}`, () => {
        for (const [as, bs] of CASES) {
          const seed = freshSeed();
          const a = randn(as, { dtype, device, seed });
          const b = divisor(bs, dtype, device, seed + 1);
          const out = div(a, b, { alpha: 0.75 });
          const shape = out.shape as number[];
          const ha = host(a);
          const hb = host(b);
          const want = Array.from({ length: out.size }, (_, i) => ha[broadcastIndex(i, shape, as)] / (hb[broadcastIndex(i, shape, bs)] * 0.75));
          assertClose(host(out), want, TOLERANCE[dtype], `[${as}] / [${bs}] ${dtype} seed ${seed}`);
          for (const t of [a, b, out]) t.dispose();
        }
      });
    }
    it('divides by a number, and by zero as IEEE does', () => {
      const a = tensor([1, -2, 0], [3], { device });
      const zero = tensor([0, 0, 0], [3], { device });
      const halves = div(a, 2);
      const inf = div(a, zero);
      assert.deepEqual(Array.from(host(halves)), [0.5, -1, 0]);
      const got = Array.from(host(inf));
      assert.equal(got[0], Infinity);
      assert.equal(got[1], -Infinity);
      assert.ok(Number.isNaN(got[2]));
      for (const t of [a, zero, halves, inf]) t.dispose();
    });
  });
}

describe('div gradient and errors', () => {
  let seed = 700;
  const leaf = (t: Tensor) => t.requiresGrad_();
  itGradchecks('div [197, 3] / [3] with alpha', (a, b) => div(a, b, { alpha: -1.5 }), [leaf(randn([197, 3], { seed: seed++ })), leaf(divisor([3], 'float32', 'cpu', seed++))]);
  itGradchecks('div [2, 1, 4] / [3, 1]', (a, b) => div(a, b), [leaf(randn([2, 1, 4], { seed: seed++ })), leaf(divisor([3, 1], 'float32', 'cpu', seed++))]);
  itGradchecks('div by a number, and a tensor by itself', (a) => div(div(a, 4), a), [leaf(divisor([5], 'float32', 'cpu', seed++))]);
  itGradchecks('div of a constant by a leaf', (b) => div(randn([4, 3], { seed: 9 }), b), [leaf(divisor([4, 3], 'float32', 'cpu', seed++))]);

  it('rejects the number 0, shapes that do not broadcast and bad operands', () => {
    const a = randn([3, 4], { seed: 1 });
    assert.throws(() => div(a, 0), { name: 'RangeError', message: /^div: b must not be the number 0/ });
    assert.throws(() => div(a, randn([5], { seed: 2 })), { name: 'RangeError', message: /^div:/ });
    assert.throws(() => div(a, 'x' as never), { name: 'TypeError', message: /^div: expected b to be a Tensor or a number/ });
    assert.throws(() => div(a, NaN), { name: 'TypeError', message: /^div: expected b to be a number/ });
    a.dispose();
  });
});
