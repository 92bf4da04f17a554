// The gradients of layerNorm and rmsNorm (internal: the autograd tape calls them). The row
// statistics are recomputed from x (NormBackwardParams in native/core/ops.h says why), and
// the weight and bias gradients are float32 column sums in two stages.
import { native } from '../native';
import { emptyFor, Tensor } from '../tensor';
import { checkFinite, checkFloatTensor, checkMinRank, checkOptionalBoolean, checkOptions, checkVector, contiguousIn } from './checks';
import { checkGradient, fillGrads } from './backward_checks';
import { rangeError } from '../errors';

/** What a norm's backward gives: dx of x's shape, and the parameter gradients [C] asked for (else null). */
export interface NormGrads { dx: Tensor; dweight: Tensor | null; dbias: Tensor | null }

export interface NormBackwardOptions {
  /** Compute dweight = Σ dy · x̂ over the rows. Default: whether a weight is given. */
  weightGrad?: boolean;
  /** Compute dbias = Σ dy over the rows (layerNorm only). Default false. */
  biasGrad?: boolean;
}

function run(fn: string, dy: unknown, x: unknown, weight: unknown, eps: unknown, rms: boolean, options: NormBackwardOptions | undefined): NormGrads {
  const t = checkFloatTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 1, '[..., C]');
  const g = checkGradient(fn, 'dy', dy, t, 'x');
  const C = t.shape[t.rank - 1];
  const w = checkVector(fn, 'weight', weight, C, t, 'x');
  const e = checkFinite(fn, 'eps', eps);
  if (e < 0) throw rangeError(fn, `eps must be non-negative, got ${e}`);
  const o = checkOptions(fn, options);
  const weightGrad = checkOptionalBoolean(fn, 'options.weightGrad', o.weightGrad, w !== null);
  const biasGrad = checkOptionalBoolean(fn, 'options.biasGrad', o.biasGrad, false);
  const dx = emptyFor(fn, t.shape, t.dtype, t.device);
  const dweight = weightGrad ? emptyFor(fn, [C], t.dtype, t.device) : null;
  const dbias = biasGrad ? emptyFor(fn, [C], t.dtype, t.device) : null;
  return fillGrads([dx, dweight, dbias], { dx, dweight, dbias }, (temps) => {
    const gc = contiguousIn(g, temps);
    const xc = contiguousIn(t, temps);
    const wc = w && contiguousIn(w, temps);
    native().normBackward(dx, dweight, dbias, gc, xc, wc, e, rms);
  });
}

/**
 * The gradients of layerNorm(x, weight, bias, eps) from dy = dL/d(out): dx, and (as options
 * ask) dweight = Σ dy · x̂ and dbias = Σ dy over every row. x [..., C] float, any strides;
 * dy of x's shape, dtype and device; weight [C] or null (1). The bias does not enter the
 * gradients. Results are new contiguous tensors of x's dtype.
 */
export function layerNormBackward(dy: Tensor, x: Tensor, weight: Tensor | null | undefined, eps = 1e-5, options?: NormBackwardOptions): NormGrads {
  return run('layerNormBackward', dy, x, weight, eps, false, options);
}

/** The gradients of rmsNorm(x, weight, eps) from dy, as layerNormBackward's (dbias: Σ dy, when asked). */
export function rmsNormBackward(dy: Tensor, x: Tensor, weight: Tensor | null | undefined, eps = 1e-6, options?: NormBackwardOptions): NormGrads {
  return run('rmsNormBackward', dy, x, weight, eps, true, options);
}
