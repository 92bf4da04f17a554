// SparseMask: an element mask for attention stored as CSR (row offsets, ascending column
// indices), built from a dense mask, a pattern or coordinates, with the policy that picks
// mechanism 'sparse''s path (explain()). Its kernel plans (the CSR kernel's schedule, the
// tiled kernel's tile lists) are built natively through kernel_plans.ts; the mask owns and
// frees them.
import { checkDevice, Device, DeviceLike, DType, isFloat } from '../dtype';
import { checkShape, invalidParameterError, rangeError } from '../errors';
import type { NativeBlockPlan, NativeSparsePlan } from '../native';
import { checkTensor, isTensor, keep, tensor, Tensor } from '../tensor';
import { maskBlockPlan, sparsePlan, tileStats } from './kernel_plans';
import { INT32_MAX, MAX_HEAD_DIM } from './limits';
import {
  allocating, checkElementExtent, checkInt32, checkMaskRank, checkOptions, DenseInput, deviceOption, maskDims, readDense, shapeAndOptions,
} from './mask_input';

/** 'auto' takes the block path at or above this mask density (nnz / (heads · Nq · Nk)). */
export const SPARSE_BLOCK_MIN_DENSITY = 0.5;
/** 'auto' takes the block path at or above this tile fill (nnz / area of the tiles holding an entry). */
export const SPARSE_BLOCK_MIN_FILL = 0.5;

export type SparsePath = 'auto' | 'csr' | 'block';
export const SPARSE_PATHS: readonly SparsePath[] = ['auto', 'csr', 'block'];

export interface SparseMaskOptions {
  /** Where the CSR tensors live; default the tensor's device, else 'cpu'. */
  device?: DeviceLike;
  /**
   * The CSR kernel splits a row of more entries than this into pieces of at most this many
   * (default 256): a tuning knob of the CUDA kernel's work schedule.
   */
  segment?: number;
}

/** What mask.explain(q) says: the path 'auto' takes for q, and why. */
export interface SparseExplanation {
  path: 'csr' | 'block';
  reason: string;
  /** nnz / (heads · Nq · Nk). */
  density: number;
  /** nnz / (area of the tiles holding an entry) at tileShape; null where the device has no tiles. */
  fill: number | null;
  /** The attention kernel's [tileM, tileN] for q's dtype and head dim ([0, 0]: no tiles). */
  tileShape: [number, number];
}

/** A q tensor or just what explain() reads of it. */
export interface QueryLike {
  shape: readonly number[];
  dtype: DType;
  device: DeviceLike;
}

/** options.segment, checked; undefined leaves the kernel's default. */
function segmentOption(fn: string, options: Record<string, unknown>): number | undefined {
  const segment = options.segment;
  if (segment === undefined) return undefined;
  if (typeof segment !== 'number' || !Number.isInteger(segment)) throw invalidParameterError(fn, 'options.segment', 'an integer', segment);
  if (segment < 1 || segment > INT32_MAX) throw rangeError(fn, `options.segment must be from 1 to ${INT32_MAX}, got ${segment}`);
  return segment;
}

function isList(x: unknown): x is ArrayLike<unknown> {
  return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
}

/**
 * The CSR of coordinates (rows[e], cols[e]) over nRows rows, duplicates merged, columns
 * ascending: a counting sort by row, then each row's columns sorted. Every coordinate is
 * checked as a number first, so none wraps on its way into an Int32Array.
 */
function csrFromCoordinates(fn: string, rows: ArrayLike<unknown>, cols: ArrayLike<unknown>, nRows: number, nk: number) {
  const n = rows.length;
  checkInt32(fn, 'the count of coordinates', n);
  for (let e = 0; e < n; e++) {
    const r = rows[e];
    const c = cols[e];
    if (typeof r !== 'number' || typeof c !== 'number' || !Number.isInteger(r) || r < 0 || r >= nRows || !Number.isInteger(c) || c < 0 || c >= nk) {
      throw rangeError(fn, `entry ${e} (${String(r)}, ${String(c)}) is outside [${nRows}, ${nk}]`);
    }
  }
  const offsets = new Int32Array(nRows + 1);
  for (let e = 0; e < n; e++) offsets[(rows[e] as number) + 1]++;
  for (let r = 1; r <= nRows; r++) offsets[r] += offsets[r - 1];
  // Placed from each row's end down: offsets[r + 1] ends as row r's first entry.
  const sorted = new Int32Array(n);
  for (let e = 0; e < n; e++) sorted[--offsets[(rows[e] as number) + 1]] = cols[e] as number;
  let w = 0;
  for (let r = 0; r < nRows; r++) {
    const begin = offsets[r + 1];
    const end = r + 1 < nRows ? offsets[r + 2] : n;
    offsets[r] = w;
    if (end - begin > 1) sorted.subarray(begin, end).sort();
    for (let x = begin; x < end; x++) {
      if (x === begin || sorted[x] !== sorted[x - 1]) sorted[w++] = sorted[x];
    }
  }
  offsets[nRows] = w;
  return { rowOffsets: offsets, colIndices: sorted.slice(0, w) };
}

/**
 * An element mask for attention, stored sparse: CSR on the device (int32 row offsets
 * [heads · Nq + 1], int32 column indices ascending within a row), with host copies. Shape
 * [Nq, Nk] is one mask for every batch and head; [H, Nq, Nk] one per head. Every size must
 * fit int32 (H, Nq, Nk, H · Nq + 1 and the entries); larger ones are a RangeError. Use it
 * with attention(q, k, v, { mechanism: 'sparse', mask }).
 */
export class SparseMask {
  /** [Nq, Nk] or [H, Nq, Nk], as built. */
  readonly shape: readonly number[];
  /** 1 (shared by every head) or H. */
  readonly heads: number;
  readonly nq: number;
  readonly nk: number;
  readonly device: Device;
  /** Entries (allowed (i, j) pairs) over all heads. */
  readonly nnz: number;
  /** Host copy of the row offsets, [heads · Nq + 1]. Do not modify. */
  readonly rowOffsets: Int32Array;
  /** Host copy of the column indices, [nnz]. Do not modify. */
  readonly colIndices: Int32Array;

  private csr: NativeSparsePlan | null;
  private tiled: NativeBlockPlan | null = null;
  private elementMask: Tensor | null = null;
  /** choosePath()'s path by `${dtype} ${headDim}`: the rule's inputs never change for a mask. */
  private readonly paths = new Map<string, SparsePath>();

  /** @internal Use SparseMask.fromDense() or SparseMask.fromCoordinates(). */
  constructor(shape: readonly number[], rowOffsets: Int32Array, colIndices: Int32Array, device: Device, segment: number | undefined) {
    this.shape = Object.freeze([...shape]);
    this.heads = shape.length === 3 ? shape[0] : 1;
    this.nq = shape[shape.length - 2];
    this.nk = shape[shape.length - 1];
    this.device = device;
    this.nnz = colIndices.length;
    this.rowOffsets = rowOffsets;
    this.colIndices = colIndices;
    this.csr = sparsePlan(this, device, segment);
  }

  /**
   * A SparseMask from a dense mask (nonzero = attend): a Uint8Array with `shape`, a uint8
   * Tensor (shape inferred, values read back), or a pattern { rows, cols, data }. shape is
   * [Nq, Nk] (every batch and head) or [H, Nq, Nk] (one mask per head). Where the shape is
   * inferred, the options may come second: fromDense(pattern, { device }).
   */
  static fromDense(mask: DenseInput, shape?: readonly number[] | SparseMaskOptions, options?: SparseMaskOptions): SparseMask {
    const fn = 'SparseMask.fromDense';
    const split = shapeAndOptions(shape, options);
    const opts = checkOptions(fn, split.options);
    const dense = readDense(fn, 'mask', mask, split.shape, (s) => checkElementExtent(fn, s));
    const device = deviceOption(fn, opts, dense.device);
    const segment = segmentOption(fn, opts);
    const s = dense.shape;
    const { heads, rows: nq, cols: nk } = maskDims(s);
    return allocating(fn, `a mask of ${heads * nq} rows`, () => {
      const rows = heads * nq;
      const rowOffsets = new Int32Array(rows + 1);
      let nnz = 0;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < nk; j++) if (dense.data[r * nk + j] !== 0) nnz++;
        checkInt32(fn, 'the count of entries', nnz);
        rowOffsets[r + 1] = nnz;
      }
      const colIndices = new Int32Array(nnz);
      let e = 0;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < nk; j++) if (dense.data[r * nk + j] !== 0) colIndices[e++] = j;
      }
      return new SparseMask(s, rowOffsets, colIndices, device, segment);
    });
  }

  /**
   * A SparseMask from coordinates: entry e allows (rows[e], cols[e]). With shape [H, Nq, Nk],
   * rows[e] is h · Nq + i. Duplicates are merged; coordinates out of range are a RangeError.
   */
  static fromCoordinates(rows: ArrayLike<number>, cols: ArrayLike<number>, shape: readonly number[], options?: SparseMaskOptions): SparseMask {
    const fn = 'SparseMask.fromCoordinates';
    if (!isList(rows)) throw invalidParameterError(fn, 'rows', 'an array of integers', rows);
    if (!isList(cols)) throw invalidParameterError(fn, 'cols', 'an array of integers', cols);
    if (rows.length !== cols.length) throw rangeError(fn, `rows has ${rows.length} entries but cols has ${cols.length}`);
    const s = checkShape(fn, shape);
    checkMaskRank(fn, s);
    checkElementExtent(fn, s);
    const opts = checkOptions(fn, options);
    const device = deviceOption(fn, opts, undefined);
    const segment = segmentOption(fn, opts);
    const { heads, rows: nq, cols: nk } = maskDims(s);
    return allocating(fn, `a mask of ${heads * nq} rows`, () => {
      const csr = csrFromCoordinates(fn, rows, cols, heads * nq, nk);
      return new SparseMask(s, csr.rowOffsets, csr.colIndices, device, segment);
    });
  }

  /** nnz / (heads · Nq · Nk); 0 for an empty shape. */
  get density(): number {
    const total = this.heads * this.nq * this.nk;
    return total === 0 ? 0 : this.nnz / total;
  }

  get disposed(): boolean {
    return this.csr === null;
  }

  /** Throws a TypeError naming `fn` if this mask has been disposed. */
  assertAlive(fn: string, name = 'mask'): void {
    if (this.csr === null) throw new TypeError(`${fn}: ${name} (a SparseMask) has been disposed`);
  }

  /** The mask as a dense uint8 tensor of `shape` (1 = attend) on the mask's device. */
  toDense(): Tensor {
    this.assertAlive('SparseMask.toDense');
    return tensor(this.denseHost(), this.shape, { dtype: 'uint8', device: this.device });
  }

  /**
   * Which path 'auto' takes for queries like q (a Tensor or { shape, dtype, device }) and why:
   * the block path where the device's attention kernel has tiles (tileM > 0) and either
   * density >= SPARSE_BLOCK_MIN_DENSITY or fill >= SPARSE_BLOCK_MIN_FILL, where fill =
   * nnz / (area of the tiles holding an entry, clipped to Nq x Nk); the CSR path otherwise.
   */
  explain(q: Tensor | QueryLike): SparseExplanation {
    const fn = 'SparseMask.explain';
    this.assertAlive(fn);
    if (isTensor(q)) checkTensor(fn, 'q', q);
    else if (q === null || typeof q !== 'object' || !Array.isArray(q.shape)) throw invalidParameterError(fn, 'q', 'a Tensor or { shape, dtype, device }', q);
    const device = checkDevice(fn, q.device, 'q.device');
    if (typeof q.dtype !== 'string' || !isFloat(q.dtype)) throw invalidParameterError(fn, 'q.dtype', 'a float dtype', q.dtype);
    if (q.shape.length !== 4) throw rangeError(fn, `q must be [B, N, H, D], got [${q.shape.join(', ')}]`);
    if (q.shape[1] !== this.nq) throw rangeError(fn, `q has Nq = ${q.shape[1]} but the mask is [${this.shape.join(', ')}]`);
    if (device !== this.device) throw new TypeError(`${fn}: the mask is on ${this.device} but q is on ${device}`);
    return this.choosePath(q.dtype, q.shape[3]);
  }

  /** @internal The 'auto' rule (see explain()). */
  choosePath(dtype: DType, headDim: number): SparseExplanation {
    const density = this.density;
    const tiles = tileStats(this.blockPlan('SparseMask.explain'), dtype, headDim);
    if (tiles === null) {
      const why = headDim > MAX_HEAD_DIM ? `head dim ${headDim} is above the tiled kernel's ${MAX_HEAD_DIM}` : `the ${this.device} kernels have no tiles`;
      return { path: 'csr', reason: `${why}: the CSR kernel scores only the ${this.nnz} entries`, density, fill: null, tileShape: [0, 0] };
    }
    const { tileM, tileN, area } = tiles;
    const tileShape: [number, number] = [tileM, tileN];
    const fill = area === 0 ? 0 : this.nnz / area;
    const pct = (x: number) => `${(100 * x).toPrecision(3)}%`;
    if (density >= SPARSE_BLOCK_MIN_DENSITY) {
      return { path: 'block', reason: `density ${pct(density)} >= ${pct(SPARSE_BLOCK_MIN_DENSITY)}: the tiled kernel with a dense element mask`, density, fill, tileShape };
    }
    if (fill >= SPARSE_BLOCK_MIN_FILL) {
      return { path: 'block', reason: `the ${tileM}x${tileN} tiles holding entries are ${pct(fill)} full (>= ${pct(SPARSE_BLOCK_MIN_FILL)}): the tiled kernel skipping empty tiles`, density, fill, tileShape };
    }
    return { path: 'csr', reason: `density ${pct(density)} and tile fill ${pct(fill)} are below ${pct(SPARSE_BLOCK_MIN_DENSITY)} and ${pct(SPARSE_BLOCK_MIN_FILL)}: the CSR kernel scores only the entries`, density, fill, tileShape };
  }

  /** @internal choosePath(dtype, headDim).path, kept after the first call (no reason text made). */
  autoPath(dtype: DType, headDim: number): SparsePath {
    const key = `${dtype} ${headDim}`;
    let path = this.paths.get(key);
    if (path === undefined) {
      path = this.choosePath(dtype, headDim).path;
      this.paths.set(key, path);
    }
    return path;
  }

  /** @internal The CSR kernel's plan (the CSR and its schedule on the device): the argument of native sparseAttention() and encoderBlock(). */
  devicePlan(fn: string): NativeSparsePlan {
    this.assertAlive(fn);
    return this.csr as NativeSparsePlan;
  }

  /** @internal The tiled kernel's plan of this mask (tile lists by tiling, built on first use), made on first use. */
  blockPlan(fn: string): NativeBlockPlan {
    const csr = this.devicePlan(fn);
    this.tiled ??= maskBlockPlan(csr, this.device);
    return this.tiled;
  }

  /**
   * @internal The mask as a dense uint8 [heads, Nq, Nk] tensor on the device, for the block
   * path; built on first use and cached. It costs 1 byte per (i, j), against 4 per entry for
   * the CSR column indices. Taken for density >= SPARSE_BLOCK_MIN_DENSITY it is at most half
   * the CSR's size, so extra memory stays O(nnz); taken for fill alone (a narrow band, say)
   * it is nnz / density bytes, which that rule does not bound.
   */
  denseElementMask(fn: string): Tensor {
    this.assertAlive(fn);
    if (this.elementMask === null) {
      this.elementMask = keep(tensor(this.denseHost(), [this.heads, this.nq, this.nk], { dtype: 'uint8', device: this.device }));
    }
    return this.elementMask;
  }

  /** Frees the device memory (plans and the cached element mask) now. Safe to call twice. */
  dispose(): void {
    if (this.csr === null) return;
    this.csr.dispose();
    this.csr = null;
    this.tiled?.dispose();
    this.tiled = null;
    this.elementMask?.dispose();
    this.elementMask = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `SparseMask[${this.shape.join(', ')}] nnz ${this.nnz} on ${this.device}${this.disposed ? ' (disposed)' : ''}`;
  }

  private denseHost(): Uint8Array {
    const rows = this.heads * this.nq;
    const out = new Uint8Array(rows * this.nk);
    for (let r = 0; r < rows; r++) {
      for (let e = this.rowOffsets[r]; e < this.rowOffsets[r + 1]; e++) out[r * this.nk + this.colIndices[e]] = 1;
    }
    return out;
  }
}
