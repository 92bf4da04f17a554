import * as assert from 'node:assert/strict';
import { FLOAT_DTYPES, tensor } from '../ts/index';
import { DEVICES, describeDevice, freshSeed } from './helpers';
import { roundTo } from './reference';

// float32 values that probe rounding: exact midpoints between neighbours (ties to even),
// overflow, subnormals, signed zero, NaN and infinities, plus random values.
function probes(seed: number): number[] {
  const v = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 6e-8, 2 ** -14,
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, -3.4e38, 1e-40, NaN, Infinity, -Infinity, Math.PI, 1 / 3];
  let s = seed;
  for (let i = 0; i < 2000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const mant = (s / 2 ** 32) * 2 - 1;
    v.push(Math.fround(mant * 2 ** ((i % 60) - 30)));
  }
  return v.map(Math.fround);
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>, label: string): void {
  for (let i = 0; i < a.length; i++) {
    const ok = Number.isNaN(b[i]) ? Number.isNaN(a[i]) : Object.is(a[i], b[i]);
    if (!ok) assert.fail(`${label}: element ${i}: got ${a[i]}, expected ${b[i]}`);
  }
}

for (const device of DEVICES) {
  describeDevice(device, 'cast', () => {
    for (const to of FLOAT_DTYPES) {
      it(`float32 -> ${to} rounds to nearest even and keeps NaN and Inf`, () => {
        const values = probes(freshSeed());
        const t = tensor(values, [values.length], { device });
        const c = t.cast(to);
        sameValues(c.dataSync(), values.map((x) => roundTo(to, x)), `float32->${to}`);
      });
      for (const from of FLOAT_DTYPES) {
        it(`${from} -> ${to} -> matches the reference`, () => {
          const values = probes(freshSeed()).map((x) => roundTo(from, x));
          const t = tensor(values, [values.length], { dtype: from, device });
          sameValues(t.dataSync(), values, `tensor(${from})`);
          sameValues(t.cast(to).dataSync(), values.map((x) => roundTo(to, x)), `${from}->${to}`);
        });
      }
    }

    it('casts between ints and floats, and of strided views', () => {
      const t = tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'int32', device });
      assert.deepEqual(Array.from(t.cast('float16').dataSync()), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(Array.from(t.transpose().cast('float32').dataSync()), [1, 4, 2, 5, 3, 6]);
      assert.deepEqual(Array.from(tensor([0.5, 1.9, 300], [3], { device }).cast('uint8').dataSync()), [0, 1, 255]);
    });
  });
}
