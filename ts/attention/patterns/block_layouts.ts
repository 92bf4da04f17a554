// The block-sparse layouts of xFormers' sparsity configs (from DeepSpeed: Fixed, after "Generative
// Modeling with Sparse Transformers"; Variable; and the block-sparse Longformer), as a pattern
// over blocks: [blocks, blocks], 1 = the block row attends the block column. Use one with
// BlockSparseLayout.fromDense(layout, blockSize) for mechanism 'block_sparse', or expand it to
// tokens with layoutToPattern. One layout serves every head; a config with a layout per head is
// one call per head (fixedLayout's `pattern`), stacked into [H, blocks, blocks].
import { checkBoolean, checkInteger, checkOneOf, invalidParameterError, rangeError } from '../../errors';
import { Random } from '../../random';
import { drawDistinct } from './layouts';
import { checkEntries, checkSeed, Pattern } from './pattern';

/** 'bidirectional': a block attends blocks after it too; 'unidirectional': only blocks up to its own (an autoregressive model's). */
export type LayoutDirection = 'bidirectional' | 'unidirectional';
const DIRECTIONS: readonly LayoutDirection[] = ['bidirectional', 'unidirectional'];

export interface FixedLayoutOptions {
  /** Blocks in each local window (xFormers' num_local_blocks). Default 4. */
  localBlocks?: number;
  /** Blocks of each window that all queries attend (num_global_blocks); must divide localBlocks. Default 1. */
  globalBlocks?: number;
  /** Default 'bidirectional'. */
  attention?: LayoutDirection;
  /** The global blocks also attend every block (horizontal_global_attention; bidirectional only). Default false. */
  horizontalGlobal?: boolean;
  /**
   * Which global representatives: 0 takes the last globalBlocks of each window, 1 the ones
   * before them, and so on, below localBlocks / globalBlocks (the head index modulo
   * num_different_global_patterns in xFormers). Default 0.
   */
  pattern?: number;
}

export interface VariableLayoutOptions {
  /** Random blocks each block row attends besides the rest (num_random_blocks). Default 0. */
  randomBlocks?: number;
  /** The sizes in blocks of the successive local windows; the last repeats to the end (local_window_blocks). Default [4]. */
  localWindows?: number[];
  /** Global blocks (global_block_indices), or the starts of global ranges with globalEnds. Default [0]. */
  globalIndices?: number[];
  /** Exclusive ends of the global ranges [globalIndices[k], globalEnds[k]) (global_block_end_indices). Default none. */
  globalEnds?: number[];
  /** Default 'bidirectional'. */
  attention?: LayoutDirection;
  /** The global blocks also attend every block (bidirectional only). Default false. */
  horizontalGlobal?: boolean;
  /** Seeds the random blocks. Default 0. */
  seed?: number;
}

export interface LongformerLayoutOptions {
  /** Blocks of the sliding window, the block itself counted: floor(n / 2) each side (num_sliding_window_blocks). Default 3. */
  slidingWindowBlocks?: number;
  /** Global blocks, or the starts of global ranges with globalEnds. Default [0]. */
  globalIndices?: number[];
  /** Exclusive ends of the global ranges. Default none. */
  globalEnds?: number[];
  /** Default 'bidirectional'. */
  attention?: LayoutDirection;
}

/** A layout under construction: blocks x blocks, row-major. */
class Layout {
  readonly data: Uint8Array;
  constructor(readonly blocks: number) {
    this.data = new Uint8Array(blocks * blocks);
  }
  /** Rows [r0, r1) x columns [c0, c1), clipped to the layout. */
  fill(r0: number, r1: number, c0: number, c1: number): void {
    const n = this.blocks;
    for (let r = Math.max(0, r0); r < Math.min(r1, n); r++) this.data.fill(1, r * n + Math.max(0, c0), r * n + Math.max(0, Math.min(c1, n)));
  }
  /** A local window [start, end): each row its window, up to itself when unidirectional. */
  window(start: number, end: number, uni: boolean): void {
    for (let r = start; r < Math.min(end, this.blocks); r++) this.fill(r, r + 1, start, uni ? r + 1 : end);
  }
  /** Global blocks [start, end): their columns from row `firstRow` down, and their rows in full when horizontal. */
  global(start: number, end: number, firstRow: number, horizontal: boolean): void {
    this.fill(firstRow, this.blocks, start, end);
    if (horizontal) this.fill(start, end, 0, this.blocks);
  }
  /** Drops every block above the diagonal. */
  lowerTriangle(): void {
    const n = this.blocks;
    for (let r = 0; r < n; r++) this.data.fill(0, r * n + r + 1, (r + 1) * n);
  }
  pattern(): Pattern {
    return new Pattern(this.blocks, this.blocks, this.data);
  }
}

function checkLayoutOptions(fn: string, options: unknown): Record<string, unknown> {
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  return options as Record<string, unknown>;
}

function checkDirection(fn: string, o: Record<string, unknown>, horizontal: boolean): boolean {
  const uni = checkOneOf(fn, 'options.attention', o.attention ?? 'bidirectional', DIRECTIONS) === 'unidirectional';
  if (uni && horizontal) throw rangeError(fn, 'options.horizontalGlobal needs bidirectional attention');
  return uni;
}

function checkIntegers(fn: string, name: string, value: unknown, min: number): number[] {
  if (!Array.isArray(value)) throw invalidParameterError(fn, name, 'an array of integers', value);
  value.forEach((x, k) => checkInteger(fn, `${name}[${k}]`, x, min));
  return value as number[];
}

/** The global ranges [start, end): one block each, or [globalIndices[k], globalEnds[k]). */
function globalRanges(fn: string, o: Record<string, unknown>): [number, number][] {
  const starts = checkIntegers(fn, 'options.globalIndices', o.globalIndices ?? [0], 0);
  if (o.globalEnds === undefined) return starts.map((s) => [s, s + 1]);
  const ends = checkIntegers(fn, 'options.globalEnds', o.globalEnds, 1);
  if (ends.length !== starts.length) throw rangeError(fn, `options.globalEnds has ${ends.length} entries but options.globalIndices has ${starts.length}`);
  return starts.map((s, k) => {
    if (s >= ends[k]) throw rangeError(fn, `global range ${k} is [${s}, ${ends[k]}): its start must be below its end`);
    return [s, ends[k]];
  });
}

function newLayout(fn: string, blocks: number): Layout {
  checkInteger(fn, 'blocks', blocks);
  checkEntries(fn, blocks, blocks);
  return new Layout(blocks);
}

/**
 * The Fixed layout (xFormers' FixedSparsityConfig): the blocks split into windows of
 * localBlocks, each block attending its window (up to itself when unidirectional); in each
 * window, globalBlocks blocks (the last ones for pattern 0) are attended by every block row
 * (from their own row down when unidirectional) and, with horizontalGlobal, attend every block.
 * A short last window takes its global blocks at the same offset, clipped to the end.
 */
export function fixedLayout(blocks: number, options: FixedLayoutOptions = {}): Pattern {
  const fn = 'fixedLayout';
  const o = checkLayoutOptions(fn, options);
  const local = checkInteger(fn, 'options.localBlocks', o.localBlocks ?? 4, 1);
  const global = checkInteger(fn, 'options.globalBlocks', o.globalBlocks ?? 1, 1);
  const horizontal = checkBoolean(fn, 'options.horizontalGlobal', o.horizontalGlobal ?? false);
  const uni = checkDirection(fn, o, horizontal);
  const which = checkInteger(fn, 'options.pattern', o.pattern ?? 0);
  if (local % global !== 0) throw rangeError(fn, `options.globalBlocks (${global}) must divide options.localBlocks (${local})`);
  if (which >= local / global) throw rangeError(fn, `options.pattern must be below localBlocks / globalBlocks = ${local / global}, got ${which}`);
  const layout = newLayout(fn, blocks);
  for (let i = 0; i < blocks; i += local) layout.window(i, i + local, uni);
  const first = local - (1 + which) * global;
  const full = blocks - (blocks % local);
  const setGlobal = (start: number) => layout.global(start, start + global, uni ? start : 0, horizontal);
  for (let i = first; i < full; i += local) setGlobal(i);
  if (full < blocks) setGlobal(Math.max(0, Math.min(full + first, blocks - global)));
  return layout.pattern();
}

/**
 * The Variable layout (xFormers' VariableSparsityConfig): randomBlocks random block columns in
 * each row (distinct, drawn by Random(seed) row by row; from the blocks up to the row's own
 * when unidirectional, where xFormers draws from all), local windows of the given sizes (the
 * last size repeating), and global blocks or ranges attended by every row (from their own row
 * down when unidirectional) and, with horizontalGlobal, attending every block. Global
 * indices past the end are ignored, ranges clipped.
 */
export function variableLayout(blocks: number, options: VariableLayoutOptions = {}): Pattern {
  const fn = 'variableLayout';
  const o = checkLayoutOptions(fn, options);
  const randoms = checkInteger(fn, 'options.randomBlocks', o.randomBlocks ?? 0);
  const windows = checkIntegers(fn, 'options.localWindows', o.localWindows ?? [4], 1);
  if (windows.length === 0) throw rangeError(fn, 'options.localWindows needs at least one window size');
  const ranges = globalRanges(fn, o);
  const horizontal = checkBoolean(fn, 'options.horizontalGlobal', o.horizontalGlobal ?? false);
  const uni = checkDirection(fn, o, horizontal);
  const seed = checkSeed(fn, o.seed ?? 0);
  const layout = newLayout(fn, blocks);
  if (randoms > blocks) throw rangeError(fn, `options.randomBlocks (${randoms}) is more than the ${blocks} blocks of a row`);
  const rng = new Random(seed);
  for (let r = 0; r < blocks && randoms > 0; r++) {
    const pool = Array.from({ length: uni ? r + 1 : blocks }, (_, c) => c);
    for (const c of drawDistinct(rng, pool, randoms)) layout.data[r * blocks + c] = 1;
  }
  let start = 0;
  for (let k = 0; start < blocks; k++) {
    const size = windows[Math.min(k, windows.length - 1)];
    layout.window(start, start + size, uni);
    start += size;
  }
  for (const [s, e] of ranges) if (s < blocks) layout.global(s, e, uni ? s : 0, horizontal);
  return layout.pattern();
}

/**
 * The block-sparse Longformer layout (xFormers' BSLongformerSparsityConfig): a sliding window
 * of floor(slidingWindowBlocks / 2) blocks each side, and global blocks or ranges that attend
 * every block and are attended by every block; unidirectional keeps the blocks on and below
 * the diagonal. Global indices past the end are ignored, ranges clipped.
 */
export function longformerLayout(blocks: number, options: LongformerLayoutOptions = {}): Pattern {
  const fn = 'longformerLayout';
  const o = checkLayoutOptions(fn, options);
  const sliding = checkInteger(fn, 'options.slidingWindowBlocks', o.slidingWindowBlocks ?? 3, 1);
  const ranges = globalRanges(fn, o);
  const uni = checkDirection(fn, o, false);
  const layout = newLayout(fn, blocks);
  const w = Math.floor(sliding / 2);
  for (let r = 0; r < blocks; r++) layout.fill(r, r + 1, r - w, r + w + 1);
  for (const [s, e] of ranges) if (s < blocks) layout.global(s, e, 0, true);
  if (uni) layout.lowerTriangle();
  return layout.pattern();
}
