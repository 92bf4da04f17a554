// Average pooling over channels-last images (PoolFormer's token mixer); its gradient in
// autograd/grads/mixing.ts.
import { checkBoolean, invalidParameterError, rangeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { checkOptions, contiguousIn, fill, OutOptions, prepareOutput } from './checks';
import { checkRecordable, needsGrad, record } from '../autograd/graph';
import { avgPool2dGrad } from '../autograd/grads/mixing';
import { checkImages, checkPair, Pair, poolArgs, Window, windowOutput } from './window';

export interface AvgPool2dOptions extends OutOptions {
  /** The window: a number for both axes, or [height, width]. Required. */
  kernel: Pair;
  /** Default 1, as PoolFormer uses it (PyTorch's AvgPool2d defaults to the kernel size). */
  stride?: Pair;
  /** Zeros added on each side, at most half the kernel. Default 0. */
  padding?: Pair;
  /**
   * Whether the padding counts in each window's divisor. Default false, as PoolFormer uses it
   * (each window averages the pixels inside the image; PyTorch's default is true).
   */
  countIncludePad?: boolean;
}

/**
 * out[b, yo, xo, c] = the mean of x[b, y, x, c] over the window at (yo·sh − ph, xo·sw − pw):
 * PyTorch's AvgPool2d (no ceil mode, no divisor override) in channels-last layout. x
 * [B, H, W, C] float (H, W >= 1), any strides. Returns a contiguous [B, Ho, Wo, C],
 * Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1 (Wo likewise), summed in float32 or better.
 */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const fn = 'avgPool2d';
  const t = checkImages(fn, 'x', x);
  if (options === undefined) throw invalidParameterError(fn, 'options', 'an object with a kernel size', options);
  const o = checkOptions(fn, options);
  if (o.kernel === undefined) throw invalidParameterError(fn, 'options.kernel', 'an integer or [height, width]', o.kernel);
  const kernel = checkPair(fn, 'options.kernel', o.kernel, 1);
  const window: Window = {
    kernel,
    stride: checkPair(fn, 'options.stride', o.stride, 1, [1, 1]),
    padding: checkPair(fn, 'options.padding', o.padding, 0, [0, 0]),
    dilation: [1, 1],
  };
  if (2 * window.padding[0] > kernel[0] || 2 * window.padding[1] > kernel[1]) {
    throw rangeError(fn, `options.padding [${window.padding.join(', ')}] must be at most half the kernel [${kernel.join(', ')}]`);
  }
  const countIncludePad = o.countIncludePad === undefined ? false : checkBoolean(fn, 'options.countIncludePad', o.countIncludePad);
  if (t.shape[1] < 1 || t.shape[2] < 1) throw rangeError(fn, `x must have at least one row and one column, got [${t.shape.join(', ')}]`);
  const shape = windowOutput(fn, t.shape, window);
  const tracked = needsGrad(t);
  if (tracked) checkRecordable(fn, o);
  const out = prepareOutput(fn, o.out, shape, t, { x: t });
  const y = fill(out, (temps) => {
    if (out.out.size === 0) return;
    native().avgPool2d(out.out, contiguousIn(t, temps), ...poolArgs(window), countIncludePad);
  });
  return tracked ? record(fn, y, [t], [], avgPool2dGrad(t.shape, window, countIncludePad)) : y;
}
