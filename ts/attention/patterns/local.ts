// Patterns over a sequence or a grid by distance (xFormers' attention_patterns: local, axial,
// causal, global tokens, Swin windows, dilated). A pattern over an h x w grid numbers its
// tokens row-major (token r * w + c is the patch in row r, column c), as
// torch.meshgrid(..., indexing='ij') followed by flatten() does in xFormers.
import { checkInteger, checkNumber, invalidParameterError, rangeError } from '../../errors';
import { gridDistance } from './distances';
import { checkEntries, checkNorm, checkShapeArg, Pattern } from './pattern';

/**
 * The tokens of a grid within p-norm distance < `distance` of each other (gridDistance's
 * norms, unit weights).
 */
function withinDistance(fn: string, shape: readonly number[], distance: number, p: number): Pattern {
  const grid = gridDistance(shape, p);
  checkEntries(fn, grid.n, grid.n);
  return Pattern.fromFunction(grid.n, grid.n, (a, b) => grid.distance(a, b) < distance);
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

/**
 * dilated() on both axes of the h x w grid: patch (r, c) attends to (r', c') when |r - r'| and
 * |c - c'| are multiples of `dilation` and at most `window * dilation` — a (2 window + 1)²
 * square of keys, `dilation` apart (DiNAT's dilated neighbourhood, clipped at the edges).
 * dilated2d(h, w, window, 1) is local2d(h, w, window + 1, Infinity).
 */
export function dilated2d(h: number, w: number, window: number, dilation: number): Pattern {
  const fn = 'dilated2d';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkInteger(fn, 'window', window);
  checkInteger(fn, 'dilation', dilation, 1);
  const n = h * w;
  checkEntries(fn, n, n);
  const reach = window * dilation;
  const near = (d: number) => d % dilation === 0 && d <= reach;
  return Pattern.fromFunction(n, n, (a, b) => near(Math.abs(Math.floor(a / w) - Math.floor(b / w))) && near(Math.abs((a % w) - (b % w))));
}
