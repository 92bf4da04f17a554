// Block-sparsify: a dense mask or a matrix of weights (attention probabilities, a distance
// fall-off) turned into a BlockSparseLayout, keeping the blocks that hold any entry or enough
// weight, for mechanism 'block_sparse' (xFormers' BlockSparseAttention takes such a layout).
import type { DeviceLike } from '../../dtype';
import { checkNumber, invalidParameterError, rangeError } from '../../errors';
import { checkTensor, isTensor, Tensor } from '../../tensor';
import { BLOCK_SIZES, BlockSparseLayout } from '../block_layout';
import { ceilDiv } from '../mask_input';
import type { PatternLike, ProbabilityMatrix } from './pattern';

export interface BlockSparsifyOptions {
  /**
   * A block is kept when the sum of its entries (a mask's ones, or the weights) is positive and
   * at least this. Default 0: any entry.
   */
  threshold?: number;
  /** Where the layout lives; default the tensor's device, else 'cpu'. */
  device?: DeviceLike;
}

/** The input's values as numbers, its [H, rows, cols] (H = 1 for a matrix) and the tensor's device. */
function readInput(fn: string, input: unknown): { values: ArrayLike<number>; heads: number; rows: number; cols: number; device?: DeviceLike } {
  if (isTensor(input)) {
    const t = checkTensor(fn, 'input', input);
    if (t.rank !== 2 && t.rank !== 3) throw rangeError(fn, `input must be [N, N] or [H, N, N], got [${t.shape.join(', ')}]`);
    const [heads, rows, cols] = t.rank === 3 ? t.shape : [1, ...t.shape];
    if (t.dtype === 'int32') throw invalidParameterError(fn, 'input', 'a uint8 mask or a float tensor of weights', t);
    return { values: t.dataSync() as ArrayLike<number>, heads, rows, cols, device: t.device };
  }
  const m = input as PatternLike | ProbabilityMatrix;
  if (input === null || typeof input !== 'object' || !Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0 ||
      !(m.data instanceof Uint8Array || m.data instanceof Float64Array) || m.data.length !== m.rows * m.cols) {
    throw invalidParameterError(fn, 'input', 'a Tensor, a pattern { rows, cols, data: Uint8Array } or a matrix { rows, cols, data: Float64Array }', input);
  }
  return { values: m.data, heads: 1, rows: m.rows, cols: m.cols };
}

/**
 * The BlockSparseLayout of `input` at blockSize (16, 32, 64 or 128): block (bi, bj) of
 * [ceil(Nq / bs), ceil(Nk / bs)] (per head for an [H, Nq, Nk] tensor) is on when its entries
 * sum to more than 0 and to at least options.threshold (a mask's nonzero entries count 1). input: a Pattern or any
 * { rows, cols, data: Uint8Array } (a mask), a ProbabilityMatrix (weights), or a uint8 mask or
 * float tensor [Nq, Nk] / [H, Nq, Nk]. Weights must be finite and non-negative.
 */
export function blockSparsify(input: PatternLike | ProbabilityMatrix | Tensor, blockSize: number, options: BlockSparsifyOptions = {}): BlockSparseLayout {
  const fn = 'blockSparsify';
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  const threshold = checkNumber(fn, 'options.threshold', options.threshold ?? 0);
  if (!(threshold >= 0 && threshold < Infinity)) throw rangeError(fn, `options.threshold must be finite and non-negative, got ${threshold}`);
  const { values, heads, rows, cols, device } = readInput(fn, input);
  if (!BLOCK_SIZES.includes(blockSize)) throw invalidParameterError(fn, 'blockSize', `one of ${BLOCK_SIZES.join(', ')}`, blockSize);
  const mask = values instanceof Uint8Array; // a mask's entries count 1 each, whatever their nonzero value
  const Rb = ceilDiv(rows, blockSize);
  const Cb = ceilDiv(cols, blockSize);
  const sums = new Float64Array(heads * Rb * Cb);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < rows; i++) {
      const at = (h * Rb + Math.floor(i / blockSize)) * Cb;
      for (let j = 0; j < cols; j++) {
        const v = values[(h * rows + i) * cols + j];
        if (!(v >= 0 && v < Infinity)) throw rangeError(fn, `input entry (${heads > 1 ? `${h}, ` : ''}${i}, ${j}) is ${v}; weights must be finite and non-negative`);
        sums[at + Math.floor(j / blockSize)] += mask ? Math.min(v, 1) : v;
      }
    }
  }
  const blocks = Uint8Array.from(sums, (s) => (s > 0 && s >= threshold ? 1 : 0));
  const shape = heads > 1 || (isTensor(input) && input.rank === 3) ? [heads, Rb, Cb] : [Rb, Cb];
  return BlockSparseLayout.fromDense(blocks, blockSize, { shape, device: options.device ?? device });
}
