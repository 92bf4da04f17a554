// The gradient of softmax (internal: the autograd tape calls it), from the forward's output.
import { native } from '../native';
import { emptyFor, Tensor } from '../tensor';
import { broadcastTo, checkFloatTensor, checkKeepMask, checkMinRank, checkOptions, checkScale, contiguousIn } from './checks';
import { checkGradient, fillGrads } from './backward_checks';

export interface SoftmaxBackwardOptions {
  /** The forward's scale. Default 1. */
  scale?: number;
  /** The forward's mask (uint8, broadcastable to y, 1 = keep): dropped entries get 0. */
  mask?: Tensor | null;
}

/**
 * The gradient of y = softmax(x · scale, mask) from y and dy = dL/dy:
 * dx = scale · y ⊙ (dy − Σ dy ⊙ y) over the last dim, 0 where masked; a fully masked row
 * gives zeros. y [..., C] float, any strides; dy of y's shape, dtype and device. Returns a
 * new contiguous tensor of y's dtype.
 */
export function softmaxBackward(dy: Tensor, y: Tensor, options?: SoftmaxBackwardOptions): Tensor {
  const fn = 'softmaxBackward';
  const t = checkFloatTensor(fn, 'y', y);
  checkMinRank(fn, 'y', t, 1, '[..., C]');
  const g = checkGradient(fn, 'dy', dy, t, 'y');
  const o = checkOptions(fn, options);
  const scale = o.scale === undefined ? 1 : checkScale(fn, o.scale);
  const mask = checkKeepMask(fn, 'options.mask', o.mask, t, 'y');
  const dx = emptyFor(fn, t.shape, t.dtype, t.device);
  return fillGrads([dx], dx, (temps) => {
    if (t.size === 0) return;
    const gc = contiguousIn(g, temps);
    const yc = contiguousIn(t, temps);
    let m: Tensor | null = null;
    if (mask) {
      m = broadcastTo(fn, 'options.mask', mask, t.shape);
      temps.push(m);
    }
    native().softmaxBackward(dx, gc, yc, m, scale);
  });
}
