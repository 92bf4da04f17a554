// The sparse kernels' plans, built natively (native/core/attention_plans.h) once and owned by
// a SparseMask or a BlockSparseLayout: the CSR kernel's schedule and the tiled kernel's tile
// lists. TypeScript knows neither their records nor a kernel's tile shape; it makes the plans
// and reads back the fill figures explain() weighs. Internal: no index exports it.
import { Device, DType } from '../dtype';
import { native, NativeBlockPlan, NativeSparsePlan, NativeTileStats } from '../native';
import { MAX_HEAD_DIM } from './limits';

/** What a plan reads of a SparseMask: its CSR, [heads · Nq + 1] row offsets and ascending columns. */
export interface CsrSource {
  heads: number;
  nq: number;
  nk: number;
  rowOffsets: Int32Array;
  colIndices: Int32Array;
}

/** What a plan reads of a BlockSparseLayout: its blocks, [heads, rows, cols] row-major, nonzero = on. */
export interface LayoutSource {
  heads: number;
  rows: number;
  cols: number;
  blockSize: number;
  blocks: Uint8Array;
}

/** The CSR kernel's plan of `mask` on `device`, rows split at `segment` entries (default: the kernel's). */
export function sparsePlan(mask: CsrSource, device: Device, segment?: number): NativeSparsePlan {
  return native().sparsePlan(device, mask.rowOffsets, mask.colIndices, mask.heads, mask.nq, mask.nk, segment);
}

/** The tiled kernel's plan of the mask `csr` holds: tile lists skipping the tiles without an entry. */
export function maskBlockPlan(csr: NativeSparsePlan, device: Device): NativeBlockPlan {
  return native().blockPlan(device, csr);
}

/** The tiled kernel's plan of a layout: the layout on the device and its tile lists. */
export function layoutBlockPlan(layout: LayoutSource, device: Device): NativeBlockPlan {
  const { heads, rows, cols, blockSize: block, blocks } = layout;
  return native().blockPlan(device, { layout: blocks, heads, rows, cols, block });
}

/**
 * The tile fill figures of `plan` at the tiling of the attention kernel serving dtype and
 * headDim on its device (built now, and kept for the kernel), or null where no tiled kernel
 * serves them: the device's kernels have no tiles, or headDim is past MAX_HEAD_DIM.
 */
export function tileStats(plan: NativeBlockPlan, dtype: DType, headDim: number): NativeTileStats | null {
  if (!Number.isInteger(headDim) || headDim < 1 || headDim > MAX_HEAD_DIM) return null;
  return plan.stats(dtype, headDim);
}
