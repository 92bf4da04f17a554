// The gradients of the activations and of biasActivation (internal: the autograd tape calls
// them), from the pre-activation input; the derivatives are activation_grad in
// native/core/activation.h, beside the formulas.
import { rangeError } from '../errors';
import { native } from '../native';
import { emptyFor, Tensor } from '../tensor';
import { activationCode, ActivationSpec } from './activation';
import { checkFloatTensor, checkOptionalBoolean, checkOptions, checkVector, contiguousIn } from './checks';
import { checkGradient, fillGrads } from './backward_checks';

/** What biasActivationBackward gives: dx of x's shape, and dbias [C] when asked (else null). */
export interface BiasActivationGrads { dx: Tensor; dbias: Tensor | null }

function run(fn: string, dy: unknown, x: unknown, bias: unknown, spec: unknown, biasGrad: boolean): BiasActivationGrads {
  const t = checkFloatTensor(fn, 'x', x);
  const g = checkGradient(fn, 'dy', dy, t, 'x');
  let b: Tensor | null = null;
  if (bias !== null && bias !== undefined) {
    if (t.rank < 1) throw rangeError(fn, 'x must have at least one dimension when a bias is given, got []');
    b = checkVector(fn, 'bias', bias, t.shape[t.rank - 1], t, 'x');
  }
  if (biasGrad && t.rank < 1) throw rangeError(fn, 'x must have at least one dimension for a bias gradient, got []');
  const code = activationCode(fn, spec);
  const dx = emptyFor(fn, t.shape, t.dtype, t.device);
  const dbias = biasGrad ? emptyFor(fn, [t.shape[t.rank - 1]], t.dtype, t.device) : null;
  return fillGrads([dx, dbias], { dx, dbias }, (temps) => {
    // The native op takes rows of rank >= 1: a scalar is one row of one.
    const flat = (u: Tensor): Tensor => {
      const c = contiguousIn(u, temps);
      if (c.rank > 0) return c;
      const v = c._view([1], [1]);
      temps.push(v);
      return v;
    };
    native().activationBackward(flat(dx), dbias, flat(g), flat(t), b && contiguousIn(b, temps), code[0], code[1], code[2]);
  });
}

/**
 * The gradient of activation(x, spec) from dy = dL/d(out): dx = dy ⊙ act′(x), x the input
 * (any strides), dy of x's shape, dtype and device. Returns a new contiguous tensor.
 */
export function activationBackward(dy: Tensor, x: Tensor, spec: ActivationSpec): Tensor {
  return run('activationBackward', dy, x, null, spec, false).dx;
}

/**
 * The gradients of biasActivation(x, bias, spec) from dy: dx = dy ⊙ act′(x + bias), and
 * dbias = Σ dx over every row (float32 sums in two stages) unless options.biasGrad is false.
 * x [..., C] the pre-bias input; bias [C] or null.
 */
export function biasActivationBackward(dy: Tensor, x: Tensor, bias: Tensor | null | undefined, spec: ActivationSpec, options?: { biasGrad?: boolean }): BiasActivationGrads {
  const fn = 'biasActivationBackward';
  const biasGrad = checkOptionalBoolean(fn, 'options.biasGrad', checkOptions(fn, options).biasGrad, true);
  return run(fn, dy, x, bias, spec, biasGrad);
}
