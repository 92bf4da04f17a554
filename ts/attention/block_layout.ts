// BlockSparseLayout: one bit per [blockSize x blockSize] block of the attention matrix, for
// mechanism 'block_sparse' (the tiled kernel restricted to the blocks that are on). Its
// device copy and tile lists are a native plan (kernel_plans.ts); the layout owns and frees it.
import { Device, DeviceLike } from '../dtype';
import { invalidParameterError, rangeError } from '../errors';
import type { NativeBlockPlan } from '../native';
import { tensor, Tensor } from '../tensor';
import { layoutBlockPlan } from './kernel_plans';
import {
  ceilDiv, checkBlockExtent, checkElementExtent, checkOptions, DenseInput, deviceOption, maskDims, readDense,
} from './mask_input';
import { SparseMask } from './sparse_mask';

/** The block sizes BlockSparseLayout accepts. */
export const BLOCK_SIZES: readonly number[] = [16, 32, 64, 128];

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
 * uint8 [1 or H, Rb, Cb]. H and the elements a side (Rb·bs, Cb·bs) must fit int32.
 * Use it with attention(q, k, v, { mechanism: 'block_sparse', layout }).
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
  private plan: NativeBlockPlan | null;

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
    this.plan = layoutBlockPlan({ heads: this.heads, rows: this.rows, cols: this.cols, blockSize, blocks: this.host }, device);
  }

  /**
   * A layout from its blocks (nonzero = on): a Uint8Array with options.shape, a uint8 Tensor
   * or a pattern { rows, cols, data }; shape [Rb, Cb] or [H, Rb, Cb]. blockSize: 16, 32, 64 or 128.
   */
  static fromDense(layout: DenseInput, blockSize: number, options?: BlockSparseLayoutOptions): BlockSparseLayout {
    const fn = 'BlockSparseLayout.fromDense';
    const bs = checkBlockSize(fn, blockSize);
    const opts = checkOptions(fn, options);
    const dense = readDense(fn, 'layout', layout, opts.shape, (s) => checkBlockExtent(fn, s, bs));
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
      const dense = readDense(fn, 'mask', mask, opts.shape, (s) => checkElementExtent(fn, s));
      shape = dense.shape;
      fallback = dense.device;
      const nk = shape[shape.length - 1];
      forEachEntry = (on) => {
        for (let x = 0; x < dense.data.length; x++) if (dense.data[x] !== 0) on(Math.floor(x / nk), x % nk);
      };
    }
    const { heads, rows: nq, cols: nk } = maskDims(shape);
    const Rb = ceilDiv(nq, bs);
    const Cb = ceilDiv(nk, bs);
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
    return this.plan === null;
  }

  /** Throws a TypeError naming `fn` if this layout has been disposed. */
  assertAlive(fn: string, name = 'layout'): void {
    if (this.plan === null) throw new TypeError(`${fn}: ${name} (a BlockSparseLayout) has been disposed`);
  }

  /** The blocks as a uint8 tensor of `shape` (1 = on) on the layout's device. */
  toDense(): Tensor {
    this.assertAlive('BlockSparseLayout.toDense');
    return tensor(this.host, this.shape, { dtype: 'uint8', device: this.device });
  }

  /** @internal The tiled kernel's plan: the layout on the device and its tile lists, built by tiling and Nq x Nk on first use. */
  blockPlan(fn: string): NativeBlockPlan {
    this.assertAlive(fn);
    return this.plan as NativeBlockPlan;
  }

  /** Frees the device memory (the plan) now. Safe to call twice. */
  dispose(): void {
    if (this.plan === null) return;
    this.plan.dispose();
    this.plan = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `BlockSparseLayout[${this.shape.join(', ')}] of ${this.blockSize}-blocks, ${this.activeBlocks} on, on ${this.device}${this.disposed ? ' (disposed)' : ''}`;
  }
}
