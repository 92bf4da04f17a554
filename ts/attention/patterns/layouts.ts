// Block layouts: a pattern over blocks of tokens, and the block-sparse layouts built on them
// (BigBird's). layoutToPattern expands one to tokens; block_layouts.ts holds the sparsity
// configs of xFormers (fixed, variable, Longformer).
import { checkInteger, rangeError } from '../../errors';
import { Random } from '../../random';
import { checkEntries, checkPatternLike, checkSeed, Pattern, PatternLike } from './pattern';

/**
 * min(k, pool.length) distinct entries of `pool`, drawn uniformly by a partial Fisher–Yates
 * shuffle of pool (in place) driven by rng: one uniform draw per entry taken.
 */
export function drawDistinct(rng: Random, pool: number[], k: number): number[] {
  const take = Math.min(k, pool.length);
  for (let t = 0; t < take; t++) {
    const j = t + Math.floor(rng.uniform() * (pool.length - t));
    [pool[t], pool[j]] = [pool[j], pool[t]];
  }
  return pool.slice(0, take);
}

/** Each entry of a block layout expanded to a block x block square of tokens (xFormers' layout_to_pattern). */
export function layoutToPattern(layout: PatternLike, block: number): Pattern {
  const fn = 'layoutToPattern';
  const l = checkPatternLike(fn, 'layout', layout);
  checkInteger(fn, 'block', block, 1);
  checkEntries(fn, l.rows * block, l.cols * block);
  return Pattern.fromFunction(l.rows * block, l.cols * block,
    (i, j) => l.data[Math.floor(i / block) * l.cols + Math.floor(j / block)] === 1);
}

/**
 * BigBird's block-sparse pattern over n tokens in blocks of `block` (n must divide into them),
 * built on the (n / block)² block layout and expanded to tokens:
 * - global: the first `globals` blocks attend everywhere and everything attends to them;
 * - window: block row r attends to blocks c with |r - c| <= (windows - 1) / 2 (`windows` counts
 *   the block itself, so it is odd, or 0 for none);
 * - random: every other block row also attends to `randoms` more blocks, drawn uniformly
 *   without replacement from those the row has not got yet (all of them if fewer remain),
 *   rows in order, by a partial Fisher–Yates shuffle driven by Random(seed).
 */
export function bigBird(n: number, block: number, globals: number, windows: number, randoms: number, seed: number): Pattern {
  const fn = 'bigBird';
  checkInteger(fn, 'n', n);
  checkInteger(fn, 'block', block, 1);
  checkInteger(fn, 'globals', globals);
  checkInteger(fn, 'windows', windows);
  checkInteger(fn, 'randoms', randoms);
  checkSeed(fn, seed);
  if (n % block !== 0) throw rangeError(fn, `n (${n}) must divide into blocks of ${block}`);
  const nb = n / block;
  if (globals > nb) throw rangeError(fn, `globals (${globals}) exceeds the ${nb} blocks`);
  if (windows !== 0 && windows % 2 !== 1) throw rangeError(fn, `windows counts the block and two equal wings, so it must be odd or 0, got ${windows}`);
  checkEntries(fn, n, n);
  const half = (windows - 1) / 2;
  const layout = new Uint8Array(nb * nb);
  for (let r = 0; r < nb; r++) {
    for (let c = 0; c < nb; c++) {
      if (r < globals || c < globals || (windows > 0 && Math.abs(r - c) <= half)) layout[r * nb + c] = 1;
    }
  }
  const rng = new Random(seed);
  for (let r = globals; r < nb && randoms > 0; r++) {
    const free: number[] = [];
    for (let c = 0; c < nb; c++) if (layout[r * nb + c] === 0) free.push(c);
    for (const c of drawDistinct(rng, free, randoms)) layout[r * nb + c] = 1;
  }
  return layoutToPattern(new Pattern(nb, nb, layout), block);
}
