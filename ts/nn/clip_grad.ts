// clipGradNorm: PyTorch's torch.nn.utils.clip_grad_norm_ over the gradients of many
// parameters, with no host round trip: per device one native multi-tensor norm (every
// gradient as one vector, float32 partials summed in a fixed order) and one multi-tensor
// scale that reads the norm on the device.
import { Device } from '../dtype';
import { checkBoolean, checkNumber, invalidParameterError, rangeError } from '../errors';
import { native } from '../native';
import { checkTensor, emptyFor, isTensor, Tensor } from '../tensor';

export interface ClipGradNormOptions {
  /** The p of the p-norm: a positive number, or Infinity for the largest |element|. Default 2. */
  normType?: number;
  /**
   * Throw an Error (scaling nothing) when the total norm is NaN or infinite. Default false,
   * as PyTorch's: the gradients are then scaled by the NaN (or 0) coefficient, so NaN
   * spreads to every gradient (an infinite norm zeroes the finite elements). True reads the
   * norm back: on CUDA a wait for the device.
   */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients (`.grad`) of `parameters` in place so that their total norm — every
 * element of every gradient as one vector — is at most `maxNorm`: each is multiplied by
 * min(1, maxNorm / (total + 1e-6)), as PyTorch's clip_grad_norm_. Parameters without a
 * gradient are skipped; one listed twice counts once. `parameters`: a Tensor, an iterable of
 * Tensors, or a Map of them (Module.parameters()).
 *
 * Returns the total norm before clipping as a new float32 scalar tensor ([]) on the first
 * gradient's device (zeros([]) on the CPU when there is none), as PyTorch returns a tensor:
 * nothing waits for the device. Read it with `await norm.data()`; dispose it when done.
 */
export function clipGradNorm(parameters: Tensor | Iterable<Tensor> | ReadonlyMap<string, Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): Tensor {
  const fn = 'clipGradNorm';
  const grads = gradients(fn, parameters);
  const max = checkNumber(fn, 'maxNorm', maxNorm);
  if (max < 0) throw rangeError(fn, `maxNorm must be non-negative, got ${max}`);
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  const p = options.normType === undefined ? 2 : checkNumber(fn, 'options.normType', options.normType);
  if (!(p > 0)) throw rangeError(fn, `options.normType must be positive (or Infinity), got ${p}`);
  const strict = options.errorIfNonfinite === undefined ? false : checkBoolean(fn, 'options.errorIfNonfinite', options.errorIfNonfinite);
  if (grads.size === 0) {
    const zero = emptyFor(fn, [], 'float32', 'cpu');
    native().fill(zero, 0);
    return zero;
  }
  const total = totalNorm(fn, grads, p);
  try {
    if (strict) {
      const value = total.dataSync()[0];
      if (!Number.isFinite(value)) {
        throw new Error(`${fn}: the total norm of order ${p} of the gradients is ${value}, so they cannot be clipped (errorIfNonfinite: true)`);
      }
    }
    for (const [device, list] of grads) {
      const norm = total.device === device ? total : total.to(device);
      try {
        native().multiScale(norm, list, max);
      } finally {
        if (norm !== total) norm.dispose();
      }
      for (const g of list) g._bumpVersion();
    }
    return total;
  } catch (e) {
    total.dispose();
    throw e;
  }
}

/** The parameters' gradients by device, each gradient once, in the order first met. */
function gradients(fn: string, parameters: unknown): Map<Device, Tensor[]> {
  let list: Iterable<unknown>;
  if (isTensor(parameters)) list = [parameters];
  else if (parameters instanceof Map) list = parameters.values();
  else if (parameters !== null && typeof parameters === 'object' && typeof (parameters as Iterable<unknown>)[Symbol.iterator] === 'function') list = parameters as Iterable<unknown>;
  else throw invalidParameterError(fn, 'parameters', 'a Tensor, an iterable of Tensors or a Map of them', parameters);
  const byDevice = new Map<Device, Tensor[]>();
  const seen = new Set<Tensor>();
  let i = 0;
  for (const value of list) {
    const t = checkTensor(fn, `parameters[${i++}]`, value);
    const g = t.grad;
    if (g === null || seen.has(g)) continue;
    seen.add(g);
    if (!g.isContiguous) throw rangeError(fn, `the gradient of parameters[${i - 1}] is not contiguous`);
    const group = byDevice.get(g.device);
    if (group) group.push(g);
    else byDevice.set(g.device, [g]);
  }
  return byDevice;
}

/** The norm of every gradient as one vector: a float32 [] on the first device (per-device norms combined there). */
function totalNorm(fn: string, grads: Map<Device, Tensor[]>, p: number): Tensor {
  const norms: Tensor[] = [];
  try {
    for (const [device, list] of grads) {
      const norm = emptyFor(fn, [], 'float32', device);
      norms.push(norm);
      native().multiNorm(norm, list, p);
    }
    if (norms.length === 1) return norms.pop() as Tensor;
    // ‖(‖a‖, ‖b‖)‖ = ‖(a, b)‖ for a p-norm (and for the max): the devices' norms, as one vector, on the first.
    const first = norms[0];
    const moved = norms.map((n) => (n.device === first.device ? n : n.to(first.device)));
    const total = emptyFor(fn, [], 'float32', first.device);
    try {
      native().multiNorm(total, moved, p);
    } catch (e) {
      total.dispose();
      throw e;
    } finally {
      for (const m of moved) if (!norms.includes(m)) m.dispose();
    }
    return total;
  } finally {
    for (const n of norms) n.dispose();
  }
}
