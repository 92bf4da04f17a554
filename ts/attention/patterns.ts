// Attention patterns: which keys each query may attend to, as dense 0/1 matrices on the host,
// after xFormers' xformers/components/attention/attention_patterns.py. Every generator is
// plain TypeScript (no native code) and every random one takes a seed, so the same call gives
// the same pattern on every machine. A pattern over an h x w grid numbers its tokens row-major
// (token r * w + c is the patch in row r, column c), as torch.meshgrid(..., indexing='ij')
// followed by flatten() does in xFormers.
import { DeviceLike } from '../dtype';
import { checkInteger, checkNumber, invalidParameterError, rangeError } from '../errors';
import { Random } from '../random';
import { Tensor, tensor } from '../tensor';

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
const MAX_ENTRIES = 2 ** 31 - 1;

function checkEntries(fn: string, rows: number, cols: number): void {
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

function checkPatternLike(fn: string, name: string, p: unknown): PatternLike {
  const q = p as PatternLike;
  if (typeof p !== 'object' || p === null || !Number.isInteger(q.rows) || !Number.isInteger(q.cols) ||
      !(q.data instanceof Uint8Array) || q.data.length !== q.rows * q.cols) {
    throw invalidParameterError(fn, name, 'a pattern { rows, cols, data: Uint8Array of rows * cols }', p);
  }
  return q;
}

function checkDensity(fn: string, density: unknown): number {
  checkNumber(fn, 'density', density);
  if (!((density as number) >= 0 && (density as number) <= 1)) throw rangeError(fn, `density must be in [0, 1], got ${density}`);
  return density as number;
}

function checkSeed(fn: string, seed: unknown): number {
  checkInteger(fn, 'seed', seed);
  if ((seed as number) > 0xffffffff) throw rangeError(fn, `seed must be below 2^32, got ${seed}`);
  return seed as number;
}

/** p for a p-norm: 0 (count of differing coordinates, as torch.cdist), a positive number, or Infinity. */
function checkNorm(fn: string, p: unknown): number {
  checkNumber(fn, 'p', p);
  if (!((p as number) >= 0)) throw rangeError(fn, `p must be 0, positive or Infinity, got ${p}`);
  return p as number;
}

function checkShapeArg(fn: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length === 0) throw invalidParameterError(fn, 'shape', 'a non-empty array of non-negative integers', shape);
  shape.forEach((d, k) => checkInteger(fn, `shape[${k}]`, d));
  return [...shape];
}

// ---- grid distances --------------------------------------------------------------------

/** Row-major coordinates of every token of a grid: coords[t * rank + k]. */
function gridCoords(shape: readonly number[]): { n: number; coords: Int32Array } {
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
  return { n, coords };
}

/**
 * The tokens of a grid within p-norm distance < `distance` of each other (torch.cdist's norms:
 * p = 0 counts the coordinates that differ, p = Infinity takes the largest difference).
 */
function withinDistance(fn: string, shape: readonly number[], distance: number, p: number): Pattern {
  const { n, coords } = gridCoords(shape);
  checkEntries(fn, n, n);
  const rank = shape.length;
  // Integer grids: sums of |d| and max |d| are exact, and sqrt is correctly rounded.
  const near = (a: number, b: number): boolean => {
    let acc = 0;
    for (let k = 0; k < rank; k++) {
      const d = Math.abs(coords[a * rank + k] - coords[b * rank + k]);
      if (p === 0) acc += d === 0 ? 0 : 1;
      else if (p === Infinity) acc = Math.max(acc, d);
      else if (p === 1) acc += d;
      else if (p === 2) acc += d * d;
      else acc += d ** p;
    }
    if (p === 2) return Math.sqrt(acc) < distance;
    if (p === 0 || p === 1 || p === Infinity) return acc < distance;
    return acc ** (1 / p) < distance;
  };
  return Pattern.fromFunction(n, n, near);
}

// ---- generators ------------------------------------------------------------------------

/**
 * Sliding window over a sequence: i attends to j when |i - j| <= (window - 1) / 2. `window`
 * counts the token itself and both wings, so it must be odd (xFormers' local_1d_pattern).
 */
export function local1d(n: number, window: number): Pattern {
  const fn = 'local1d';
  checkInteger(fn, 'n', n);
  checkInteger(fn, 'window', window, 1);
  if (window % 2 !== 1) throw rangeError(fn, `window counts the token and two equal wings, so it must be odd, got ${window}`);
  checkEntries(fn, n, n);
  const half = (window - 1) / 2;
  return Pattern.fromFunction(n, n, (i, j) => Math.abs(i - j) <= half);
}

/**
 * Local attention over the h x w grid's tokens: a key attends when its p-norm distance on the
 * grid is strictly below `distance` (xFormers' local_2d_pattern: `cdist(...) < distance`).
 */
export function local2d(h: number, w: number, distance: number, p = 2): Pattern {
  const fn = 'local2d';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkNumber(fn, 'distance', distance);
  return withinDistance(fn, [h, w], distance, checkNorm(fn, p));
}

/** local2d over a grid of any rank, tokens numbered row-major (xFormers' local_nd_pattern). */
export function localNd(shape: number[], distance: number, p = 2): Pattern {
  const fn = 'localNd';
  const s = checkShapeArg(fn, shape);
  checkNumber(fn, 'distance', distance);
  return withinDistance(fn, s, distance, checkNorm(fn, p));
}

/** Axial attention on the h x w grid: tokens in the same row or the same column (xFormers' axial_2d_pattern). */
export function axial2d(h: number, w: number): Pattern {
  const fn = 'axial2d';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  return withinDistance(fn, [h, w], 2, 0);
}

/**
 * Each of the n x n entries set independently with probability `density`. xFormers'
 * random_pattern takes the sparsity (1 - density) instead; this takes the density.
 * Entry k (row-major) is set when the k-th uniform draw of Random(seed) is < density.
 */
export function random(n: number, density: number, seed: number): Pattern {
  const fn = 'random';
  checkInteger(fn, 'n', n);
  checkDensity(fn, density);
  checkSeed(fn, seed);
  checkEntries(fn, n, n);
  const rng = new Random(seed);
  const data = new Uint8Array(n * n);
  for (let k = 0; k < data.length; k++) data[k] = rng.uniform() < density ? 1 : 0;
  return new Pattern(n, n, data);
}

/**
 * Weights exp(-d² / (2 sigma²)) between the tokens of the h x w grid, d the Euclidean distance
 * (xFormers' local_2d_gausian_distribution). Like xFormers, the rows are NOT normalized: every
 * diagonal entry is 1, so rows of central tokens (more neighbours) weigh more in total.
 * The ViT notebook fixture (vit_notebook_sparse, drawn by xFormers' code) agrees: beyond axial |
 * local2d, its 96 outermost patches (Chebyshev distance > 5.5 from the centre) hold 5.38 entries
 * a row on average and its 36 central ones 7.08; unnormalized weights (plus the 1% uniform part)
 * predict 5.20 and 7.56, row-normalized ones 5.92 and 6.22.
 */
export function gaussian2d(h: number, w: number, sigma: number): ProbabilityMatrix {
  const fn = 'gaussian2d';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkNumber(fn, 'sigma', sigma);
  if (!(sigma > 0 && sigma < Infinity)) throw rangeError(fn, `sigma must be positive and finite, got ${sigma}`);
  const n = h * w;
  checkEntries(fn, n, n);
  const data = new Float64Array(n * n);
  const scale = -0.5 / (sigma * sigma);
  for (let a = 0; a < n; a++) {
    const ra = Math.floor(a / w);
    const ca = a % w;
    for (let b = 0; b < n; b++) {
      const dr = ra - Math.floor(b / w);
      const dc = ca - (b % w);
      data[a * n + b] = Math.exp(scale * (dr * dr + dc * dc));
    }
  }
  return { rows: n, cols: n, data };
}

/**
 * Exactly `nnz` entries drawn without replacement, each draw taking a remaining entry with
 * probability proportional to its weight (what torch.multinomial(weights.flatten(), nnz,
 * replacement=False) samples, as xFormers' random_pattern_from_probability_matrix calls it).
 * Method (Efraimidis–Spirakis, the exponential race): entry k gets the key E_k / weight_k with
 * E_k = -ln(1 - u_k), u_k the k-th uniform draw of Random(seed) in row-major order; the nnz
 * smallest keys are set (ties to the lower index). Zero-weight entries have key Infinity and
 * are never set; asking for more entries than have positive weight is a RangeError.
 * Weights need not sum to 1.
 */
export function randomFromProbability(matrix: ProbabilityMatrix, nnz: number, seed: number): Pattern {
  const fn = 'randomFromProbability';
  const m = matrix as ProbabilityMatrix;
  if (typeof matrix !== 'object' || matrix === null || !Number.isInteger(m.rows) || !Number.isInteger(m.cols) ||
      m.rows < 0 || m.cols < 0 || !((m.data as unknown) instanceof Float64Array) || m.data.length !== m.rows * m.cols) {
    throw invalidParameterError(fn, 'matrix', 'a probability matrix { rows, cols, data: Float64Array of rows * cols }', matrix);
  }
  checkInteger(fn, 'nnz', nnz);
  checkSeed(fn, seed);
  checkEntries(fn, m.rows, m.cols);
  let positive = 0;
  for (let k = 0; k < m.data.length; k++) {
    const v = m.data[k];
    if (!(v >= 0 && v < Infinity)) throw rangeError(fn, `matrix.data[${k}] = ${v}; weights must be finite and non-negative`);
    if (v > 0) positive++;
  }
  if (nnz > positive) throw rangeError(fn, `cannot draw ${nnz} entries without replacement: only ${positive} have positive weight`);
  const rng = new Random(seed);
  const keys = new Float64Array(m.data.length);
  const candidates: number[] = [];
  for (let k = 0; k < keys.length; k++) {
    const e = -Math.log(1 - rng.uniform());
    if (m.data[k] > 0) {
      keys[k] = e / m.data[k];
      candidates.push(k);
    }
  }
  candidates.sort((a, b) => keys[a] - keys[b] || a - b);
  const data = new Uint8Array(m.rows * m.cols);
  for (let t = 0; t < nnz; t++) data[candidates[t]] = 1;
  return new Pattern(m.rows, m.cols, data);
}

/**
 * For each token of the h x w grid, `perRow` distinct keys drawn from a 2-D normal (sigma in
 * patches, both axes) centred on it, rounded to the nearest patch; draws off the grid or
 * already taken are drawn again (at most 64 * perRow draws a row). The large-N counterpart of
 * randomFromProbability(gaussian2d(h, w, sigma), nnz): that needs the (hw)² weight matrix
 * (1.2 GB of float64 at 112 x 112), this only O(hw * perRow) work, with the same Gaussian
 * fall-off but a fixed count per row instead of a global one.
 */
export function gaussianNeighbours(h: number, w: number, sigma: number, perRow: number, seed: number): Pattern {
  const fn = 'gaussianNeighbours';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkNumber(fn, 'sigma', sigma);
  if (!(sigma > 0 && sigma < Infinity)) throw rangeError(fn, `sigma must be positive and finite, got ${sigma}`);
  checkInteger(fn, 'perRow', perRow);
  checkSeed(fn, seed);
  const n = h * w;
  checkEntries(fn, n, n);
  if (perRow > n) throw rangeError(fn, `perRow ${perRow} is more than the ${n} tokens of the grid`);
  const rng = new Random(seed);
  const data = new Uint8Array(n * n);
  for (let a = 0; a < n; a++) {
    const ra = Math.floor(a / w), ca = a % w;
    let taken = 0;
    for (let draw = 0; draw < 64 * perRow && taken < perRow; draw++) {
      const r = Math.round(ra + sigma * rng.normal()), c = Math.round(ca + sigma * rng.normal());
      if (r < 0 || r >= h || c < 0 || c >= w) continue;
      const k = a * n + r * w + c;
      if (data[k] === 0) {
        data[k] = 1;
        taken++;
      }
    }
  }
  return new Pattern(n, n, data);
}

/** The rows and the columns of the given tokens dense, nothing else (xFormers' global_token_pattern). */
export function globalTokens(n: number, indices: number[]): Pattern {
  const fn = 'globalTokens';
  checkInteger(fn, 'n', n);
  if (!Array.isArray(indices)) throw invalidParameterError(fn, 'indices', 'an array of token indices', indices);
  checkEntries(fn, n, n);
  const global = new Uint8Array(n);
  indices.forEach((t, k) => {
    checkInteger(fn, `indices[${k}]`, t);
    if (t >= n) throw rangeError(fn, `indices[${k}] = ${t} is not a token of a sequence of ${n}`);
    global[t] = 1;
  });
  return Pattern.fromFunction(n, n, (i, j) => global[i] === 1 || global[j] === 1);
}

/** Lower triangle with the diagonal: i attends to j <= i (xFormers' causal_1d_pattern). */
export function causal(n: number): Pattern {
  const fn = 'causal';
  checkInteger(fn, 'n', n);
  checkEntries(fn, n, n);
  return Pattern.fromFunction(n, n, (i, j) => j <= i);
}

/**
 * Swin's (shifted) window attention on the h x w grid (xFormers' swin_attention_pattern).
 * With shift 0: tokens in the same window x window window. With shift s: Swin rolls the grid
 * by -s on both axes, partitions it into windows, and masks pairs that came from different
 * regions of a window that wrapped around; in the original coordinates that leaves, along each
 * axis, the groups [0, s), [s, s + window), ..., [h - window + s, h). Tokens attend when they
 * share a group on both axes: group(x) = floor((x + (window - s) % window) / window).
 */
export function swin(h: number, w: number, window: number, shift: number): Pattern {
  const fn = 'swin';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkInteger(fn, 'window', window, 1);
  checkInteger(fn, 'shift', shift);
  if (h % window !== 0 || w % window !== 0) throw rangeError(fn, `the ${h} x ${w} grid must divide into windows of ${window}`);
  if (shift >= window) throw rangeError(fn, `shift must be below window (${window}), got ${shift}`);
  const n = h * w;
  checkEntries(fn, n, n);
  const offset = (window - shift) % window;
  const group = (x: number) => Math.floor((x + offset) / window);
  const rowGroup = new Int32Array(n);
  const colGroup = new Int32Array(n);
  for (let t = 0; t < n; t++) {
    rowGroup[t] = group(Math.floor(t / w));
    colGroup[t] = group(t % w);
  }
  return Pattern.fromFunction(n, n, (a, b) => rowGroup[a] === rowGroup[b] && colGroup[a] === colGroup[b]);
}

/**
 * Dilated sliding window (Longformer's): i attends to j when |i - j| is a multiple of
 * `dilation` and at most `window * dilation` — `window` keys on each side, `dilation` apart,
 * plus the token itself. dilated(n, window, 1) is local1d(n, 2 * window + 1).
 */
export function dilated(n: number, window: number, dilation: number): Pattern {
  const fn = 'dilated';
  checkInteger(fn, 'n', n);
  checkInteger(fn, 'window', window);
  checkInteger(fn, 'dilation', dilation, 1);
  checkEntries(fn, n, n);
  return Pattern.fromFunction(n, n, (i, j) => {
    const d = Math.abs(i - j);
    return d % dilation === 0 && d <= window * dilation;
  });
}

/** Each entry of a block layout expanded to a block x block square of tokens (xFormers' layout_to_pattern). */
export function layoutToPattern(layout: PatternLike, block: number): Pattern {
  const fn = 'layoutToPattern';
  const l = checkPatternLike(fn, 'layout', layout);
  checkInteger(fn, 'block', block, 1);
  checkEntries(fn, l.rows * block, l.cols * block);
  return Pattern.fromFunction(l.rows * block, l.cols * block,
    (i, j) => l.data[Math.floor(i / block) * l.cols + Math.floor(j / block)] === 1);
}

/**
 * BigBird's block-sparse pattern over n tokens in blocks of `block` (n must divide into them),
 * built on the (n / block)² block layout and expanded to tokens:
 * - global: the first `globals` blocks attend everywhere and everything attends to them;
 * - window: block row r attends to blocks c with |r - c| <= (windows - 1) / 2 (`windows` counts
 *   the block itself, so it is odd, or 0 for none);
 * - random: every other block row also attends to `randoms` more blocks, drawn uniformly
 *   without replacement from those the row has not got yet (all of them if fewer remain),
 *   rows in order, by a partial Fisher–Yates shuffle driven by Random(seed).
 */
export function bigBird(n: number, block: number, globals: number, windows: number, randoms: number, seed: number): Pattern {
  const fn = 'bigBird';
  checkInteger(fn, 'n', n);
  checkInteger(fn, 'block', block, 1);
  checkInteger(fn, 'globals', globals);
  checkInteger(fn, 'windows', windows);
  checkInteger(fn, 'randoms', randoms);
  checkSeed(fn, seed);
  if (n % block !== 0) throw rangeError(fn, `n (${n}) must divide into blocks of ${block}`);
  const nb = n / block;
  if (globals > nb) throw rangeError(fn, `globals (${globals}) exceeds the ${nb} blocks`);
  if (windows !== 0 && windows % 2 !== 1) throw rangeError(fn, `windows counts the block and two equal wings, so it must be odd or 0, got ${windows}`);
  checkEntries(fn, n, n);
  const half = (windows - 1) / 2;
  const layout = new Uint8Array(nb * nb);
  for (let r = 0; r < nb; r++) {
    for (let c = 0; c < nb; c++) {
      if (r < globals || c < globals || (windows > 0 && Math.abs(r - c) <= half)) layout[r * nb + c] = 1;
    }
  }
  const rng = new Random(seed);
  for (let r = globals; r < nb && randoms > 0; r++) {
    const free: number[] = [];
    for (let c = 0; c < nb; c++) if (layout[r * nb + c] === 0) free.push(c);
    const take = Math.min(randoms, free.length);
    for (let t = 0; t < take; t++) {
      const k = t + Math.floor(rng.uniform() * (free.length - t));
      [free[t], free[k]] = [free[k], free[t]];
      layout[r * nb + free[t]] = 1;
    }
  }
  return layoutToPattern(new Pattern(nb, nb, layout), block);
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

/**
 * The mask of xFormers' ViT notebook (docs/source/vision_transformers.ipynb) for an h x w
 * patch grid plus a class token: over the patches, axial2d | local2d(distance 2, p = 2) |
 * random(1%) | randomFromProbability(gaussian2d(sigma 5), floor(3% of (hw)²)) — "Gaussian at
 * 97% sparsity" — then withClassToken. The two random parts take seeds drawn from Random(seed).
 * At 14 x 14, seeds 0-9 give densities 0.1940-0.1957 (mean 0.1946); the fixture's mask is
 * 0.1941 dense.
 */
export function vitNotebook(h: number, w: number, seed: number): Pattern {
  const fn = 'vitNotebook';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkSeed(fn, seed);
  const n = h * w;
  checkEntries(fn, n + 1, n + 1);
  const seeds = new Random(seed);
  const uniformSeed = seeds.nextUint32();
  const gaussianSeed = seeds.nextUint32();
  const nnz = Math.floor((n * n * 3) / 100);
  const patches = union(
    axial2d(h, w),
    local2d(h, w, 2),
    random(n, 0.01, uniformSeed),
    randomFromProbability(gaussian2d(h, w, 5), nnz, gaussianSeed),
  );
  return withClassToken(patches);
}
