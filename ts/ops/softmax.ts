// Softmax over the last dim, with an optional scale and a broadcast keep-mask.
import { invalidParameterError } from '../errors';
import { native } from '../native';
import { checkTensor, Tensor } from '../tensor';
import { broadcastTo, checkBroadcastsTo, checkFloatTensor, checkMinRank, checkOptions, checkScale, contiguousIn, fill, OutOptions, prepareOutput } from './checks';
import { checkRecordable, needsGrad, record } from '../autograd/graph';
import { softmaxGrad } from '../autograd/grads/softmax';

export interface SoftmaxOptions extends OutOptions {
  /** Multiplies x before the softmax. Default 1. */
  scale?: number;
  /**
   * A uint8 tensor broadcastable to x (numpy rules), 1 = keep, 0 = drop. Dropped entries
   * give 0; a row with every entry dropped gives zeros. Default: none (keep all).
   */
  mask?: Tensor | null;
}

/**
 * softmax(x · scale) over the last dim, masked: x [..., C] of a float dtype, any strides.
 * Computed in float32 or better, rounded once to x's dtype. Returns a contiguous tensor
 * of x's shape, or writes options.out (which may be x itself when x is contiguous).
 */
export function softmax(x: Tensor, options?: SoftmaxOptions): Tensor {
  const fn = 'softmax';
  const t = checkFloatTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 1, '[..., C]');
  const o = checkOptions(fn, options);
  const scale = o.scale === undefined ? 1 : checkScale(fn, o.scale);
  let mask: Tensor | null = null;
  if (o.mask !== undefined && o.mask !== null) {
    mask = checkTensor(fn, 'options.mask', o.mask);
    if (mask.dtype !== 'uint8') throw invalidParameterError(fn, 'options.mask', 'a uint8 tensor (1 = keep)', mask);
    if (mask.device !== t.device) throw invalidParameterError(fn, 'options.mask', `on ${t.device} like x`, mask);
    checkBroadcastsTo(fn, 'options.mask', mask.shape, t.shape);
  }
  const tracked = needsGrad(t);
  if (tracked) checkRecordable(fn, o);
  const out = prepareOutput(fn, o.out, t.shape, t, { x: t, 'options.mask': mask }, 'inPlace');
  const y = fill(out, (temps) => {
    if (t.size === 0) return;
    const xc = contiguousIn(t, temps);
    let m: Tensor | null = null;
    if (mask) {
      m = broadcastTo(fn, 'options.mask', mask, t.shape);
      temps.push(m);
    }
    native().softmax(out.out, xc, m, scale);
  });
  return tracked ? record(fn, y, [t], mask ? [y, mask] : [y], softmaxGrad(scale)) : y;
}
