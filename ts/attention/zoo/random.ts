// Mechanism 'random': each query attends itself and a random set of keys, each kept with
// probability `ratio` (xFormers' RandomAttention, random_pattern). The mask is seeded: as a
// function and in eval mode it is the one mask of `seed`, built once per N; in training the
// module draws a new one every call (from the device's default generator, so manualSeed
// repeats a run). The class token is a token like any other here.
import { checkBoolean, checkInteger, checkNumber, rangeError, typeError } from '../../errors';
import type { Device } from '../../dtype';
import { defaultGenerator } from '../../generator';
import type { AttentionConfig } from '../../nn/layers';
import { Random } from '../../random';
import type { Tensor } from '../../tensor';
import { registerAttention } from '../registry';
import type { SparseMask } from '../sparse_mask';
import {
  attendMasked, buildMask, MaskAttentionModule, MaskCache, MaskLeases, maskMechanism, MaskRows, MaskSpec, moduleOptions,
} from './masked';

interface RandomOptions {
  ratio: number;
  seed: number;
}

/**
 * Row i of the mask of (ratio, seed) over n tokens: key j != i kept with probability ratio,
 * independently, and i itself always (so no row is empty). Rows are drawn in order from
 * Random(seed), each kept key found by a geometric skip (one draw per key kept, plus one a
 * row), so a mask costs O(entries), not O(n²).
 */
function randomRows({ ratio, seed }: RandomOptions, n: number): MaskRows {
  const rng = new Random(seed);
  const logKeep = Math.log1p(-ratio);
  return (i, push) => {
    let j = -1;
    const next = () => (ratio >= 1 ? j + 1 : ratio <= 0 ? n : j + 1 + Math.floor(Math.log1p(-rng.uniform()) / logKeep));
    let diagonal = false;
    for (j = next(); j < n; j = next()) {
      if (!diagonal && j >= i) {
        diagonal = true;
        if (j > i) push(i);
      }
      push(j);
    }
    if (!diagonal) push(i);
  };
}

/** @internal The mask of (ratio, seed) over n tokens that the function form and eval mode use (tests read it). */
export function randomMask(n: number, ratio: number, seed: number, causal = false, device: Device = 'cpu'): SparseMask {
  return buildMask('randomMask', n, causal, device, randomRows({ ratio, seed }, n));
}

const spec: MaskSpec<RandomOptions> = {
  name: 'random',
  options: ['ratio', 'seed'],
  parse(fn, o) {
    const ratio = checkNumber(fn, 'options.ratio', o.ratio ?? 0.01);
    if (!(ratio >= 0 && ratio <= 1)) throw rangeError(fn, `options.ratio is the fraction of keys kept, in [0, 1], got ${ratio}`);
    const seed = checkInteger(fn, 'options.seed', o.seed ?? 0);
    if (seed >= 2 ** 32) throw rangeError(fn, `options.seed must be below 2^32, got ${seed}`);
    return { ratio, seed };
  },
  checkTokens() {},
  key: ({ ratio, seed }) => `${ratio} ${seed}`,
  rows: randomRows,
};

/** @internal The masks built (tests read its size). */
export const randomMasks = new MaskCache();

/** A 32-bit seed from a generator draw (its seed and offset), so every call's mask differs. */
function drawSeed(device: Device): number {
  const { seed, offset } = defaultGenerator(device).draw('random', 4);
  const lo = (x: number) => x >>> 0;
  const hi = (x: number) => Math.floor(x / 2 ** 32) >>> 0;
  return lo(lo(seed) ^ Math.imul(hi(seed), 0x9e3779b1) ^ Math.imul(lo(offset / 4), 0x85ebca6b) ^ Math.imul(hi(offset / 4), 0xc2b2ae35));
}

/** In eval mode the fixed mask of the function form; in training a new mask each call, freed once its tape is. */
class RandomAttentionModule extends MaskAttentionModule {
  private readonly leases = new MaskLeases();

  constructor(geometry: ConstructorParameters<typeof MaskAttentionModule>[0], private readonly opts: RandomOptions) {
    super(geometry, 'random', {});
  }

  override forwardHeads(q: Tensor, k: Tensor, v: Tensor, options: AttentionConfig): Tensor {
    if (!this.training) return super.forwardHeads(q, k, v, options);
    const fn = 'attention';
    const { causal = false, dropout = 0, scale, bias, precision, sparsePath } = options;
    const isCausal = checkBoolean(fn, 'options.causal', causal);
    if (dropout !== 0) throw typeError(fn, `mechanism 'random' never materializes the probabilities, so it takes no options.dropout (got ${String(dropout)})`);
    if (q.shape[1] !== k.shape[1]) throw rangeError(fn, `mechanism 'random' masks one sequence (self-attention): Nq = ${q.shape[1]} and Nk = ${k.shape[1]} differ`);
    const n = q.shape[1];
    const mask = buildMask(fn, n, isCausal, q.device, randomRows({ ratio: this.opts.ratio, seed: drawSeed(q.device) }, n));
    let out: Tensor;
    try {
      out = attendMasked(q, k, v, mask, { scale, bias, precision, sparsePath } as Parameters<typeof attendMasked>[4]);
    } catch (e) {
      mask.dispose();
      throw e;
    }
    this.leases.hold(mask, out);
    return out;
  }

  /** Masks of training calls whose tapes are still alive. @internal (tests) */
  get heldMasks(): number {
    return this.leases.size;
  }

  override dispose(): void {
    this.leases.dispose();
    super.dispose();
  }
}

registerAttention('random', {
  ...maskMechanism(spec, randomMasks),
  createModule(fn, options, geometry) {
    return new RandomAttentionModule(geometry, moduleOptions(spec, fn, options, geometry));
  },
});
