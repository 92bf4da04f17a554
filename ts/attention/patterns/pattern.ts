// Pattern: a dense attention pattern on the host (which keys each query may attend to, a 0/1
// matrix), the argument checks every generator shares, and the pattern algebra (union,
// intersection, a class token prepended). The generators live beside it, one family a file;
// index.ts gathers them as `patterns`.
import { DeviceLike } from '../../dtype';
import { checkInteger, checkNumber, invalidParameterError, rangeError } from '../../errors';
import { Tensor, tensor } from '../../tensor';

/** What other code (SparseMask.fromDense, BlockSparseLayout) accepts: a row-major 0/1 matrix. */
export interface PatternLike {
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;
}

/** A row-major matrix of weights over the same token pairs as a Pattern (not 0/1). */
export interface ProbabilityMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

// The largest matrix a pattern may hold: one byte per entry in one Uint8Array.
export const MAX_ENTRIES = 2 ** 31 - 1;

export function checkEntries(fn: string, rows: number, cols: number): void {
  if (rows * cols > MAX_ENTRIES) {
    throw rangeError(fn, `a ${rows} x ${cols} pattern has ${rows * cols} entries; at most ${MAX_ENTRIES} are supported`);
  }
}

/** A dense attention pattern: `data[i * cols + j] = 1` when query i may attend to key j. */
export class Pattern implements PatternLike {
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;

  /** Wraps `data` (not copied); every entry must be 0 or 1. */
  constructor(rows: number, cols: number, data: Uint8Array) {
    const fn = 'Pattern';
    checkInteger(fn, 'rows', rows);
    checkInteger(fn, 'cols', cols);
    checkEntries(fn, rows, cols);
    if (!(data instanceof Uint8Array)) throw invalidParameterError(fn, 'data', 'a Uint8Array', data);
    if (data.length !== rows * cols) throw rangeError(fn, `data has ${data.length} entries but a ${rows} x ${cols} pattern needs ${rows * cols}`);
    for (let k = 0; k < data.length; k++) {
      if (data[k] > 1) throw rangeError(fn, `data[${k}] = ${data[k]}; entries must be 0 or 1`);
    }
    this.rows = rows;
    this.cols = cols;
    this.data = data;
  }

  /** The pattern whose entry (i, j) is `fn(i, j)`. */
  static fromFunction(rows: number, cols: number, fn: (i: number, j: number) => boolean): Pattern {
    const name = 'Pattern.fromFunction';
    checkInteger(name, 'rows', rows);
    checkInteger(name, 'cols', cols);
    checkEntries(name, rows, cols);
    if (typeof fn !== 'function') throw invalidParameterError(name, 'fn', 'a function (i, j) => boolean', fn);
    const data = new Uint8Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) data[i * cols + j] = fn(i, j) ? 1 : 0;
    }
    return new Pattern(rows, cols, data);
  }

  /** Whether query i attends to key j. */
  get(i: number, j: number): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.rows || !Number.isInteger(j) || j < 0 || j >= this.cols) {
      throw rangeError('Pattern.get', `(${i}, ${j}) is outside the ${this.rows} x ${this.cols} pattern`);
    }
    return this.data[i * this.cols + j] === 1;
  }

  /** The number of entries set. */
  get nnz(): number {
    let n = 0;
    for (let k = 0; k < this.data.length; k++) n += this.data[k];
    return n;
  }

  /** nnz / (rows * cols); 0 for an empty matrix. */
  get density(): number {
    const size = this.rows * this.cols;
    return size === 0 ? 0 : this.nnz / size;
  }

  union(...others: PatternLike[]): Pattern {
    return union(this, ...others);
  }

  intersection(...others: PatternLike[]): Pattern {
    return intersection(this, ...others);
  }

  equals(other: PatternLike): boolean {
    if (other.rows !== this.rows || other.cols !== this.cols || other.data.length !== this.data.length) return false;
    for (let k = 0; k < this.data.length; k++) if (other.data[k] !== this.data[k]) return false;
    return true;
  }

  /** A uint8 tensor [rows, cols] holding a copy of the pattern. */
  toTensor(opts: { device?: DeviceLike } = {}): Tensor<'uint8'> {
    return tensor(this.data.slice(), [this.rows, this.cols], { dtype: 'uint8', device: opts.device ?? 'cpu' });
  }

  /** One line of 0s and 1s per row: what a failing test prints. */
  toString(): string {
    const lines: string[] = [];
    for (let i = 0; i < this.rows; i++) lines.push(this.data.subarray(i * this.cols, (i + 1) * this.cols).join(''));
    return lines.join('\n');
  }
}

// ---- argument checks -------------------------------------------------------------------

export function checkPatternLike(fn: string, name: string, p: unknown): PatternLike {
  const q = p as PatternLike;
  if (typeof p !== 'object' || p === null || !Number.isInteger(q.rows) || !Number.isInteger(q.cols) ||
      !(q.data instanceof Uint8Array) || q.data.length !== q.rows * q.cols) {
    throw invalidParameterError(fn, name, 'a pattern { rows, cols, data: Uint8Array of rows * cols }', p);
  }
  return q;
}

export function checkDensity(fn: string, density: unknown): number {
  checkNumber(fn, 'density', density);
  if (!((density as number) >= 0 && (density as number) <= 1)) throw rangeError(fn, `density must be in [0, 1], got ${density}`);
  return density as number;
}

export function checkSeed(fn: string, seed: unknown): number {
  checkInteger(fn, 'seed', seed);
  if ((seed as number) > 0xffffffff) throw rangeError(fn, `seed must be below 2^32, got ${seed}`);
  return seed as number;
}

/** p for a p-norm: 0 (count of differing coordinates, as torch.cdist), a positive number, or Infinity. */
export function checkNorm(fn: string, p: unknown): number {
  checkNumber(fn, 'p', p);
  if (!((p as number) >= 0)) throw rangeError(fn, `p must be 0, positive or Infinity, got ${p}`);
  return p as number;
}

export function checkShapeArg(fn: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length === 0) throw invalidParameterError(fn, 'shape', 'a non-empty array of non-negative integers', shape);
  shape.forEach((d, k) => checkInteger(fn, `shape[${k}]`, d));
  return [...shape];
}

function combine(fn: string, patterns: PatternLike[], op: (a: number, b: number) => number): Pattern {
  if (patterns.length === 0) throw rangeError(fn, 'needs at least one pattern');
  const first = checkPatternLike(fn, 'patterns[0]', patterns[0]);
  const data = first.data.slice();
  patterns.forEach((p, k) => {
    checkPatternLike(fn, `patterns[${k}]`, p);
    if (p.rows !== first.rows || p.cols !== first.cols) {
      throw rangeError(fn, `patterns[${k}] is ${p.rows} x ${p.cols} but patterns[0] is ${first.rows} x ${first.cols}`);
    }
    for (let e = 0; e < data.length; e++) data[e] = op(data[e], p.data[e]);
  });
  return new Pattern(first.rows, first.cols, data);
}

/** Entries set in any of the patterns (all of one size). */
export function union(...patterns: PatternLike[]): Pattern {
  return combine('union', patterns, (a, b) => a | b);
}

/** Entries set in every one of the patterns (all of one size). */
export function intersection(...patterns: PatternLike[]): Pattern {
  return combine('intersection', patterns, (a, b) => a & b);
}

/** A class token prepended: (rows + 1) x (cols + 1), its row and column dense, the pattern below and right of them. */
export function withClassToken(pattern: PatternLike): Pattern {
  const fn = 'withClassToken';
  const p = checkPatternLike(fn, 'pattern', pattern);
  checkEntries(fn, p.rows + 1, p.cols + 1);
  return Pattern.fromFunction(p.rows + 1, p.cols + 1,
    (i, j) => i === 0 || j === 0 || p.data[(i - 1) * p.cols + (j - 1)] === 1);
}
