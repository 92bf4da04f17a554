// The losses (PyTorch's F.cross_entropy and F.mse_loss): crossEntropy is one fused native
// op (ts/ops/cross_entropy.ts) with its own gradient; mseLoss is composed of recorded ops.
import { checkInteger, checkNumber, checkOneOf, invalidParameterError, rangeError } from '../errors';
import { needsGrad, record } from '../autograd/graph';
import { crossEntropyGrad } from '../autograd/grads/loss';
import { mean, mul, sub } from '../ops/elementwise';
import {
  broadcastShapes, checkFloatTensor, checkLike, checkMinRank, checkOptionalBoolean, checkOptions, contiguousIn, product, sameShape, shapeString,
} from '../ops/checks';
import { CrossEntropySettings, crossEntropyRows, LossReduction } from '../ops/cross_entropy';
import { checkTensor, Tensor, tidy, zeros } from '../tensor';

export type { LossReduction } from '../ops/cross_entropy';

const REDUCTIONS: readonly LossReduction[] = ['mean', 'sum', 'none'];

export interface CrossEntropyOptions {
  /**
   * ε in [0, 1]: the target is (1 − ε)·one-hot + ε/C, as PyTorch's label_smoothing. Default 0.
   */
  labelSmoothing?: number;
  /** Rows whose label is this count for nothing: loss 0, gradient 0, not in a mean's count. Default -100. */
  ignoreIndex?: number;
  /**
   * 'mean' (the default): over the rows not ignored, NaN when every row is ignored (PyTorch's
   * 0/0); 'sum'; 'none': one loss per row, the labels' shape, 0 where ignored.
   */
  reduction?: LossReduction;
  /**
   * Check that every label not ignored is a class in [0, C), throwing a RangeError that names
   * the first one that is not. Default true. It reads 8 bytes back from the device: on CUDA a
   * wait for the forward so far (and not possible while a CUDA graph records). With false, a
   * row whose label is out of range gets a NaN loss and a NaN gradient; nothing reads outside
   * the logits.
   */
  validateLabels?: boolean;
}

/**
 * The cross-entropy of logits [..., C] against integer labels (int32 or uint8, the logits'
 * leading shape: one class index per row), PyTorch's F.cross_entropy with the classes in the
 * last dim: log-softmax and the negative log-likelihood in one pass per row (float32
 * arithmetic for every float dtype), with label smoothing and an ignored index. Returns the
 * loss in the logits' dtype: a scalar ([]) for 'mean' and 'sum', the labels' shape for
 * 'none'. Records its gradient when the logits require grad (the forward keeps each row's
 * log-sum-exp, not the softmax).
 */
export function crossEntropy(logits: Tensor, labels: Tensor, options?: CrossEntropyOptions): Tensor {
  const fn = 'crossEntropy';
  const x = checkFloatTensor(fn, 'logits', logits);
  checkMinRank(fn, 'logits', x, 1, '[..., C]');
  const C = x.shape[x.rank - 1];
  if (C < 1) throw rangeError(fn, `logits must have at least one class, got ${shapeString(x.shape)}`);
  const y = checkTensor(fn, 'labels', labels);
  if (y.dtype !== 'int32' && y.dtype !== 'uint8') throw invalidParameterError(fn, 'labels', 'an int32 or uint8 tensor of class indices', y);
  if (y.device !== x.device) throw invalidParameterError(fn, 'labels', `on ${x.device} like logits`, y);
  const lead = x.shape.slice(0, -1);
  if (!sameShape(y.shape, lead)) {
    throw rangeError(fn, `labels must have the logits' leading shape ${shapeString(lead)} (one class index per row of logits ${shapeString(x.shape)}), got ${shapeString(y.shape)}`);
  }
  const o = checkOptions(fn, options);
  const smoothing = o.labelSmoothing === undefined ? 0 : checkNumber(fn, 'options.labelSmoothing', o.labelSmoothing);
  if (!(smoothing >= 0 && smoothing <= 1)) throw rangeError(fn, `options.labelSmoothing must be in [0, 1], got ${smoothing}`);
  const ignoreIndex = o.ignoreIndex === undefined ? -100 : checkInteger(fn, 'options.ignoreIndex', o.ignoreIndex, -Number.MAX_SAFE_INTEGER);
  const reduction = o.reduction === undefined ? 'mean' : checkOneOf(fn, 'options.reduction', o.reduction, REDUCTIONS);
  const validate = checkOptionalBoolean(fn, 'options.validateLabels', o.validateLabels, true);
  const tracked = needsGrad(x);
  const s: CrossEntropySettings = { smoothing, ignoreIndex, reduction };
  const rows = product(lead);
  const temps: Tensor[] = [];
  try {
    // Rows [rows, C] and labels [rows] as views of contiguous tensors (views: nothing recorded).
    const xc = contiguousIn(x, temps);
    const yc = contiguousIn(y, temps);
    const x2 = xc._view([rows, C], [C, 1], xc.offset);
    const y1 = yc._view([rows], [1], yc.offset);
    temps.push(x2, y1);
    const r = crossEntropyRows(x2, y1, reduction === 'none' ? lead : [], s);
    try {
      if (validate) checkLabels(fn, r.stats, y1, lead, C, ignoreIndex);
      return tracked ? record(fn, r.loss, [x], [x2, y1, r.lse, r.stats], crossEntropyGrad(x.shape, s)) : r.loss;
    } catch (e) {
      r.loss.dispose();
      throw e;
    } finally {
      r.lse.dispose(); // the tape keeps its own views
      r.stats.dispose();
    }
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** Throws a RangeError naming the first label that is neither a class in [0, C) nor ignoreIndex (stats: the forward's). */
function checkLabels(fn: string, stats: Tensor, labels: Tensor, shape: readonly number[], C: number, ignoreIndex: number): void {
  const bad = (stats.dataSync() as Int32Array)[1];
  if (bad < 0) return;
  const one = labels._view([1], [1], labels.offset + bad);
  const value = one.dataSync()[0];
  one.dispose();
  const index: number[] = [];
  for (let i = shape.length - 1, rest = bad; i >= 0; i--) {
    index.unshift(rest % shape[i]);
    rest = Math.floor(rest / shape[i]);
  }
  throw rangeError(fn, `labels[${index.join(', ')}] is ${value}, which is not a class index in [0, ${C}) nor the ignoreIndex ${ignoreIndex}`);
}

export interface MseLossOptions {
  /** 'mean' of the squared differences (the default; NaN for empty inputs), 'sum' (0 for empty ones), or 'none' (elementwise). */
  reduction?: LossReduction;
}

/**
 * The squared error (input − target)², PyTorch's F.mse_loss: input and target of one float
 * dtype and device, broadcast together (numpy rules). Composed of recorded ops (sub, mul,
 * mean), so its gradient flows to both. The mean and sum accumulate in float32.
 */
export function mseLoss(input: Tensor, target: Tensor, options?: MseLossOptions): Tensor {
  const fn = 'mseLoss';
  const a = checkFloatTensor(fn, 'input', input);
  const b = checkLike(fn, 'target', target, a, 'input');
  const shape = broadcastShapes(fn, 'input', a.shape, 'target', b.shape);
  const o = checkOptions(fn, options);
  const reduction = o.reduction === undefined ? 'mean' : checkOneOf(fn, 'options.reduction', o.reduction, REDUCTIONS);
  const n = product(shape);
  if (reduction === 'sum' && n === 0) return zeros([], { dtype: a.dtype, device: a.device });
  return tidy(() => {
    const d = sub(a, b);
    const squares = mul(d, d);
    if (reduction === 'none') return squares;
    const m = mean(squares.reshape([n]), 0);
    return reduction === 'mean' ? m : mul(m, n);
  });
}
