// LayerNorm and RMSNorm over the last dim, statistics in float32 or better, one rounding
// to the dtype at the end.
import { native } from '../native';
import { Tensor } from '../tensor';
import { checkFinite, checkFloatTensor, checkMinRank, checkOptions, checkVector, contiguousIn, fill, OutOptions, prepareOutput } from './checks';
import { checkRecordable, needsGrad, record } from '../autograd/graph';
import { normGrad } from '../autograd/grads/norm';
import { rangeError } from '../errors';

function checkEps(fn: string, eps: unknown): number {
  const e = checkFinite(fn, 'eps', eps);
  if (e < 0) throw rangeError(fn, `eps must be non-negative, got ${e}`);
  return e;
}

function run(fn: string, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number, rms: boolean, out: unknown): Tensor {
  const tracked = needsGrad(x, weight) || needsGrad(bias);
  if (tracked) checkRecordable(fn, { out });
  const o = prepareOutput(fn, out, x.shape, x, { x, weight, bias }, 'inPlace');
  const y = fill(o, (temps) => {
    if (x.size === 0) return;
    const xc = contiguousIn(x, temps);
    const wc = weight && contiguousIn(weight, temps);
    const bc = bias && contiguousIn(bias, temps);
    native().norm(o.out, xc, wc, bc, eps, rms);
  });
  return tracked ? record(fn, y, [x, weight, bias], weight ? [x, weight] : [x], normGrad(eps, rms)) : y;
}

/**
 * (x − mean) / √(var + eps) · weight + bias over the last dim (biased variance, as
 * torch.nn.LayerNorm). x [..., C] of a float dtype, any strides; weight and bias [C] of x's
 * dtype and device, or null (1 and 0). eps defaults to 1e-5. Returns a contiguous tensor
 * of x's shape, or writes options.out (which may be x itself when x is contiguous).
 */
export function layerNorm(x: Tensor, weight: Tensor | null | undefined, bias: Tensor | null | undefined, eps = 1e-5, options?: OutOptions): Tensor {
  const fn = 'layerNorm';
  const t = checkFloatTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 1, '[..., C]');
  const C = t.shape[t.rank - 1];
  const w = checkVector(fn, 'weight', weight, C, t, 'x');
  const b = checkVector(fn, 'bias', bias, C, t, 'x');
  const e = checkEps(fn, eps);
  return run(fn, t, w, b, e, false, checkOptions(fn, options).out);
}

/**
 * x / √(mean(x²) + eps) · weight over the last dim. x [..., C] of a float dtype, any
 * strides; weight [C] of x's dtype and device, or null (1). eps defaults to 1e-6. Returns a
 * contiguous tensor of x's shape, or writes options.out (which may be x itself when x is
 * contiguous).
 */
export function rmsNorm(x: Tensor, weight: Tensor | null | undefined, eps = 1e-6, options?: OutOptions): Tensor {
  const fn = 'rmsNorm';
  const t = checkFloatTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 1, '[..., C]');
  const w = checkVector(fn, 'weight', weight, t.shape[t.rank - 1], t, 'x');
  const e = checkEps(fn, eps);
  return run(fn, t, w, null, e, true, checkOptions(fn, options).out);
}
