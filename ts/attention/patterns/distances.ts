// Distances between the tokens of a grid (xFormers' local_nd_distance and its axial cases):
// the matrices that local and axial patterns threshold, and that Gaussian or learned biases
// are made from. Tokens are numbered row-major, as everywhere in patterns.
import { checkNumber, invalidParameterError, rangeError } from '../../errors';
import { checkEntries, checkNorm, checkShapeArg, ProbabilityMatrix } from './pattern';

/** A row-major [n, n] matrix of distances between the tokens of a grid. */
export type DistanceMatrix = ProbabilityMatrix;

/**
 * The p-norm distance between tokens a and b of a grid of `shape`, each axis's coordinate
 * difference scaled by |weights[k]| (torch.cdist's norms: p = 0 counts the coordinates that
 * differ, p = Infinity takes the largest difference). With unit weights every sum and max is
 * an exact integer, and sqrt is correctly rounded.
 */
export function gridDistance(shape: readonly number[], p: number, weights?: readonly number[]): { n: number; distance: (a: number, b: number) => number } {
  const rank = shape.length;
  const n = shape.reduce((a, b) => a * b, 1);
  const coords = new Int32Array(n * rank);
  for (let t = 0; t < n; t++) {
    let rest = t;
    for (let k = rank - 1; k >= 0; k--) {
      coords[t * rank + k] = rest % shape[k];
      rest = Math.floor(rest / shape[k]);
    }
  }
  const scale = Float64Array.from(shape, (_, k) => Math.abs(weights?.[k] ?? 1));
  const distance = (a: number, b: number): number => {
    let acc = 0;
    for (let k = 0; k < rank; k++) {
      const d = Math.abs(coords[a * rank + k] - coords[b * rank + k]) * scale[k];
      if (p === 0) acc += d === 0 ? 0 : 1;
      else if (p === Infinity) acc = Math.max(acc, d);
      else if (p === 1) acc += d;
      else if (p === 2) acc += d * d;
      else acc += d ** p;
    }
    if (p === 2) return Math.sqrt(acc);
    if (p === 0 || p === 1 || p === Infinity) return acc;
    return acc ** (1 / p);
  };
  return { n, distance };
}

/**
 * The p-norm distance between every two tokens of a grid of any rank, each axis weighted
 * (default 1 each): xFormers' local_nd_distance(*shape, p, weights).
 */
export function localNdDistance(shape: number[], p = 2, weights?: number[]): DistanceMatrix {
  const fn = 'localNdDistance';
  const s = checkShapeArg(fn, shape);
  const norm = checkNorm(fn, p);
  if (weights !== undefined) {
    if (!Array.isArray(weights)) throw invalidParameterError(fn, 'weights', 'an array of numbers, one per axis', weights);
    if (weights.length !== s.length) throw rangeError(fn, `weights has ${weights.length} entries but the grid has ${s.length} axes`);
    weights.forEach((w, k) => {
      checkNumber(fn, `weights[${k}]`, w);
      if (!Number.isFinite(w)) throw rangeError(fn, `weights[${k}] must be finite, got ${w}`);
    });
  }
  const { n, distance } = gridDistance(s, norm, weights);
  checkEntries(fn, n, n);
  const data = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) data[a * n + b] = distance(a, b);
  return { rows: n, cols: n, data };
}

/**
 * Distances on the h x w grid along the columns only (weights [1, 0]): |row(a) - row(b)|
 * for p > 0, so tokens of one row are at distance 0 (xFormers' horizontal_axial_2d_distance).
 */
export function horizontalAxial2dDistance(h: number, w: number, p = 2): DistanceMatrix {
  return localNdDistance([h, w], p, [1, 0]);
}

/** Distances on the h x w grid along the rows only (weights [0, 1]): tokens of one column are at distance 0 (xFormers' vertical_axial_2d_distance). */
export function verticalAxial2dDistance(h: number, w: number, p = 2): DistanceMatrix {
  return localNdDistance([h, w], p, [0, 1]);
}
