// What the sparse kernels are given besides q, k and v: the CSR kernel's work schedule and
// the tiled kernel's tile lists, built on the host and uploaded. This is the one TypeScript
// file that knows the kernels' schedule records and tile shapes (SparseAttentionParams and
// AttentionParams in native/core/ops.h); when the addon builds these plans natively, it is
// the file that changes. Internal: neither ts/index nor ts/attention/index exports it.
import { Device, DType } from '../dtype';
import { invalidParameterError, rangeError } from '../errors';
import { BlockSparseArgs, native, NativeSparsePlan } from '../native';
import { keep, tensor, Tensor } from '../tensor';
import { INT32_MAX, MAX_HEAD_DIM } from './limits';

/** A split row's pieces hold at most this many entries (the CUDA kernel's unit of work). */
export const SPARSE_SEGMENT = 256;
/** An item of at least this many times a row's mean entries (and SPARSE_LEAD_MIN) leads the schedule. */
export const SPARSE_LEAD_FACTOR = 2;
/** Items shorter than this never lead: they end within a few steps wherever they start. */
export const SPARSE_LEAD_MIN = 32;

// ---- the CSR kernel's work schedule ----------------------------------------------------------

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
 * which then come from L1 rather than L2. Built in typed arrays, whatever the count of rows.
 */
export function buildSparseSchedule(rowOffsets: Int32Array, segment: number = SPARSE_SEGMENT): SparseSchedule {
  const fn = 'buildSparseSchedule';
  if (!(rowOffsets instanceof Int32Array)) throw invalidParameterError(fn, 'rowOffsets', 'an Int32Array', rowOffsets);
  if (typeof segment !== 'number' || !Number.isInteger(segment)) throw invalidParameterError(fn, 'segment', 'an integer', segment);
  if (segment < 1) throw rangeError(fn, `segment must be at least 1, got ${segment}`);
  if (rowOffsets.length < 1 || rowOffsets[0] !== 0) throw rangeError(fn, 'rowOffsets must start with 0');
  const rows = rowOffsets.length - 1;
  const leadLength = Math.max(SPARSE_LEAD_MIN, SPARSE_LEAD_FACTOR * (rows > 0 ? rowOffsets[rows] / rows : 0));
  // First pass: count the items, the lead items, the split rows and their slots.
  let count = rows;
  let leads = 0;
  let merges = 0;
  let slots = 0;
  for (let r = 0; r < rows; r++) {
    const len = rowOffsets[r + 1] - rowOffsets[r];
    if (len < 0) throw rangeError(fn, `rowOffsets must not decrease (entry ${r + 1})`);
    if (len <= segment) {
      if (len >= leadLength) leads++;
      continue;
    }
    const pieces = Math.ceil(len / segment);
    count += pieces - 1;
    merges++;
    slots += pieces;
    for (let p = 0; p < pieces; p++) if (pieceEnd(len, p + 1, pieces) - pieceEnd(len, p, pieces) >= leadLength) leads++;
  }
  if (count > INT32_MAX) throw rangeError(fn, `the schedule's ${count} items are past the int32 limit`);
  // Second pass: the lead items first (in row order for now), the rest after them in row order.
  const items = new Int32Array(4 * count);
  const mergeRecords = new Int32Array(3 * merges);
  let lead = 0;
  let rest = leads;
  let slot = 0;
  let merge = 0;
  const put = (r: number, begin: number, end: number, s: number) => {
    const at = 4 * (end - begin >= leadLength ? lead++ : rest++);
    items[at] = r;
    items[at + 1] = begin;
    items[at + 2] = end;
    items[at + 3] = s;
  };
  for (let r = 0; r < rows; r++) {
    const begin = rowOffsets[r];
    const len = rowOffsets[r + 1] - begin;
    if (len <= segment) {
      put(r, begin, begin + len, -1);
      continue;
    }
    const pieces = Math.ceil(len / segment);
    mergeRecords.set([r, slot, pieces], 3 * merge++);
    for (let p = 0; p < pieces; p++) put(r, begin + pieceEnd(len, p, pieces), begin + pieceEnd(len, p + 1, pieces), slot++);
  }
  // Longest first; row order among equals.
  const order = Uint32Array.from({ length: leads }, (_, n) => n);
  const length = (n: number) => items[4 * n + 2] - items[4 * n + 1];
  order.sort((a, b) => length(b) - length(a) || a - b);
  const unsorted = items.slice(0, 4 * leads);
  order.forEach((from, to) => items.set(unsorted.subarray(4 * from, 4 * from + 4), 4 * to));
  return { items, leadItems: leads, merges: mergeRecords, slots };
}

/** Where piece p of `pieces` near-equal pieces of a row of `len` entries starts (p = pieces: its end). */
function pieceEnd(len: number, p: number, pieces: number): number {
  return Math.floor((p * len) / pieces);
}

// ---- the CSR plan -------------------------------------------------------------------------

/** A mask's CSR as the CSR kernel reads it: [heads · Nq + 1] row offsets and ascending column indices. */
export interface CsrSource {
  heads: number;
  rowOffsets: Int32Array;
  colIndices: Int32Array;
}

/** A mask's plan for the CSR kernel: its CSR and schedule on the device, as one native argument. */
export interface CsrPlan {
  /** The argument of native sparseAttention and encoderBlock. */
  readonly native: NativeSparsePlan;
  /** Host copy of the schedule. */
  readonly schedule: SparseSchedule;
  /** The device tensors the plan reads. */
  readonly tensors: { rowOffsets: Tensor; colIndices: Tensor; items: Tensor; merges: Tensor };
  dispose(): void;
}

/** A host Int32Array as an int32 tensor on `device`, outside any tidy() scope (the owner disposes it). */
function deviceInt32(values: Int32Array, device: Device): Tensor {
  return keep(tensor(values, [values.length], { dtype: 'int32', device }));
}

/** The CSR kernel's plan for `csr` on `device`, its rows split at `segment` entries. */
export function makeCsrPlan(csr: CsrSource, device: Device, segment: number = SPARSE_SEGMENT): CsrPlan {
  const schedule = buildSparseSchedule(csr.rowOffsets, segment);
  const made: Tensor[] = [];
  const upload = (values: Int32Array) => {
    const t = deviceInt32(values, device);
    made.push(t);
    return t;
  };
  try {
    const tensors = {
      rowOffsets: upload(csr.rowOffsets),
      colIndices: upload(csr.colIndices),
      items: upload(schedule.items),
      merges: upload(schedule.merges),
    };
    const plan = native().sparsePlan(tensors.rowOffsets, tensors.colIndices, csr.heads, tensors.items, tensors.merges, schedule.slots, schedule.leadItems);
    return { native: plan, schedule, tensors, dispose: () => made.forEach((t) => t.dispose()) };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

// ---- tile lists -----------------------------------------------------------------------------

/** Tile lists at one [tileM, tileN] tiling, on the host (AttentionParams' tile_offsets / tile_cols). */
export interface TileLists {
  tileM: number;
  tileN: number;
  /** [heads · ceil(Nq / tileM) + 1] offsets into cols. */
  offsets: Int32Array;
  /** Entries (key tile << 1) | partial. */
  cols: Int32Array;
  /** Sum over listed tiles of the tile's area clipped to Nq x Nk. */
  area: number;
}

/** An int32 list that grows by doubling. */
class Int32List {
  private data = new Int32Array(64);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      if (this.length > INT32_MAX / 2) throw rangeError('attention', `the tile lists hold more than ${INT32_MAX} entries`);
      const grown = new Int32Array(2 * this.length);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/** What maskTileLists reads of a SparseMask. */
export interface MaskTileSource extends CsrSource {
  nq: number;
  nk: number;
}

/**
 * The key tiles holding an entry of the mask, per head and query tile at [tileM, tileN]
 * (partial flag 0: there is no layout), ascending.
 */
export function maskTileLists(mask: MaskTileSource, tileM: number, tileN: number): TileLists {
  const { heads, nq, nk, rowOffsets, colIndices } = mask;
  const mTiles = ceilDiv(nq, tileM);
  const nTiles = ceilDiv(nk, tileN);
  const offsets = new Int32Array(heads * mTiles + 1);
  const cols = new Int32List();
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
        for (let e = rowOffsets[r]; e < rowOffsets[r + 1]; e++) {
          const u = Math.floor(colIndices[e] / tileN);
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
  return { tileM, tileN, offsets, cols: cols.toArray(), area };
}

/** What layoutTileLists reads of a BlockSparseLayout: its blocks, [heads, rows, cols] row-major, nonzero = on. */
export interface LayoutTileSource {
  heads: number;
  rows: number;
  cols: number;
  blockSize: number;
  blocks: Uint8Array;
}

/**
 * The key tiles to visit at [tileM, tileN] for Nq x Nk attention: for head hl and query
 * tile t (rows [t·tileM, min((t+1)·tileM, Nq))), each key tile u (cols [u·tileN,
 * min((u+1)·tileN, Nk))) that overlaps a block that is on, ascending, as (u << 1) | partial;
 * partial = 0 only when every block overlapping the tile is on. (Clipping to Nq / Nk or to
 * rows·bs / cols·bs touches the same blocks.)
 */
export function layoutTileLists(layout: LayoutTileSource, tileM: number, tileN: number, nq: number, nk: number): TileLists {
  const { heads, rows: Rb, cols: Cb, blockSize: bs, blocks } = layout;
  if (ceilDiv(nq, bs) !== Rb || ceilDiv(nk, bs) !== Cb) {
    throw rangeError('BlockSparseLayout.tileLists', `a [${Rb}, ${Cb}] layout of ${bs}-blocks does not cover ${nq} x ${nk}`);
  }
  const mTiles = ceilDiv(nq, tileM);
  const nTiles = ceilDiv(nk, tileN);
  const offsets = new Int32Array(heads * mTiles + 1);
  const cols = new Int32List();
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
            if (blocks[(h * Rb + bi) * Cb + bj] !== 0) any = true;
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
  return { tileM, tileN, offsets, cols: cols.toArray(), area };
}

/** The tiled attention kernel's [tileM, tileN] on `device` ([0, 0]: no tiles, or a head dim no tiled kernel serves). */
export function attentionTiles(device: Device, dtype: DType, headDim: number): [number, number] {
  if (headDim < 1 || headDim > MAX_HEAD_DIM) return [0, 0];
  const [tileM, tileN] = native().attentionTileShape(device, dtype, headDim);
  return [tileM, tileN];
}

/** Tile lists on the device, with their host copies. */
export interface TilePlan {
  readonly host: TileLists;
  /** int32 [heads · ceil(Nq / tileM) + 1]. */
  readonly offsets: Tensor;
  /** int32 entries (key tile << 1) | partial. */
  readonly cols: Tensor;
}

/**
 * The tile plans of one mask or layout on its device, built on first use and cached by
 * tile shape (and Nq x Nk); `build` makes the host lists for one tiling.
 */
export class TilePlans {
  private readonly cache = new Map<string, TilePlan>();

  constructor(private readonly device: Device, private readonly build: (tileM: number, tileN: number, nq: number, nk: number) => TileLists) {}

  /** The plan at [tileM, tileN] for Nq x Nk attention. */
  at(tileM: number, tileN: number, nq: number, nk: number): TilePlan {
    const key = `${tileM}x${tileN}:${nq}x${nk}`;
    let plan = this.cache.get(key);
    if (plan === undefined) {
      const host = this.build(tileM, tileN, nq, nk);
      const offsets = deviceInt32(host.offsets, this.device);
      try {
        plan = { host, offsets, cols: deviceInt32(host.cols, this.device) };
      } catch (e) {
        offsets.dispose();
        throw e;
      }
      this.cache.set(key, plan);
    }
    return plan;
  }

  /** The plan for the tiled kernel that serves dtype and headDim on the device, or null where none does. */
  forKernel(dtype: DType, headDim: number, nq: number, nk: number): TilePlan | null {
    const [tileM, tileN] = attentionTiles(this.device, dtype, headDim);
    return tileM > 0 ? this.at(tileM, tileN, nq, nk) : null;
  }

  dispose(): void {
    for (const plan of this.cache.values()) {
      plan.offsets.dispose();
      plan.cols.dispose();
    }
    this.cache.clear();
  }
}

/** The tile plans of a mask (see maskTileLists). */
export function maskTilePlans(mask: MaskTileSource, device: Device): TilePlans {
  return new TilePlans(device, (tileM, tileN) => maskTileLists(mask, tileM, tileN));
}

/** The tile plans of a layout (see layoutTileLists). */
export function layoutTilePlans(layout: LayoutTileSource, device: Device): TilePlans {
  return new TilePlans(device, (tileM, tileN, nq, nk) => layoutTileLists(layout, tileM, tileN, nq, nk));
}

/** native().attention's blockSparse argument: a layout of `block`-blocks (or none) and a tile plan (or none). */
export function blockSparseArgs(tiles: TilePlan | null, layout: Tensor | null = null, block = 0): BlockSparseArgs {
  return {
    layout,
    block,
    tileOffsets: tiles?.offsets ?? null,
    tileCols: tiles?.cols ?? null,
    tileM: tiles?.host.tileM ?? 0,
    tileN: tiles?.host.tileN ?? 0,
  };
}
