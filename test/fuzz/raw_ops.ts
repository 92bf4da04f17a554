// The addon's op methods as the fuzz forges calls to them: the arguments of one valid call
// each, which of them are tensors, outputs and checked numbers.
import * as nf from '../../ts/index';
import type { Device, Tensor } from '../../ts/index';

/** A plain object laid out like a Tensor, as the addon reads one. */
export interface Forged { _storage: unknown; offset: unknown; shape: unknown; strides: unknown; dtype: unknown }

export function forge(t: Tensor): Forged {
  return { _storage: t._storage, offset: t.offset, shape: [...t.shape], strides: [...t.strides], dtype: t.dtype };
}

export interface RawOp {
  name: string;
  /** The arguments of a valid call, and which of them are tensors (and outputs). */
  make(): { args: unknown[]; tensors: number[]; outputs: number[]; numbers: number[]; optional?: number[] };
}

export function rawOps(device: Device): RawOp[] {
  const f32 = (shape: number[]) => nf.randn(shape, { device, seed: 1 });
  const i32 = (values: number[]) => nf.tensor(Int32Array.from(values), [values.length], { dtype: 'int32', device });
  return [
    { name: 'copy', make: () => ({ args: [f32([3, 4]), f32([3, 4])], tensors: [0, 1], outputs: [0], numbers: [] }) },
    { name: 'fill', make: () => ({ args: [f32([5]), 2], tensors: [0], outputs: [0], numbers: [1] }) },
    {
      name: 'gemm',
      make: () => ({ args: [f32([1, 3, 4]), f32([1, 4, 5]), f32([1, 3, 5]), f32([5]), false, false, 1, 1, 0, 0, false], tensors: [0, 1, 2, 3], outputs: [2], numbers: [6, 7], optional: [3] }),
    },
    {
      name: 'gemm', // with a residual (no activation then)
      make: () => ({ args: [f32([1, 3, 4]), f32([1, 4, 5]), f32([1, 3, 5]), f32([5]), false, false, 1, 0, 0, 0, false, f32([1, 3, 5])], tensors: [0, 1, 2, 3, 11], outputs: [2], numbers: [6, 7], optional: [3, 11] }),
    },
    { name: 'norm', make: () => ({ args: [f32([2, 6]), f32([2, 6]), f32([6]), f32([6]), 1e-5, false], tensors: [0, 1, 2, 3], outputs: [0], numbers: [4], optional: [2, 3] }) },
    {
      name: 'softmax',
      make: () => ({ args: [f32([2, 6]), f32([2, 6]), nf.ones([2, 6], { dtype: 'uint8', device }), 1], tensors: [0, 1, 2], outputs: [0], numbers: [3], optional: [2] }),
    },
    { name: 'biasActivation', make: () => ({ args: [f32([2, 6]), f32([2, 6]), f32([6]), 2, 0, 0], tensors: [0, 1, 2], outputs: [0], numbers: [3, 4, 5], optional: [2] }) },
    { name: 'binary', make: () => ({ args: [f32([2, 6]), f32([2, 6]), f32([2, 6]), 0, 1], tensors: [0, 1, 2], outputs: [0], numbers: [3, 4] }) },
    { name: 'mean', make: () => ({ args: [f32([2, 3]), f32([2, 4, 3]), 2, 4, 3], tensors: [0, 1], outputs: [0], numbers: [2, 3, 4] }) },
    { name: 'patchGather', make: () => ({ args: [f32([1, 4, 12]), f32([1, 3, 4, 4]), 2], tensors: [0, 1], outputs: [0], numbers: [2] }) },
    {
      name: 'attention',
      make: () => ({ args: [f32([1, 5, 2, 4]), f32([1, 5, 2, 4]), f32([1, 6, 2, 4]), f32([1, 6, 2, 4]), null, null, 0.5, false], tensors: [0, 1, 2, 3], outputs: [0], numbers: [6] }),
    },
    {
      name: 'normBackward', // dx, dweight, dbias, dy, x, weight, eps, rms
      make: () => ({ args: [f32([2, 6]), f32([6]), f32([6]), f32([2, 6]), f32([2, 6]), f32([6]), 1e-5, false], tensors: [0, 1, 2, 3, 4, 5], outputs: [0, 1, 2], numbers: [6], optional: [1, 2, 5] }),
    },
    {
      name: 'softmaxBackward', // dx, dy, y, mask, scale
      make: () => ({ args: [f32([2, 6]), f32([2, 6]), f32([2, 6]), nf.ones([2, 6], { dtype: 'uint8', device }), 1], tensors: [0, 1, 2, 3], outputs: [0], numbers: [4], optional: [3] }),
    },
    {
      name: 'activationBackward', // dx, dbias, dy, x, bias, activation, param, param2
      make: () => ({ args: [f32([2, 6]), f32([6]), f32([2, 6]), f32([2, 6]), f32([6]), 2, 0, 0], tensors: [0, 1, 2, 3, 4], outputs: [0, 1], numbers: [5, 6, 7], optional: [1, 4] }),
    },
    { name: 'sumRows', make: () => ({ args: [f32([6]), f32([3, 6])], tensors: [0, 1], outputs: [0], numbers: [] }) },
    { name: 'dropout', make: () => ({ args: [f32([3, 6]), f32([3, 6]), 0.5, 7, 8, 1], tensors: [0, 1], outputs: [0], numbers: [2, 3, 4, 5] }) }, // out, x, p, seed, offset, group
    {
      name: 'philox', // out, counter, key: int32 [n, 4], [n, 4], [n, 2]
      make: () => ({ args: [nf.zeros([2, 4], { dtype: 'int32', device }), nf.ones([2, 4], { dtype: 'int32', device }), nf.ones([2, 2], { dtype: 'int32', device })], tensors: [0, 1, 2], outputs: [0], numbers: [] }),
    },
    {
      name: 'attentionBackward', // dq, dk, dv, dbias, dout, q, k, v, out, lse, mask, bias, scale, causal
      make: () => ({
        args: [f32([1, 5, 2, 4]), f32([1, 6, 2, 4]), f32([1, 6, 2, 4]), f32([1, 2, 5, 6]), f32([1, 5, 2, 4]), f32([1, 5, 2, 4]), f32([1, 6, 2, 4]),
          f32([1, 6, 2, 4]), f32([1, 5, 2, 4]), f32([1, 2, 5]), nf.ones([1, 2, 5, 6], { dtype: 'uint8', device }), f32([1, 2, 5, 6]), 0.5, true],
        tensors: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], outputs: [0, 1, 2, 3], numbers: [12], optional: [3, 10, 11],
      }),
    },
    {
      name: 'crossEntropy', // out, lse, stats, logits, labels, labelSmoothing, ignoreIndex, reduction (none: no one-element tensor, which any live storage holds)
      make: () => ({ args: [f32([3]), f32([3]), i32([0, 0]), f32([3, 4]), i32([0, 3, 1]), 0.1, -100, 0], tensors: [0, 1, 2, 3, 4], outputs: [0, 1, 2], numbers: [5, 6, 7] }),
    },
    {
      name: 'crossEntropyBackward', // dlogits, dloss, logits, labels, lse, stats, labelSmoothing, ignoreIndex, reduction
      make: () => ({ args: [f32([3, 4]), f32([3]), f32([3, 4]), i32([0, 3, 1]), f32([3]), i32([3, -1]), 0.1, -100, 0], tensors: [0, 1, 2, 3, 4, 5], outputs: [0], numbers: [6, 7, 8] }),
    },
    { name: 'patchScatter', make: () => ({ args: [f32([1, 3, 4, 4]), f32([1, 4, 12]), 2], tensors: [0, 1], outputs: [0], numbers: [2] }) },
    // The token-mixing ops (issue 26): channels-last [B, H, W, C], windows (pad, dilation, stride) per axis.
    {
      name: 'depthwiseConv2d', // out, x, weight, bias, padH, padW, dilH, dilW, strideH, strideW
      make: () => ({ args: [f32([1, 4, 5, 3]), f32([1, 4, 5, 3]), f32([3, 1, 3, 3]), f32([3]), 1, 1, 1, 1, 1, 1], tensors: [0, 1, 2, 3], outputs: [0], numbers: [4, 5, 6, 7, 8, 9], optional: [3] }),
    },
    {
      name: 'depthwiseConv2dBackward', // dx, dweight, dy, x, weight, padH, padW, dilH, dilW, strideH, strideW
      make: () => ({
        args: [f32([1, 4, 5, 3]), f32([3, 1, 3, 3]), f32([1, 4, 5, 3]), f32([1, 4, 5, 3]), f32([3, 1, 3, 3]), 1, 1, 1, 1, 1, 1],
        tensors: [0, 1, 2, 3, 4], outputs: [0, 1], numbers: [5, 6, 7, 8, 9, 10], optional: [0, 1],
      }),
    },
    { name: 'avgPool2d', make: () => ({ args: [f32([1, 4, 5, 3]), f32([1, 4, 5, 3]), 3, 3, 1, 1, 1, 1, false], tensors: [0, 1], outputs: [0], numbers: [2, 3, 4, 5, 6, 7] }) },
    { name: 'avgPool2dBackward', make: () => ({ args: [f32([1, 4, 5, 3]), f32([1, 4, 5, 3]), 3, 3, 1, 1, 1, 1, false], tensors: [0, 1], outputs: [0], numbers: [2, 3, 4, 5, 6, 7] }) },
    { name: 'fourierMix', make: () => ({ args: [f32([2, 5, 3]), f32([2, 5, 3])], tensors: [0, 1], outputs: [0], numbers: [] }) },
    {
      name: 'encoderBlock', // out, x, then the block's 12 weights (C 4, 2 heads, hidden 8), heads, eps1, eps2, activation (3), scale, plan
      make: () => ({
        args: [f32([1, 3, 4]), f32([1, 3, 4]), f32([4]), f32([4]), f32([12, 4]), f32([12]), f32([4, 4]), f32([4]), f32([4]), f32([4]), f32([8, 4]), f32([8]),
          f32([4, 8]), f32([4]), 2, 1e-5, 1e-5, 2, 0, 0, 0.5, null],
        tensors: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], outputs: [0], numbers: [14, 17], optional: [2, 3, 5, 7, 8, 9, 11, 13],
      }),
    },
  ];
}

/** Which numeric arguments the addon checks (the others, e.g. alpha or eps, are any number, NaN included). */
export const CHECKED_NUMBERS: Record<string, number[]> = {
  copy: [], fill: [], gemm: [7], norm: [], softmax: [], biasActivation: [3], binary: [3], mean: [2, 3, 4], patchGather: [2], attention: [],
  encoderBlock: [14, 17], normBackward: [], softmaxBackward: [], activationBackward: [5], sumRows: [], dropout: [2, 3, 4, 5], philox: [], attentionBackward: [],
  crossEntropy: [5, 7], crossEntropyBackward: [6, 8], patchScatter: [2],
  depthwiseConv2d: [4, 5, 6, 7, 8, 9], depthwiseConv2dBackward: [5, 6, 7, 8, 9, 10], avgPool2d: [2, 3, 4, 5, 6, 7], avgPool2dBackward: [2, 3, 4, 5, 6, 7],
  fourierMix: [],
};
