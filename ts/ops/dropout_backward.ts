// The native dropout pass (native/core/random_ops.h) for dropout and dropPath, and their
// gradient (internal: the autograd tape and the vanilla attention's backward call it), which
// is the same pass over dy with the forward's seed and offset: the mask is regenerated from
// them, never stored.
import { checkInteger, invalidParameterError } from '../errors';
import { checkOffset, checkSeed } from '../generator';
import { native } from '../native';
import { emptyFor, Tensor } from '../tensor';
import { checkFloatTensor, contiguousIn, fill } from './checks';

/** Where a dropout call read its words: the seed, the offset of its first word, and the elements that share one word. */
export interface DropoutDraw {
  seed: number;
  offset: number;
  /** Consecutive elements (row-major) that share one word: 1 for dropout, the elements of one sample for dropPath. Default 1. */
  group?: number;
}

/** A drop probability: a number in [0, 1]. */
export function checkProbability(fn: string, name: string, p: unknown): number {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw invalidParameterError(fn, name, 'a probability in [0, 1]', p);
  return p;
}

/** @internal x · keep / (1 − p) into a new contiguous tensor of x's shape, dtype and device; no checks of p or the draw. */
export function runDropout(fn: string, x: Tensor, p: number, draw: Required<DropoutDraw>): Tensor {
  const out = emptyFor(fn, x.shape, x.dtype, x.device);
  return fill({ out, given: false }, (temps) => {
    if (x.size > 0) native().dropout(out, contiguousIn(x, temps), p, draw.seed, draw.offset, draw.group);
  });
}

/**
 * The gradient of y = dropout(x, p) (or dropPath) from dy, given where the forward drew its
 * words: dx = dy · keep / (1 − p), 0 where dropped, the mask regenerated. dy float, any
 * strides. Returns a new contiguous tensor of dy's dtype.
 */
export function dropoutBackward(dy: Tensor, p: number, draw: DropoutDraw): Tensor {
  const fn = 'dropoutBackward';
  const g = checkFloatTensor(fn, 'dy', dy);
  const prob = checkProbability(fn, 'p', p);
  if (draw === null || typeof draw !== 'object') throw invalidParameterError(fn, 'draw', 'an object { seed, offset, group? }', draw);
  const seed = checkSeed(fn, 'draw.seed', draw.seed);
  const offset = checkOffset(fn, 'draw.offset', draw.offset);
  const group = draw.group === undefined ? 1 : checkInteger(fn, 'draw.group', draw.group, 1);
  return runDropout(fn, g, prob, { seed, offset, group });
}
