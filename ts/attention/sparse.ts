// Sparse attention: the masks and the two mechanisms that read them.
//
// SparseMask holds an element mask as CSR (row offsets, ascending column indices) on the
// device, with the work schedule the CUDA kernel balances its rows by. Mechanism 'sparse'
// runs it one of two ways:
//   'csr'   native().sparseAttention: scores only the mask's entries (sparse.cu / the CPU loop);
//   'block' native().attention with the mask as a dense uint8 element mask, plus tile lists
//           so the flash kernel skips the tiles that hold no entry.
// BlockSparseLayout holds one bit per [blockSize x blockSize] block; mechanism
// 'block_sparse' is the flash kernel restricted to the on blocks (AttentionParams' layout).
// Every check is made here, before native code runs; see SparseAttentionParams and
// AttentionParams in native/core/ops.h for what the kernels are given.
import { checkDevice, Device, DeviceLike, DType, isFloat } from '../dtype';
import { checkOneOf, checkShape, invalidParameterError, rangeError } from '../errors';
import { native, NativeSparsePlan } from '../native';
import { fill } from '../ops/checks';
import { checkTensor, empty, keep, tensor, Tensor } from '../tensor';
import type { AttentionInputs, AttentionMechanism } from './registry';

/** A split row's pieces hold at most this many entries (the CUDA kernel's unit of work). */
export const SPARSE_SEGMENT = 256;
/** An item of at least this many times a row's mean entries (and SPARSE_LEAD_MIN) leads the schedule. */
export const SPARSE_LEAD_FACTOR = 2;
/** Items shorter than this never lead: they end within a few steps wherever they start. */
export const SPARSE_LEAD_MIN = 32;
/** 'auto' takes the block path at or above this mask density (nnz / (heads · Nq · Nk)). */
export const SPARSE_BLOCK_MIN_DENSITY = 0.5;
/** 'auto' takes the block path at or above this tile fill (nnz / area of the tiles holding an entry). */
export const SPARSE_BLOCK_MIN_FILL = 0.5;
/** The block sizes BlockSparseLayout accepts. */
export const BLOCK_SIZES: readonly number[] = [16, 32, 64, 128];

export type SparsePath = 'auto' | 'csr' | 'block';
const SPARSE_PATHS: readonly SparsePath[] = ['auto', 'csr', 'block'];

/** The kernels' largest head dim (the tiled kernel's limit; attentionTileShape() refuses more). */
const MAX_TILED_HEAD_DIM = 256;

/** A dense 0/1 pattern in the duck type of patterns.ts' Pattern: [rows, cols] row-major. */
export interface DensePattern {
  rows: number;
  cols: number;
  data: Uint8Array;
}

/** What a dense mask or layout may be given as. */
export type DenseInput = Uint8Array | Tensor | DensePattern;

// ---- the work schedule ---------------------------------------------------------------

export interface SparseSchedule {
  /** Records of 4 int32 {row, begin, end, slot}: the lead items, longest first, then the rest in row order. */
  items: Int32Array;
  /** How many of the items lead (started for every batch and head group before the rest). */
  leadItems: number;
  /** Records of 3 int32 {row, firstSlot, slotCount}, one per split row. */
  merges: Int32Array;
  /** Partial-result slots the items write (0 when no row is split). */
  slots: number;
}

/**
 * The CUDA kernel's work schedule for CSR rows (SparseAttentionParams in native/core/ops.h):
 * a row of more than `segment` entries is split into ceil(len / segment) near-equal
 * consecutive pieces, each writing its own partial slot (a row's slots are consecutive),
 * plus one merge record; any other row, empty ones included (so their zeros are written),
 * is one item with slot -1. Items of at least SPARSE_LEAD_FACTOR times the mean row length
 * (and SPARSE_LEAD_MIN entries) lead, longest first: the kernel starts them for every batch
 * and head group before anything else, so that a long row (the notebook mask's class token
 * attends to all 197 keys, five times the mean) does not start in the grid's last wave and
 * run on alone. The other items stay in row order: the kernel gives neighbouring items to
 * the warps of one block, and neighbouring rows of local patterns share many of their keys,
 * which then come from L1 rather than L2.
 */
export function buildSparseSchedule(rowOffsets: Int32Array, segment: number = SPARSE_SEGMENT): SparseSchedule {
  const fn = 'buildSparseSchedule';
  if (!(rowOffsets instanceof Int32Array)) throw invalidParameterError(fn, 'rowOffsets', 'an Int32Array', rowOffsets);
  if (typeof segment !== 'number' || !Number.isInteger(segment)) throw invalidParameterError(fn, 'segment', 'an integer', segment);
  if (segment < 1) throw rangeError(fn, `segment must be at least 1, got ${segment}`);
  if (rowOffsets.length < 1 || rowOffsets[0] !== 0) throw rangeError(fn, 'rowOffsets must start with 0');
  for (let r = 1; r < rowOffsets.length; r++) {
    if (rowOffsets[r] < rowOffsets[r - 1]) throw rangeError(fn, `rowOffsets must not decrease (entry ${r})`);
  }
  const items: number[][] = [];
  const merges: number[] = [];
  let slots = 0;
  const rows = rowOffsets.length - 1;
  const mean = rows > 0 ? rowOffsets[rows] / rows : 0;
  for (let r = 0; r + 1 < rowOffsets.length; r++) {
    const begin = rowOffsets[r];
    const len = rowOffsets[r + 1] - begin;
    if (len <= segment) {
      items.push([r, begin, begin + len, -1]);
      continue;
    }
    const pieces = Math.ceil(len / segment);
    merges.push(r, slots, pieces);
    for (let p = 0; p < pieces; p++) {
      items.push([r, begin + Math.floor((p * len) / pieces), begin + Math.floor(((p + 1) * len) / pieces), slots++]);
    }
  }
  const leads = (it: number[]) => it[2] - it[1] >= Math.max(SPARSE_LEAD_MIN, SPARSE_LEAD_FACTOR * mean);
  const lead = items.filter(leads).sort((a, b) => b[2] - b[1] - (a[2] - a[1])); // stable: row order among equals
  const ordered = [...lead, ...items.filter((it) => !leads(it))];
  return { items: Int32Array.from(ordered.flat()), leadItems: lead.length, merges: Int32Array.from(merges), slots };
}

// ---- reading dense inputs ------------------------------------------------------------

function isPattern(value: unknown): value is DensePattern {
  if (value === null || typeof value !== 'object') return false;
  const p = value as Partial<DensePattern>;
  return typeof p.rows === 'number' && typeof p.cols === 'number' && p.data instanceof Uint8Array;
}

/** A dense mask's host values and shape (rank 2 or 3), from any DenseInput; `device` is a tensor's own. */
function readDense(fn: string, name: string, value: unknown, shape: unknown): { data: Uint8Array; shape: readonly number[]; device?: Device } {
  let data: Uint8Array;
  let own: readonly number[] | undefined;
  let device: Device | undefined;
  if (value instanceof Tensor) {
    checkTensor(fn, name, value);
    if (value.dtype !== 'uint8') throw invalidParameterError(fn, name, 'a uint8 tensor (nonzero = on)', value);
    data = value.dataSync() as Uint8Array;
    own = value.shape;
    device = value.device;
  } else if (value instanceof Uint8Array) {
    data = value;
  } else if (isPattern(value)) {
    if (!Number.isInteger(value.rows) || !Number.isInteger(value.cols) || value.rows < 0 || value.cols < 0) {
      throw rangeError(fn, `${name} has rows ${value.rows} and cols ${value.cols}; expected non-negative integers`);
    }
    if (value.data.length !== value.rows * value.cols) {
      throw rangeError(fn, `${name} has ${value.data.length} values for ${value.rows} x ${value.cols}`);
    }
    data = value.data;
    own = [value.rows, value.cols];
  } else {
    throw invalidParameterError(fn, name, 'a Uint8Array, a uint8 Tensor or a pattern { rows, cols, data }', value);
  }
  let s: readonly number[];
  if (shape !== undefined) {
    s = checkShape(fn, shape, 'shape');
  } else if (own !== undefined) {
    s = own;
  } else {
    throw new TypeError(`${fn}: a Uint8Array ${name} needs a shape ([Nq, Nk] or [H, Nq, Nk])`);
  }
  if (s.length !== 2 && s.length !== 3) throw rangeError(fn, `shape must be [Nq, Nk] or [H, Nq, Nk], got [${s.join(', ')}]`);
  if (s.length === 3 && s[0] < 1) throw rangeError(fn, `shape [${s.join(', ')}] has no heads`);
  const size = s.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw rangeError(fn, `${name} has ${data.length} values but shape [${s.join(', ')}] needs ${size}`);
  return { data, shape: s, device };
}

/** Splits (arg2, arg3) into a shape and options: fromDense(mask, shape?, options?) or fromDense(mask, options). */
function shapeAndOptions<O>(shape: unknown, options: O | undefined): { shape: unknown; options: O | undefined } {
  if (shape !== undefined && shape !== null && !Array.isArray(shape) && typeof shape === 'object') return { shape: undefined, options: shape as O };
  return { shape: shape ?? undefined, options };
}

function checkOptions(fn: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  return options as Record<string, unknown>;
}

function deviceOption(fn: string, options: Record<string, unknown>, fallback: Device | undefined): Device {
  return options.device === undefined ? fallback ?? 'cpu' : checkDevice(fn, options.device, 'options.device');
}

/** A host Int32Array as an int32 tensor on `device`, outside any tidy() scope (the owner disposes it). */
function deviceInt32(values: Int32Array, device: Device): Tensor {
  return keep(tensor(values, [values.length], { dtype: 'int32', device }));
}

function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

// ---- tile lists ------------------------------------------------------------------------

/** Tile lists at one [tileM, tileN] tiling (AttentionParams' tile_offsets / tile_cols). @internal */
export interface TileLists {
  tileM: number;
  tileN: number;
  /** int32 [heads · ceil(Nq / tileM) + 1] on the device. */
  offsets: Tensor;
  /** int32 entries (key tile << 1) | partial on the device. */
  cols: Tensor;
  /** Host copies. */
  hostOffsets: Int32Array;
  hostCols: Int32Array;
  /** Sum over listed tiles of the tile's area clipped to Nq x Nk. */
  area: number;
}

function tileListsOnDevice(hostOffsets: Int32Array, hostCols: Int32Array, tileM: number, tileN: number, area: number, device: Device): TileLists {
  return { tileM, tileN, hostOffsets, hostCols, area, offsets: deviceInt32(hostOffsets, device), cols: deviceInt32(hostCols, device) };
}

function disposeTiles(cache: Map<string, TileLists>): void {
  for (const t of cache.values()) {
    t.offsets.dispose();
    t.cols.dispose();
  }
  cache.clear();
}

// ---- SparseMask ------------------------------------------------------------------------

export interface SparseMaskOptions {
  /** Where the CSR tensors live; default the tensor's device, else 'cpu'. */
  device?: DeviceLike;
  /** Entries per piece of a split row in the work schedule (default SPARSE_SEGMENT). */
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

/**
 * An element mask for attention, stored sparse: CSR on the device (int32 row offsets
 * [heads · Nq + 1], int32 column indices ascending within a row), with host copies, and
 * the work schedule of buildSparseSchedule(). Shape [Nq, Nk] is one mask for every batch
 * and head; [H, Nq, Nk] one per head. Use it with attention(q, k, v, { mechanism: 'sparse', mask }).
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
  /** Host copy of the work schedule. Do not modify. */
  readonly schedule: SparseSchedule;

  private tensors: { rowOffsets: Tensor; colIndices: Tensor; items: Tensor; merges: Tensor } | null;
  private plan: NativeSparsePlan | null = null;
  private elementMask: Tensor | null = null;
  /** choosePath()'s path by `${dtype} ${headDim}`: the rule's inputs never change for a mask. */
  private readonly paths = new Map<string, SparsePath>();
  private readonly tiles = new Map<string, TileLists>();

  /** @internal Use SparseMask.fromDense() or SparseMask.fromCoordinates(). */
  constructor(shape: readonly number[], rowOffsets: Int32Array, colIndices: Int32Array, device: Device, segment: number) {
    this.shape = Object.freeze([...shape]);
    this.heads = shape.length === 3 ? shape[0] : 1;
    this.nq = shape[shape.length - 2];
    this.nk = shape[shape.length - 1];
    this.device = device;
    this.nnz = colIndices.length;
    this.rowOffsets = rowOffsets;
    this.colIndices = colIndices;
    this.schedule = buildSparseSchedule(rowOffsets, segment);
    const made: Tensor[] = [];
    try {
      const upload = (values: Int32Array) => {
        const t = deviceInt32(values, device);
        made.push(t);
        return t;
      };
      const t = {
        rowOffsets: upload(rowOffsets),
        colIndices: upload(colIndices),
        items: upload(this.schedule.items),
        merges: upload(this.schedule.merges),
      };
      this.plan = native().sparsePlan(t.rowOffsets, t.colIndices, this.heads, t.items, t.merges, this.schedule.slots, this.schedule.leadItems);
      this.tensors = t;
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
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
    const dense = readDense(fn, 'mask', mask, split.shape);
    const device = deviceOption(fn, opts, dense.device);
    const segment = segmentOption(fn, opts);
    const s = dense.shape;
    const rows = (s.length === 3 ? s[0] : 1) * s[s.length - 2];
    const nk = s[s.length - 1];
    const rowOffsets = new Int32Array(rows + 1);
    let nnz = 0;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < nk; j++) if (dense.data[r * nk + j] !== 0) nnz++;
      if (nnz > 0x7fffffff) throw rangeError(fn, 'the mask has more than 2^31 - 1 entries');
      rowOffsets[r + 1] = nnz;
    }
    const colIndices = new Int32Array(nnz);
    let e = 0;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < nk; j++) if (dense.data[r * nk + j] !== 0) colIndices[e++] = j;
    }
    return new SparseMask(s, rowOffsets, colIndices, device, segment);
  }

  /**
   * A SparseMask from coordinates: entry e allows (rows[e], cols[e]). With shape [H, Nq, Nk],
   * rows[e] is h · Nq + i. Duplicates are merged; coordinates out of range are a RangeError.
   */
  static fromCoordinates(rows: ArrayLike<number>, cols: ArrayLike<number>, shape: readonly number[], options?: SparseMaskOptions): SparseMask {
    const fn = 'SparseMask.fromCoordinates';
    const isList = (x: unknown) => Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
    if (!isList(rows)) throw invalidParameterError(fn, 'rows', 'an array of integers', rows);
    if (!isList(cols)) throw invalidParameterError(fn, 'cols', 'an array of integers', cols);
    if (rows.length !== cols.length) throw rangeError(fn, `rows has ${rows.length} entries but cols has ${cols.length}`);
    const s = checkShape(fn, shape);
    if (s.length !== 2 && s.length !== 3) throw rangeError(fn, `shape must be [Nq, Nk] or [H, Nq, Nk], got [${s.join(', ')}]`);
    if (s.length === 3 && s[0] < 1) throw rangeError(fn, `shape [${s.join(', ')}] has no heads`);
    const opts = checkOptions(fn, options);
    const device = deviceOption(fn, opts, undefined);
    const segment = segmentOption(fn, opts);
    const nRows = (s.length === 3 ? s[0] : 1) * s[s.length - 2];
    const nk = s[s.length - 1];
    const keys: number[] = [];
    for (let e = 0; e < rows.length; e++) {
      const r = rows[e];
      const c = cols[e];
      if (!Number.isInteger(r) || r < 0 || r >= nRows || !Number.isInteger(c) || c < 0 || c >= nk) {
        throw rangeError(fn, `entry ${e} (${r}, ${c}) is outside [${nRows}, ${nk}]`);
      }
      keys.push(r * nk + c);
    }
    keys.sort((a, b) => a - b);
    const rowOffsets = new Int32Array(nRows + 1);
    const colList: number[] = [];
    for (let e = 0; e < keys.length; e++) {
      if (e > 0 && keys[e] === keys[e - 1]) continue;
      colList.push(keys[e] % nk);
      rowOffsets[Math.floor(keys[e] / nk) + 1]++;
    }
    for (let r = 0; r < nRows; r++) rowOffsets[r + 1] += rowOffsets[r];
    return new SparseMask(s, rowOffsets, Int32Array.from(colList), device, segment);
  }

  /** nnz / (heads · Nq · Nk); 0 for an empty shape. */
  get density(): number {
    const total = this.heads * this.nq * this.nk;
    return total === 0 ? 0 : this.nnz / total;
  }

  get disposed(): boolean {
    return this.tensors === null;
  }

  /** Throws a TypeError naming `fn` if this mask has been disposed. */
  assertAlive(fn: string, name = 'mask'): void {
    if (this.tensors === null) throw new TypeError(`${fn}: ${name} (a SparseMask) has been disposed`);
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
    if (q instanceof Tensor) checkTensor(fn, 'q', q);
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
    const tileShape = attentionTiles(this.device, dtype, headDim);
    const [tileM, tileN] = tileShape;
    if (tileM === 0) {
      const why = headDim > MAX_TILED_HEAD_DIM ? `head dim ${headDim} is above the tiled kernel's ${MAX_TILED_HEAD_DIM}` : `the ${this.device} kernels have no tiles`;
      return { path: 'csr', reason: `${why}: the CSR kernel scores only the ${this.nnz} entries`, density, fill: null, tileShape };
    }
    const lists = this.tileLists(tileM, tileN);
    const fill = lists.area === 0 ? 0 : this.nnz / lists.area;
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

  /** @internal The CSR and schedule tensors on the device. */
  deviceTensors(fn: string): { rowOffsets: Tensor; colIndices: Tensor; items: Tensor; merges: Tensor } {
    this.assertAlive(fn);
    return this.tensors as NonNullable<SparseMask['tensors']>;
  }

  /** @internal The CSR and schedule tensors as one native argument of sparseAttention(). */
  devicePlan(fn: string): NativeSparsePlan {
    this.assertAlive(fn);
    return this.plan as NativeSparsePlan;
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

  /**
   * @internal The key tiles holding an entry, per head and query tile at [tileM, tileN]
   * (partial flag 0: there is no layout), cached per tile shape.
   */
  tileLists(tileM: number, tileN: number): TileLists {
    this.assertAlive('SparseMask.tileLists');
    const key = `${tileM}x${tileN}`;
    const cached = this.tiles.get(key);
    if (cached) return cached;
    const { heads, nq, nk } = this;
    const mTiles = ceilDiv(nq, tileM);
    const nTiles = ceilDiv(nk, tileN);
    const offsets = new Int32Array(heads * mTiles + 1);
    const cols: number[] = [];
    const seen = new Int32Array(nTiles).fill(-1);
    let area = 0;
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < mTiles; t++) {
        const stamp = h * mTiles + t;
        const i0 = t * tileM;
        const i1 = Math.min(i0 + tileM, nq);
        const listed: number[] = [];
        for (let i = i0; i < i1; i++) {
          const r = h * nq + i;
          for (let e = this.rowOffsets[r]; e < this.rowOffsets[r + 1]; e++) {
            const u = Math.floor(this.colIndices[e] / tileN);
            if (seen[u] !== stamp) {
              seen[u] = stamp;
              listed.push(u);
            }
          }
        }
        listed.sort((a, b) => a - b);
        for (const u of listed) {
          cols.push(u << 1);
          area += (i1 - i0) * (Math.min(u * tileN + tileN, nk) - u * tileN);
        }
        offsets[stamp + 1] = cols.length;
      }
    }
    const lists = tileListsOnDevice(offsets, Int32Array.from(cols), tileM, tileN, area, this.device);
    this.tiles.set(key, lists);
    return lists;
  }

  /** Frees the device tensors now. Safe to call twice. */
  dispose(): void {
    if (this.tensors === null) return;
    for (const t of Object.values(this.tensors)) t.dispose();
    this.tensors = null;
    this.plan = null;
    this.elementMask?.dispose();
    this.elementMask = null;
    disposeTiles(this.tiles);
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

function segmentOption(fn: string, options: Record<string, unknown>): number {
  const segment = options.segment ?? SPARSE_SEGMENT;
  if (typeof segment !== 'number' || !Number.isInteger(segment)) throw invalidParameterError(fn, 'options.segment', 'an integer', segment);
  if (segment < 1) throw rangeError(fn, `options.segment must be at least 1, got ${segment}`);
  return segment;
}

/** The attention kernel's tile shape on `device` ([0, 0]: no tiles, or a head dim no tiled kernel serves). */
function attentionTiles(device: Device, dtype: DType, headDim: number): [number, number] {
  if (headDim < 1 || headDim > MAX_TILED_HEAD_DIM) return [0, 0];
  const [tileM, tileN] = native().attentionTileShape(device, dtype, headDim);
  return [tileM, tileN];
}

// ---- BlockSparseLayout -------------------------------------------------------------------

export interface BlockSparseLayoutOptions {
  /** Where the layout lives; default the input's device, else 'cpu'. */
  device?: DeviceLike;
  /** The input's shape, needed for a Uint8Array: [Rb, Cb] / [H, Rb, Cb] in blocks (fromDense), [Nq, Nk] / [H, Nq, Nk] in elements (fromMask). */
  shape?: readonly number[];
}

function checkBlockSize(fn: string, blockSize: unknown): number {
  if (typeof blockSize !== 'number') throw invalidParameterError(fn, 'blockSize', `one of ${BLOCK_SIZES.join(', ')}`, blockSize);
  if (!BLOCK_SIZES.includes(blockSize)) throw rangeError(fn, `blockSize must be one of ${BLOCK_SIZES.join(', ')}, got ${blockSize}`);
  return blockSize;
}

/**
 * A block layout for attention: block (bi, bj) on lets queries of rows [bi·bs, (bi+1)·bs)
 * attend keys of cols [bj·bs, (bj+1)·bs) (the last block row / col may be partial).
 * Shape [Rb, Cb] is one layout for every head, [H, Rb, Cb] one per head; on the device as
 * uint8 [1 or H, Rb, Cb]. Use it with attention(q, k, v, { mechanism: 'block_sparse', layout }).
 */
export class BlockSparseLayout {
  readonly blockSize: number;
  /** [Rb, Cb] or [H, Rb, Cb], in blocks, as built. */
  readonly shape: readonly number[];
  /** 1 (shared by every head) or H. */
  readonly heads: number;
  /** Block rows Rb and block cols Cb. */
  readonly rows: number;
  readonly cols: number;
  readonly device: Device;
  /** Blocks on, over all heads. */
  readonly activeBlocks: number;

  private readonly host: Uint8Array;
  private layout: Tensor | null;
  private readonly tiles = new Map<string, TileLists>();

  /** @internal Use BlockSparseLayout.fromDense() or BlockSparseLayout.fromMask(). */
  constructor(host: Uint8Array, shape: readonly number[], blockSize: number, device: Device) {
    this.shape = Object.freeze([...shape]);
    this.heads = shape.length === 3 ? shape[0] : 1;
    this.rows = shape[shape.length - 2];
    this.cols = shape[shape.length - 1];
    this.blockSize = blockSize;
    this.device = device;
    this.host = Uint8Array.from(host, (x) => (x !== 0 ? 1 : 0));
    this.activeBlocks = this.host.reduce((a, x) => a + x, 0);
    this.layout = keep(tensor(this.host, [this.heads, this.rows, this.cols], { dtype: 'uint8', device }));
  }

  /**
   * A layout from its blocks (nonzero = on): a Uint8Array with options.shape, a uint8 Tensor
   * or a pattern { rows, cols, data }; shape [Rb, Cb] or [H, Rb, Cb]. blockSize: 16, 32, 64 or 128.
   */
  static fromDense(layout: DenseInput, blockSize: number, options?: BlockSparseLayoutOptions): BlockSparseLayout {
    const fn = 'BlockSparseLayout.fromDense';
    const bs = checkBlockSize(fn, blockSize);
    const opts = checkOptions(fn, options);
    const dense = readDense(fn, 'layout', layout, opts.shape);
    return new BlockSparseLayout(dense.data, dense.shape, bs, deviceOption(fn, opts, dense.device));
  }

  /**
   * The layout covering an element mask: a block is on when any of its entries is. mask: a
   * Uint8Array with options.shape, a uint8 Tensor, a pattern or a SparseMask; [Nq, Nk] or
   * [H, Nq, Nk]. The layout is [ceil(Nq / bs), ceil(Nk / bs)] (per head when the mask is).
   */
  static fromMask(mask: DenseInput | SparseMask, blockSize: number, options?: BlockSparseLayoutOptions): BlockSparseLayout {
    const fn = 'BlockSparseLayout.fromMask';
    const bs = checkBlockSize(fn, blockSize);
    const opts = checkOptions(fn, options);
    let shape: readonly number[];
    let fallback: Device | undefined;
    let forEachEntry: (on: (r: number, j: number) => void) => void;
    if (mask instanceof SparseMask) {
      mask.assertAlive(fn);
      if (opts.shape !== undefined) throw new TypeError(`${fn}: options.shape is not used with a SparseMask (it has its own shape)`);
      shape = mask.shape;
      fallback = mask.device;
      forEachEntry = (on) => {
        for (let r = 0; r + 1 < mask.rowOffsets.length; r++) {
          for (let e = mask.rowOffsets[r]; e < mask.rowOffsets[r + 1]; e++) on(r, mask.colIndices[e]);
        }
      };
    } else {
      const dense = readDense(fn, 'mask', mask, opts.shape);
      shape = dense.shape;
      fallback = dense.device;
      const nk = shape[shape.length - 1];
      forEachEntry = (on) => {
        for (let x = 0; x < dense.data.length; x++) if (dense.data[x] !== 0) on(Math.floor(x / nk), x % nk);
      };
    }
    const heads = shape.length === 3 ? shape[0] : 1;
    const nq = shape[shape.length - 2];
    const Rb = ceilDiv(shape[shape.length - 2], bs);
    const Cb = ceilDiv(shape[shape.length - 1], bs);
    const blocks = new Uint8Array(heads * Rb * Cb);
    forEachEntry((r, j) => {
      const h = Math.floor(r / nq);
      blocks[(h * Rb + Math.floor((r % nq) / bs)) * Cb + Math.floor(j / bs)] = 1;
    });
    const blockShape = shape.length === 3 ? [heads, Rb, Cb] : [Rb, Cb];
    return new BlockSparseLayout(blocks, blockShape, bs, deviceOption(fn, opts, fallback));
  }

  /** Fraction of blocks on (over all heads); 0 for an empty layout. */
  get density(): number {
    return this.host.length === 0 ? 0 : this.activeBlocks / this.host.length;
  }

  get disposed(): boolean {
    return this.layout === null;
  }

  /** Throws a TypeError naming `fn` if this layout has been disposed. */
  assertAlive(fn: string, name = 'layout'): void {
    if (this.layout === null) throw new TypeError(`${fn}: ${name} (a BlockSparseLayout) has been disposed`);
  }

  /** The blocks as a uint8 tensor of `shape` (1 = on) on the layout's device. */
  toDense(): Tensor {
    this.assertAlive('BlockSparseLayout.toDense');
    return tensor(this.host, this.shape, { dtype: 'uint8', device: this.device });
  }

  /** @internal The uint8 [heads, Rb, Cb] tensor on the device. */
  deviceLayout(fn: string): Tensor {
    this.assertAlive(fn);
    return this.layout as Tensor;
  }

  /**
   * @internal The key tiles to visit at [tileM, tileN] for Nq x Nk attention, cached: for
   * head hl and query tile t (rows [t·tileM, min((t+1)·tileM, Nq))), each key tile u (cols
   * [u·tileN, min((u+1)·tileN, Nk))) that overlaps a block that is on, ascending, as
   * (u << 1) | partial; partial = 0 only when every block overlapping the tile is on.
   * (Clipping to Nq / Nk or to Rb·bs / Cb·bs touches the same blocks.)
   */
  tileLists(tileM: number, tileN: number, nq: number, nk: number): TileLists {
    this.assertAlive('BlockSparseLayout.tileLists');
    const key = `${tileM}x${tileN}:${nq}x${nk}`;
    const cached = this.tiles.get(key);
    if (cached) return cached;
    const { heads, rows: Rb, cols: Cb, blockSize: bs } = this;
    if (ceilDiv(nq, bs) !== Rb || ceilDiv(nk, bs) !== Cb) {
      throw rangeError('BlockSparseLayout.tileLists', `a [${Rb}, ${Cb}] layout of ${bs}-blocks does not cover ${nq} x ${nk}`);
    }
    const mTiles = ceilDiv(nq, tileM);
    const nTiles = ceilDiv(nk, tileN);
    const offsets = new Int32Array(heads * mTiles + 1);
    const cols: number[] = [];
    let area = 0;
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < mTiles; t++) {
        const i0 = t * tileM;
        const i1 = Math.min(i0 + tileM, nq);
        const bi0 = Math.floor(i0 / bs);
        const bi1 = Math.floor((i1 - 1) / bs);
        for (let u = 0; u < nTiles; u++) {
          const j0 = u * tileN;
          const j1 = Math.min(j0 + tileN, nk);
          let any = false;
          let all = true;
          for (let bi = bi0; bi <= bi1; bi++) {
            for (let bj = Math.floor(j0 / bs); bj <= Math.floor((j1 - 1) / bs); bj++) {
              if (this.host[(h * Rb + bi) * Cb + bj] !== 0) any = true;
              else all = false;
            }
          }
          if (!any) continue;
          cols.push((u << 1) | (all ? 0 : 1));
          area += (i1 - i0) * (j1 - j0);
        }
        offsets[h * mTiles + t + 1] = cols.length;
      }
    }
    const lists = tileListsOnDevice(offsets, Int32Array.from(cols), tileM, tileN, area, this.device);
    this.tiles.set(key, lists);
    return lists;
  }

  /** Frees the device tensors now. Safe to call twice. */
  dispose(): void {
    if (this.layout === null) return;
    this.layout.dispose();
    this.layout = null;
    disposeTiles(this.tiles);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `BlockSparseLayout[${this.shape.join(', ')}] of ${this.blockSize}-blocks, ${this.activeBlocks} on, on ${this.device}${this.disposed ? ' (disposed)' : ''}`;
  }
}

// ---- the mechanisms ------------------------------------------------------------------------

function headDimReason(inputs: AttentionInputs): string[] {
  const d = inputs.q.shape[3];
  return d > MAX_TILED_HEAD_DIM ? [`head dim ${d} is above ${MAX_TILED_HEAD_DIM}`] : [];
}

/** The mechanism's checked options: a live SparseMask that fits q and k, and the path asked for. */
function sparseOptions(fn: string, inputs: AttentionInputs): { mask: SparseMask; path: SparsePath } {
  const { q, k, extra } = inputs;
  const mask = extra.sparseMask;
  if (!(mask instanceof SparseMask)) {
    throw new TypeError(`${fn}: mechanism 'sparse' needs options.mask to be a SparseMask (SparseMask.fromDense(mask)), got ${inputs.mask ? 'a dense mask' : 'none'}`);
  }
  mask.assertAlive(fn, 'options.mask');
  const [, Nq, H] = q.shape;
  const Nk = k.shape[1];
  if (mask.nq !== Nq || mask.nk !== Nk) {
    throw rangeError(fn, `options.mask is a [${mask.shape.join(', ')}] SparseMask but q and k need [Nq, Nk] = [${Nq}, ${Nk}]`);
  }
  if (mask.heads !== 1 && mask.heads !== H) throw rangeError(fn, `options.mask has ${mask.heads} heads but q has ${H} (it needs 1 or ${H})`);
  if (mask.device !== q.device) throw new TypeError(`${fn}: options.mask is on ${mask.device} but q is on ${q.device}`);
  const path = checkOneOf(fn, 'options.sparsePath', extra.sparsePath ?? 'auto', SPARSE_PATHS);
  return { mask, path };
}

/**
 * Mechanism 'sparse': softmax over a SparseMask's entries only (options.mask), on the path
 * options.sparsePath names ('auto' by default: SparseMask.explain() says which and why).
 * No bias and no causal: put causality into the mask.
 */
export const sparse: AttentionMechanism & { forwardInto(out: Tensor, inputs: AttentionInputs): void } = {
  checkInputs(fn, inputs) {
    sparseOptions(fn, inputs);
  },
  notSupportedReasons(inputs) {
    const reasons: string[] = [];
    if (inputs.bias) reasons.push('an additive bias is not supported (use block_sparse or memory_efficient with mask.toDense())');
    if (inputs.causal) reasons.push('causal is not supported: put causality into the mask');
    if (inputs.extra.sparsePath === 'block') reasons.push(...headDimReason(inputs));
    return reasons;
  },
  forward(inputs) {
    const [B, Nq, H, D] = inputs.q.shape;
    const out = empty([B, Nq, H, D], { dtype: inputs.q.dtype, device: inputs.q.device });
    return fill({ out, given: false }, () => sparse.forwardInto(out, inputs));
  },
  /** @internal forward() into a given contiguous [B, Nq, H, D] output (tests poison it first). */
  forwardInto(out, inputs) {
    const fn = 'attention';
    const { q, k, v, scale } = inputs;
    const { mask, path: asked } = sparseOptions(fn, inputs);
    const [B, , H, D] = q.shape;
    const path = asked === 'auto' ? mask.autoPath(q.dtype, D) : asked;
    if (path === 'csr') {
      native().sparseAttention(out, q, k, v, mask.devicePlan(fn), scale);
      return;
    }
    // The block path: the flash kernel with the mask as a dense element mask, broadcast over
    // the batch (and the heads when shared), skipping the tiles that hold no entry.
    const dense = mask.denseElementMask(fn);
    const view = dense._view([B, H, mask.nq, mask.nk], [0, mask.heads === 1 ? 0 : mask.nq * mask.nk, mask.nk, 1]);
    try {
      const [tileM, tileN] = attentionTiles(q.device, q.dtype, D);
      if (tileM > 0) {
        const lists = mask.tileLists(tileM, tileN);
        native().attention(out, q, k, v, view, null, scale, false, { layout: null, block: 0, tileOffsets: lists.offsets, tileCols: lists.cols, tileM, tileN });
      } else {
        native().attention(out, q, k, v, view, null, scale, false);
      }
    } finally {
      view.dispose();
    }
  },
};

/** The mechanism's checked layout: a live BlockSparseLayout that covers q and k. */
function blockSparseLayout(fn: string, inputs: AttentionInputs): BlockSparseLayout {
  const { q, k, extra } = inputs;
  const layout = extra.layout;
  if (!(layout instanceof BlockSparseLayout)) throw invalidParameterError(fn, 'options.layout', "a BlockSparseLayout for mechanism 'block_sparse'", layout);
  layout.assertAlive(fn, 'options.layout');
  const [, Nq, H] = q.shape;
  const Nk = k.shape[1];
  const bs = layout.blockSize;
  if (layout.rows !== ceilDiv(Nq, bs) || layout.cols !== ceilDiv(Nk, bs)) {
    throw rangeError(fn, `options.layout is [${layout.shape.join(', ')}] blocks of ${bs}, but Nq = ${Nq} and Nk = ${Nk} need [${ceilDiv(Nq, bs)}, ${ceilDiv(Nk, bs)}]`);
  }
  if (layout.heads !== 1 && layout.heads !== H) throw rangeError(fn, `options.layout has ${layout.heads} heads but q has ${H} (it needs 1 or ${H})`);
  if (layout.device !== q.device) throw new TypeError(`${fn}: options.layout is on ${layout.device} but q is on ${q.device}`);
  return layout;
}

/**
 * Mechanism 'block_sparse': exact attention over the blocks a BlockSparseLayout turns on
 * (options.layout), on top of the usual options.mask, options.bias and options.causal.
 */
export const blockSparse: AttentionMechanism & { forwardInto(out: Tensor, inputs: AttentionInputs): void } = {
  checkInputs(fn, inputs) {
    blockSparseLayout(fn, inputs);
  },
  notSupportedReasons(inputs) {
    const reasons = headDimReason(inputs);
    if (inputs.bias && inputs.bias.device !== inputs.q.device) reasons.push('bias is on another device');
    return reasons;
  },
  forward(inputs) {
    const [B, Nq, H, D] = inputs.q.shape;
    const out = empty([B, Nq, H, D], { dtype: inputs.q.dtype, device: inputs.q.device });
    return fill({ out, given: false }, () => blockSparse.forwardInto(out, inputs));
  },
  /** @internal forward() into a given contiguous [B, Nq, H, D] output (tests poison it first). */
  forwardInto(out, inputs) {
    const fn = 'attention';
    const { q, k, v, scale, causal, mask, bias } = inputs;
    const layout = blockSparseLayout(fn, inputs);
    const [, Nq, , D] = q.shape;
    const Nk = k.shape[1];
    const [tileM, tileN] = attentionTiles(q.device, q.dtype, D);
    const lists = tileM > 0 ? layout.tileLists(tileM, tileN, Nq, Nk) : null;
    native().attention(out, q, k, v, mask, bias, scale, causal, {
      layout: layout.deviceLayout(fn),
      block: layout.blockSize,
      tileOffsets: lists?.offsets ?? null,
      tileCols: lists?.cols ?? null,
      tileM,
      tileN,
    });
  },
};
