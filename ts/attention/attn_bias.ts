// Attention biases, after xFormers' fmha.attn_bias: objects that say which keys each query
// may attend, passed as attention(q, k, v, { mechanism: 'memory_efficient', attnBias }).
// Every one here is a band around a diagonal inside blocks: the whole [Nq, Nk] score matrix
// as one block (causal from either corner, local windows), or the blocks of sequences packed
// one after another along N (block-diagonal masks; each block's keys optionally padded). Such
// a rule leaves each query row one interval of keys, so the kernels take it as key ranges
// (native/core/attention_ranges.h) and skip the key tiles outside them: no [Nq, Nk] mask.
import { checkInteger, checkOneOf, invalidParameterError, rangeError } from '../errors';
import { Pattern } from './patterns';

/** Where a causal rule's diagonal starts: query i sees keys j ≤ i (top left) or j ≤ i + Nk − Nq (bottom right). */
export type CausalAlignment = 'top_left' | 'bottom_right';

/** The causal alignments, as attention() and the factories check them. */
export const ALIGNMENTS: readonly CausalAlignment[] = ['top_left', 'bottom_right'];

/** The band of a block: keys j' with i' + off − left ≤ j' ≤ i' + off + right, off = 0 (top left) or kLen − qLen (bottom right). */
interface Band { left: number; right: number; alignment: CausalAlignment }

/** Packed sequences: block s holds query rows qStarts[s] .. + qLengths[s] and keys kStarts[s] .. + kLengths[s]. */
interface Blocks { qLengths: readonly number[]; kLengths: readonly number[]; qStarts: readonly number[]; kStarts: readonly number[]; nq: number; nk: number; padded: number | null }

/**
 * Which keys each query may attend. Made by lowerTriangular(), lowerTriangularFromBottomRight(),
 * localWindow() and blockDiagonal(); immutable. It composes with attention()'s additive bias
 * tensor (options.bias) and element mask (options.mask): a score counts where all allow it.
 */
export class AttentionBias {
  private cached: { nq: number; nk: number; ranges: Int32Array } | null = null;

  /** @internal Use the factories of attnBias. */
  constructor(private readonly name: string, private readonly band: Band, private readonly blocks: Blocks | null) {}

  /** What it is, as the call that made it: for messages. */
  toString(): string {
    return this.name;
  }

  /** The query rows and keys it was made for (blockDiagonal), or null where it serves any sizes. */
  get sizes(): { nq: number; nk: number } | null {
    return this.blocks === null ? null : { nq: this.blocks.nq, nk: this.blocks.nk };
  }

  /** The query and key lengths of each block (blockDiagonal), or null. */
  get lengths(): { q: readonly number[]; k: readonly number[] } | null {
    return this.blocks === null ? null : { q: this.blocks.qLengths, k: this.blocks.kLengths };
  }

  /**
   * True where it is exactly the causal rule of attention()'s causal: true at these sizes (the
   * top-left lower triangle), which the kernels serve with their causal fast path.
   */
  isTopLeftCausal(nq: number, nk: number): boolean {
    const { left, right, alignment } = this.band;
    return this.blocks === null && left === Infinity && right === 0 && (alignment === 'top_left' || nq === nk);
  }

  /** True where it allows every key to every query (localWindow(Infinity, Infinity)): no rule at all. */
  isFull(): boolean {
    return this.blocks === null && this.band.left === Infinity && this.band.right === Infinity;
  }

  /**
   * The keys each of nq query rows allows among nk keys, a new array: row i allows keys
   * [r[2i], r[2i + 1]), both nondecreasing in i (an empty row holds lo = hi). Throws a
   * RangeError where it was made for other sizes.
   */
  rowRanges(nq: number, nk: number): Int32Array {
    return this.keyRanges(nq, nk, 'AttentionBias.rowRanges').slice();
  }

  /** @internal rowRanges() without the copy (kept for these sizes: never modify it), errors naming `fn`. */
  keyRanges(nq: number, nk: number, fn: string): Int32Array {
    checkInteger(fn, 'nq', nq);
    checkInteger(fn, 'nk', nk);
    if (this.cached?.nq === nq && this.cached.nk === nk) return this.cached.ranges;
    const b = this.blocks;
    if (b !== null && (b.nq !== nq || b.nk !== nk)) {
      const keys = b.padded === null ? `${b.nk} keys` : `${b.nk} keys (${b.kLengths.length} blocks padded to ${b.padded})`;
      throw rangeError(fn, `${this.name} packs ${b.nq} query rows and ${keys}, but q has ${nq} rows and k ${nk} keys`);
    }
    if (nq > 2 ** 31 - 1 || nk > 2 ** 31 - 1) throw rangeError(fn, `key ranges need Nq and Nk under 2^31, got ${nq} and ${nk}`);
    const ranges = new Int32Array(2 * nq);
    const blocks = b ?? { qLengths: [nq], kLengths: [nk], qStarts: [0], kStarts: [0] };
    const { left, right, alignment } = this.band;
    for (let s = 0; s < blocks.qLengths.length; s++) {
      const qLen = blocks.qLengths[s], kLen = blocks.kLengths[s], k0 = blocks.kStarts[s];
      const off = alignment === 'bottom_right' ? kLen - qLen : 0;
      for (let i = 0; i < qLen; i++) {
        const lo = Math.min(Math.max(i + off - left, 0), kLen);
        const hi = Math.min(Math.max(i + off + right + 1, lo), kLen);
        const r = blocks.qStarts[s] + i;
        ranges[2 * r] = k0 + lo;
        ranges[2 * r + 1] = k0 + hi;
      }
    }
    this.cached = { nq, nk, ranges };
    return ranges;
  }

  /** The dense [nq, nk] pattern it allows (xFormers' materialize): 1 where query i may attend key j. */
  materialize(nq: number, nk: number): Pattern {
    const ranges = this.keyRanges(nq, nk, 'AttentionBias.materialize');
    const data = new Uint8Array(nq * nk);
    for (let i = 0; i < nq; i++) data.fill(1, i * nk + ranges[2 * i], i * nk + ranges[2 * i + 1]);
    return new Pattern(nq, nk, data);
  }
}

/** A window bound: a non-negative integer, or Infinity for none. */
function checkReach(fn: string, name: string, value: unknown): number {
  if (value === Infinity) return Infinity;
  return checkInteger(fn, name, value, 0);
}

const reach = (n: number) => (n === Infinity ? 'Infinity' : String(n));

/** Causal from the top left, as attention()'s causal: true: query i attends keys j ≤ i (xFormers' LowerTriangularMask). */
export function lowerTriangular(): AttentionBias {
  return new AttentionBias('lowerTriangular()', { left: Infinity, right: 0, alignment: 'top_left' }, null);
}

/**
 * Causal from the bottom right: query i attends keys j ≤ i + Nk − Nq, so the last query sees
 * every key (decoding against a cache; xFormers' LowerTriangularFromBottomRightMask). With
 * Nq > Nk the first Nq − Nk rows attend nothing and give zeros. Equal to lowerTriangular() when Nq = Nk.
 */
export function lowerTriangularFromBottomRight(): AttentionBias {
  return new AttentionBias('lowerTriangularFromBottomRight()', { left: Infinity, right: 0, alignment: 'bottom_right' }, null);
}

/**
 * A sliding window: query i attends keys j with d − left ≤ j ≤ d + right, d = i (alignment
 * 'top_left', the default) or i + Nk − Nq ('bottom_right', as FlashAttention's window_size and
 * xFormers' LocalAttentionFromBottomRightMask). left and right are non-negative integers or
 * Infinity; localWindow(w, 0) is causal attention over the last w + 1 keys.
 */
export function localWindow(left: number, right: number, options: { alignment?: CausalAlignment } = {}): AttentionBias {
  const fn = 'attnBias.localWindow';
  const l = checkReach(fn, 'left', left);
  const r = checkReach(fn, 'right', right);
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  const alignment = options.alignment === undefined ? 'top_left' : checkOneOf(fn, 'options.alignment', options.alignment, ALIGNMENTS);
  const from = alignment === 'top_left' ? '' : `, { alignment: '${alignment}' }`;
  return new AttentionBias(`localWindow(${reach(l)}, ${reach(r)}${from})`, { left: l, right: r, alignment }, null);
}

export interface BlockDiagonalOptions {
  /**
   * Causal within each block: true or 'top_left' (query i' of a block attends its keys
   * j' ≤ i', xFormers' BlockDiagonalCausalMask), 'bottom_right' (j' ≤ i' + kLen − qLen,
   * BlockDiagonalCausalFromBottomRightMask). Default false.
   */
  causal?: boolean | CausalAlignment;
  /**
   * A local window within each block: keys j' with d − left ≤ j' ≤ d + right, d = i' (or
   * i' + kLen − qLen from the bottom right). Each bound a non-negative integer or Infinity
   * (the default); with causal, right must be 0 (its default then).
   */
  window?: { left?: number; right?: number };
  /** The window's diagonal without causal: 'top_left' (default) or 'bottom_right'. */
  alignment?: CausalAlignment;
  /**
   * Each block's keys padded to this many: block s's keys are s · paddedKeys .. + kLengths[s],
   * the rest of its slots masked, and k holds blocks · paddedKeys keys (xFormers'
   * BlockDiagonalPaddedKeysMask). Default: none, the blocks' keys packed one after another.
   */
  paddedKeys?: number;
}

/** Non-negative integer lengths, at least one. */
function checkLengths(fn: string, name: string, lengths: unknown): number[] {
  if (!Array.isArray(lengths) || lengths.length === 0) throw invalidParameterError(fn, name, 'a non-empty array of lengths', lengths);
  return lengths.map((n, s) => checkInteger(fn, `${name}[${s}]`, n, 0));
}

/** Where each block starts: after the blocks before it, or at s · stride. */
function starts(lengths: readonly number[], stride: number | null): number[] {
  let at = 0;
  return lengths.map((n, s) => {
    const start = stride === null ? at : s * stride;
    at += n;
    return start;
  });
}

/**
 * Packed sequences of different lengths attended in one call without padding them: block s
 * of qLengths[s] query rows attends only its own kLengths[s] keys (default: kLengths =
 * qLengths), the blocks packed one after another along N of q and k (xFormers'
 * BlockDiagonalMask.from_seqlens). Options make each block causal, windowed, or its keys
 * padded. A row of a block with no key (kLengths[s] = 0) gives zeros. The same blocks serve
 * every batch element and head.
 */
export function blockDiagonal(qLengths: readonly number[], kLengths?: readonly number[], options: BlockDiagonalOptions = {}): AttentionBias {
  const fn = 'attnBias.blockDiagonal';
  const qs = checkLengths(fn, 'qLengths', qLengths);
  const ks = kLengths === undefined ? qs : checkLengths(fn, 'kLengths', kLengths);
  if (ks.length !== qs.length) throw rangeError(fn, `kLengths has ${ks.length} blocks but qLengths ${qs.length}`);
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  const { causal = false, window = {}, alignment, paddedKeys } = options;
  if (typeof causal !== 'boolean') checkOneOf(fn, 'options.causal', causal, ALIGNMENTS);
  if (window === null || typeof window !== 'object') throw invalidParameterError(fn, 'options.window', 'an object { left?, right? }', window);
  const left = window.left === undefined ? Infinity : checkReach(fn, 'options.window.left', window.left);
  const right = window.right === undefined ? (causal === false ? Infinity : 0) : checkReach(fn, 'options.window.right', window.right);
  if (causal !== false && right !== 0) throw rangeError(fn, `options.window.right must be 0 with causal (a causal block attends no key past its diagonal), got ${right}`);
  let align: CausalAlignment = alignment === undefined ? 'top_left' : checkOneOf(fn, 'options.alignment', alignment, ALIGNMENTS);
  if (typeof causal === 'string') {
    if (alignment !== undefined && alignment !== causal) throw rangeError(fn, `options.alignment '${alignment}' contradicts options.causal '${causal}'`);
    align = causal;
  }
  let padded: number | null = null;
  if (paddedKeys !== undefined) {
    padded = checkInteger(fn, 'options.paddedKeys', paddedKeys, 0);
    const over = ks.findIndex((n) => n > (padded as number));
    if (over >= 0) throw rangeError(fn, `kLengths[${over}] = ${ks[over]} is more than options.paddedKeys = ${padded}`);
  }
  const sum = (a: readonly number[]) => a.reduce((x, y) => x + y, 0);
  const blocks: Blocks = {
    qLengths: Object.freeze(qs), kLengths: Object.freeze(ks), qStarts: starts(qs, null), kStarts: starts(ks, padded),
    nq: sum(qs), nk: padded === null ? sum(ks) : padded * ks.length, padded,
  };
  const parts = [`${qs.length} blocks`];
  if (causal !== false) parts.push(`causal from the ${align === 'top_left' ? 'top left' : 'bottom right'}`);
  else if (left !== Infinity || right !== Infinity) parts.push(`window (${reach(left)}, ${reach(right)}) from the ${align === 'top_left' ? 'top left' : 'bottom right'}`);
  if (causal !== false && left !== Infinity) parts.push(`window ${left}`);
  if (padded !== null) parts.push(`keys padded to ${padded}`);
  return new AttentionBias(`blockDiagonal(${parts.join(', ')})`, { left, right, alignment: align }, blocks);
}
