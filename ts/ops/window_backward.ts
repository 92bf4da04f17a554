// The gradients of the window ops (internal: the autograd tape calls them): the depthwise
// convolution's input and weight gradients, and the average pooling's input gradient.
import { rangeError } from '../errors';
import { native } from '../native';
import { emptyFor, Tensor } from '../tensor';
import { checkLike, contiguousIn, sameShape, shapeString } from './checks';
import { fillGrads } from './backward_checks';
import { checkImages, convArgs, poolArgs, Window, windowOutput } from './window';

/** Throws a RangeError unless dy has the shape of the window's output over an input of xShape. */
function checkWindowGradient(fn: string, dy: Tensor, xShape: readonly number[], w: Window): void {
  const shape = windowOutput(fn, xShape, w);
  if (!sameShape(dy.shape, shape)) throw rangeError(fn, `dy must be ${shapeString(shape)} for x ${shapeString(xShape)} and this window, got ${shapeString(dy.shape)}`);
}

/**
 * The gradients of y = depthwiseConv2d(x, weight, bias, window) from dy = dL/dy: dx (x's shape)
 * and dweight (weight's) where asked, each a new contiguous tensor, else null. The bias's
 * gradient is dy summed over B, Ho and Wo (sumTo).
 */
export function depthwiseConv2dBackward(
  dy: Tensor, x: Tensor, weight: Tensor, window: Window, wanted: { dx: boolean; dweight: boolean },
): { dx: Tensor | null; dweight: Tensor | null } {
  const fn = 'depthwiseConv2dBackward';
  const t = checkImages(fn, 'x', x);
  const w = checkLike(fn, 'weight', weight, t, 'x');
  if (w.rank !== 4 || w.shape[0] !== t.shape[3] || w.shape[2] !== window.kernel[0] || w.shape[3] !== window.kernel[1]) {
    throw rangeError(fn, `weight must be [${t.shape[3]}, 1, ${window.kernel.join(', ')}], got ${shapeString(w.shape)}`);
  }
  const g = checkLike(fn, 'dy', dy, t, 'x');
  checkWindowGradient(fn, g, t.shape, window);
  const dx = wanted.dx ? emptyFor(fn, t.shape, t.dtype, t.device) : null;
  const dweight = wanted.dweight ? emptyFor(fn, w.shape, w.dtype, w.device) : null;
  const result = { dx, dweight };
  return fillGrads([dx, dweight], result, (temps) => {
    if (dx === null && dweight === null) return;
    native().depthwiseConv2dBackward(dx, dweight, contiguousIn(g, temps), contiguousIn(t, temps), contiguousIn(w, temps), ...convArgs(window));
  });
}

/** The gradient of y = avgPool2d(x, window) from dy: dx of xShape, a new contiguous tensor. */
export function avgPool2dBackward(dy: Tensor, xShape: readonly number[], window: Window, countIncludePad: boolean): Tensor {
  const fn = 'avgPool2dBackward';
  const g = checkImages(fn, 'dy', dy);
  checkWindowGradient(fn, g, xShape, window);
  const dx = emptyFor(fn, xShape, g.dtype, g.device);
  return fillGrads([dx], dx, (temps) => {
    if (dx.size > 0) native().avgPool2dBackward(dx, contiguousIn(g, temps), ...poolArgs(window), countIncludePad);
  });
}
