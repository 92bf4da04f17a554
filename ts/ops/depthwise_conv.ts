// The depthwise 2-D convolution over channels-last images (VAN's large-kernel attention, a
// ConvNeXt or MobileNet block): one kh x kw filter per channel. Channels last, because that
// is the layout of a ViT's patch tokens [B, H·W, C]: no permute copies either way. Its
// gradient in autograd/grads/mixing.ts.
import { rangeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { checkLike, checkOptions, checkVector, contiguousIn, fill, OutOptions, prepareOutput, shapeString } from './checks';
import { checkRecordable, needsGradAny, record } from '../autograd/graph';
import { depthwiseConv2dGrad } from '../autograd/grads/mixing';
import { checkImages, checkPair, convArgs, Pair, Window, windowOutput } from './window';

export interface DepthwiseConv2dOptions extends OutOptions {
  /**
   * Zeros added on each side: a number for both axes, [height, width], or 'same' (dilation ·
   * (kernel − 1) / 2 on each axis, which must be whole, with stride 1: the output keeps the
   * input's size). Default 0.
   */
  padding?: Pair | 'same';
  /** Spacing between the kernel's taps. Default 1. */
  dilation?: Pair;
  /** Default 1. */
  stride?: Pair;
}

/**
 * out[b, yo, xo, c] = bias[c] + Σ_{i,j} weight[c, 0, i, j] · x[b, yo·sh − ph + i·dh, xo·sw − pw + j·dw, c]
 * (zeros outside the image): PyTorch's Conv2d with groups = C, in channels-last layout.
 * x [B, H, W, C] float, any strides; weight [C, 1, kh, kw] (PyTorch's layout) and bias [C]
 * (or null) of x's dtype and device. Returns a contiguous [B, Ho, Wo, C],
 * Ho = ⌊(H + 2·ph − dh·(kh − 1) − 1) / sh⌋ + 1 (Wo likewise), computed in float32 or better.
 */
export function depthwiseConv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: DepthwiseConv2dOptions): Tensor {
  const fn = 'depthwiseConv2d';
  const t = checkImages(fn, 'x', x);
  const C = t.shape[3];
  const w = checkLike(fn, 'weight', weight, t, 'x');
  if (w.rank !== 4 || w.shape[0] !== C || w.shape[1] !== 1 || w.shape[2] < 1 || w.shape[3] < 1) {
    throw rangeError(fn, `weight must be [${C}, 1, kh, kw] (kh, kw >= 1) for x ${shapeString(t.shape)} (channels last), got ${shapeString(w.shape)}`);
  }
  const b = checkVector(fn, 'bias', bias, C, t, 'x');
  const o = checkOptions(fn, options);
  const window = convWindow(fn, o, [w.shape[2], w.shape[3]]);
  const shape = windowOutput(fn, t.shape, window);
  const tracked = needsGradAny([t, w, b]);
  if (tracked) checkRecordable(fn, o);
  const out = prepareOutput(fn, o.out, shape, t, { x: t, weight: w, bias: b });
  const y = fill(out, (temps) => {
    if (out.out.size === 0) return;
    native().depthwiseConv2d(out.out, contiguousIn(t, temps), contiguousIn(w, temps), b ? contiguousIn(b, temps) : null, ...convArgs(window));
  });
  return tracked ? record(fn, y, [t, w, b], [t, w], depthwiseConv2dGrad(window)) : y;
}

/** The window of depthwiseConv2d's options for a kernel of this size. */
function convWindow(fn: string, o: Partial<DepthwiseConv2dOptions>, kernel: [number, number]): Window {
  const dilation = checkPair(fn, 'options.dilation', o.dilation, 1, [1, 1]);
  const stride = checkPair(fn, 'options.stride', o.stride, 1, [1, 1]);
  if (o.padding !== 'same') return { kernel, dilation, stride, padding: checkPair(fn, 'options.padding', o.padding, 0, [0, 0]) };
  const span = [0, 1].map((i) => dilation[i] * (kernel[i] - 1));
  if (span.some((s) => s % 2 !== 0) || stride[0] !== 1 || stride[1] !== 1) {
    throw rangeError(fn, `options.padding 'same' needs stride 1 and dilation · (kernel − 1) even on both axes, got kernel [${kernel.join(', ')}], dilation [${dilation.join(', ')}], stride [${stride.join(', ')}]`);
  }
  return { kernel, dilation, stride, padding: [span[0] / 2, span[1] / 2] };
}
