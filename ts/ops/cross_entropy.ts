// The fused cross-entropy op and its gradient as the addon runs them (internal: the public
// crossEntropy in ts/nn/losses.ts checks the arguments and records the gradient). Logits come
// as rows [rows, C] and labels as [rows], both contiguous.
import { native } from '../native';
import { emptyFor, Tensor } from '../tensor';
import { contiguousIn } from './checks';
import { fillGrads } from './backward_checks';

export type LossReduction = 'mean' | 'sum' | 'none';

/** LossReduction in native/core/training_ops.h. */
const REDUCTION_CODES: Record<LossReduction, number> = { none: 0, mean: 1, sum: 2 };

/** The settings the forward and backward share. */
export interface CrossEntropySettings { smoothing: number; ignoreIndex: number; reduction: LossReduction }

/**
 * What the forward gives: the loss (`shape`: the labels' for 'none', [] otherwise, in the
 * logits' dtype), each row's log-sum-exp (float32 [rows]) and stats (int32 [2]: the rows
 * counted, the first row whose label is outside [0, C) or -1), all new tensors.
 */
export interface CrossEntropyResult { loss: Tensor; lse: Tensor; stats: Tensor }

export function crossEntropyRows(logits: Tensor, labels: Tensor, shape: readonly number[], s: CrossEntropySettings): CrossEntropyResult {
  const fn = 'crossEntropy';
  const loss = emptyFor(fn, shape, logits.dtype, logits.device);
  const lse = emptyFor(fn, [logits.shape[0]], 'float32', logits.device);
  const stats = emptyFor(fn, [2], 'int32', logits.device);
  const result = { loss, lse, stats };
  return fillGrads([loss, lse, stats], result, () => {
    native().crossEntropy(loss, lse, stats, logits, labels, s.smoothing, s.ignoreIndex, REDUCTION_CODES[s.reduction]);
  });
}

/** d loss / d logits [rows, C] from the loss's gradient (its shape, any strides), with the forward's lse and stats. */
export function crossEntropyRowsBackward(dloss: Tensor, logits: Tensor, labels: Tensor, lse: Tensor, stats: Tensor, s: CrossEntropySettings): Tensor {
  const dlogits = emptyFor('crossEntropyBackward', logits.shape, logits.dtype, logits.device);
  return fillGrads([dlogits], dlogits, (temps) => {
    native().crossEntropyBackward(dlogits, contiguousIn(dloss, temps), logits, labels, lse, stats, s.smoothing, s.ignoreIndex, REDUCTION_CODES[s.reduction]);
  });
}
