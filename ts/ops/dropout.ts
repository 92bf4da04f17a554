// dropout and dropPath (stochastic depth, as timm's DropPath): y = x · keep / (1 − p), 0 where
// dropped, in one fused native pass; keep is drawn per element (dropout) or per sample along
// dim 0 (dropPath) from a Philox stream (ts/generator.ts), so a seeded run is reproducible and
// a mask is the same on the CPU and a GPU. The gradient regenerates the mask from the seed and
// offset (ts/autograd/grads/dropout.ts; DERIVATIVES.md says why it stores none).
import { checkBoolean, invalidParameterError, rangeError } from '../errors';
import { checkOffset, checkSeed, defaultGenerator, RandomGenerator } from '../generator';
import { Tensor } from '../tensor';
import { checkFloatTensor, checkOptions } from './checks';
import { checkProbability, DropoutDraw, runDropout } from './dropout_backward';
import { needsGrad, record } from '../autograd/graph';
import { dropoutGrad } from '../autograd/grads/dropout';

export interface DropoutOptions {
  /** false: the identity (x itself, no copy, nothing recorded), as a module in eval(). Default true. */
  training?: boolean;
  /** The generator to draw from (its offset advances). Default: the default generator of x's device (manualSeed seeds it). */
  generator?: RandomGenerator;
  /** Read the stream of this seed instead of a generator's (nothing advances): an integer in [0, 2^53). */
  seed?: number;
  /** With `seed`: the first word read, a multiple of 4. Default 0. */
  offset?: number;
}

/** Where a call's words come from: a fixed (seed, offset), or a generator (null: x's device's default). */
type Source = { seed: number; offset: number } | { generator: RandomGenerator | null };

/** The options as given (a boolean is `training`, as in F.dropout(x, p, training)). */
function readOptions(fn: string, options: DropoutOptions | boolean | undefined): { training: boolean; source: Source } {
  const o = typeof options === 'boolean' ? { training: options } : checkOptions(fn, options);
  const training = o.training === undefined ? true : checkBoolean(fn, 'options.training', o.training);
  if (o.seed !== undefined) {
    if (o.generator !== undefined) throw rangeError(fn, 'options.seed and options.generator are two sources of numbers: give one');
    const seed = checkSeed(fn, 'options.seed', o.seed);
    return { training, source: { seed, offset: o.offset === undefined ? 0 : checkOffset(fn, 'options.offset', o.offset) } };
  }
  if (o.offset !== undefined) throw rangeError(fn, 'options.offset needs options.seed (a generator keeps its own offset)');
  if (o.generator !== undefined && !(o.generator instanceof RandomGenerator)) throw invalidParameterError(fn, 'options.generator', 'a RandomGenerator', o.generator);
  return { training, source: { generator: o.generator ?? null } };
}

function drop(fn: string, x: Tensor, p: number, options: DropoutOptions | boolean | undefined, perSample: boolean): Tensor {
  const t = checkFloatTensor(fn, 'x', x);
  const prob = checkProbability(fn, 'p', p);
  const { training, source } = readOptions(fn, options);
  if (perSample && t.rank === 0) throw rangeError(fn, 'x must have a batch dim [B, ...], got a scalar');
  if (!training || prob === 0) return t;
  const samples = perSample ? t.shape[0] : t.size;
  const group = perSample && samples > 0 ? t.size / samples : 1;
  // One word per element (dropout) or per sample (dropPath); p = 1 keeps nothing and draws nothing.
  const count = prob === 1 ? 0 : samples;
  const from = 'generator' in source ? (source.generator ?? defaultGenerator(t.device)).draw(fn, count) : source;
  const draw: Required<DropoutDraw> = { seed: from.seed, offset: from.offset, group };
  const y = runDropout(fn, t, prob, draw);
  return needsGrad(t) ? record(fn, y, [t], [], dropoutGrad(fn, prob, draw)) : y;
}

/**
 * Dropout (torch.nn.functional.dropout): each element of x is zeroed with probability p and
 * the others are scaled by 1/(1 − p), y = x · keep / (1 − p), in one pass. p = 0 or training
 * false: x itself (no copy, nothing recorded); p = 1: zeros. x float (float32, float16,
 * bfloat16), any strides; the mask follows x's row-major order. Draws x.size words from the
 * generator (options: DropoutOptions, or a boolean for training). Returns a new contiguous tensor.
 */
export function dropout(x: Tensor, p: number, options?: DropoutOptions | boolean): Tensor {
  return drop('dropout', x, p, options, false);
}

/**
 * Stochastic depth (timm's drop_path / DropPath, scale_by_keep): each sample along dim 0 is
 * zeroed whole with probability p and the others are scaled by 1/(1 − p). p = 0 or training
 * false: x itself; p = 1: zeros. x [B, ...] float. Draws B words; otherwise as dropout().
 */
export function dropPath(x: Tensor, p: number, options?: DropoutOptions | boolean): Tensor {
  return drop('dropPath', x, p, options, true);
}
