// What the 2-D window ops share (depthwiseConv2d, avgPool2d; internal to ts/ops): their
// channels-last input, their options (a number for both axes or [h, w]), and the output size.
import { checkInteger, invalidParameterError, rangeError } from '../errors';
import { Tensor } from '../tensor';
import { checkFloatTensor, shapeString } from './checks';

/** A size for both axes, or [height, width]. */
export type Pair = number | readonly [number, number];

/** The window of one call, every field resolved (native/core/mixing_ops.h's Window2d). */
export interface Window {
  kernel: [number, number];
  padding: [number, number];
  dilation: [number, number];
  stride: [number, number];
}

/** The largest kernel size, padding, dilation or stride the native ops take. */
const MAX_WINDOW = 2 ** 31 - 1;

/** A Pair option as [h, w]: integers in [min, 2^31 - 1]; `fallback` when undefined. */
export function checkPair(fn: string, name: string, value: unknown, min: number, fallback?: [number, number]): [number, number] {
  if (value === undefined && fallback !== undefined) return fallback;
  const one = (v: unknown, at: string) => {
    const n = checkInteger(fn, at, v, min);
    if (n > MAX_WINDOW) throw rangeError(fn, `${at} must be at most ${MAX_WINDOW}, got ${n}`);
    return n;
  };
  if (typeof value === 'number') return [one(value, name), one(value, name)];
  if (Array.isArray(value) && value.length === 2) return [one(value[0], `${name}[0]`), one(value[1], `${name}[1]`)];
  throw invalidParameterError(fn, name, 'an integer or [height, width]', value);
}

/** x as a window op reads it: a float tensor [B, H, W, C] (channels last). */
export function checkImages(fn: string, name: string, value: unknown): Tensor {
  const t = checkFloatTensor(fn, name, value);
  if (t.rank !== 4) throw rangeError(fn, `${name} must be [B, H, W, C] (channels last), got ${shapeString(t.shape)}`);
  return t;
}

/** The output [B, Ho, Wo, C] of the window over an input [B, H, W, C], or a RangeError when the dilated kernel does not fit the padded image. */
export function windowOutput(fn: string, input: readonly number[], w: Window): number[] {
  const [B, H, W, C] = input;
  const extent = (i: 0 | 1, size: number) => {
    const span = w.dilation[i] * (w.kernel[i] - 1) + 1;
    if (size + 2 * w.padding[i] < span) {
      throw rangeError(fn, `the ${i === 0 ? 'height' : 'width'} ${size} padded by ${w.padding[i]} on each side is smaller than the dilated kernel (${span}) for x ${shapeString(input)}`);
    }
    return Math.floor((size + 2 * w.padding[i] - span) / w.stride[i]) + 1;
  };
  return [B, extent(0, H), extent(1, W), C];
}

/** The native ops' window arguments in order: padH, padW, dilH, dilW, strideH, strideW. */
export function convArgs(w: Window): [number, number, number, number, number, number] {
  return [w.padding[0], w.padding[1], w.dilation[0], w.dilation[1], w.stride[0], w.stride[1]];
}

/** The pooling's window arguments in order: kernelH, kernelW, strideH, strideW, padH, padW. */
export function poolArgs(w: Window): [number, number, number, number, number, number] {
  return [w.kernel[0], w.kernel[1], w.stride[0], w.stride[1], w.padding[0], w.padding[1]];
}
