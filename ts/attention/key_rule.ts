// options.causal and options.attnBias as attention() hands them to a mechanism: the
// top-left causal rule as the kernels' causal flag (their fast path), any other as key ranges.
import { checkOneOf, invalidParameterError, rangeError } from '../errors';
import { ALIGNMENTS, AttentionBias, lowerTriangular, lowerTriangularFromBottomRight } from './attn_bias';

/** What attention() passes a mechanism for options.causal and options.attnBias. */
export interface KeyRule { causal: boolean; attnBias: AttentionBias | null; keyRanges: Int32Array | null }

/**
 * options.causal (a boolean or an alignment) and options.attnBias, checked, for nq query rows
 * and nk keys: the top-left causal rule as the causal flag (the kernels' fast path), any
 * other as key ranges. Throws naming `fn` for misuse.
 */
export function resolveKeyRule(fn: string, causal: unknown, attnBias: unknown, nq: number, nk: number): KeyRule {
  if (typeof causal !== 'boolean') checkOneOf(fn, 'options.causal', causal, ALIGNMENTS);
  if (attnBias !== null && attnBias !== undefined && !(attnBias instanceof AttentionBias)) {
    throw invalidParameterError(fn, 'options.attnBias', 'an AttentionBias (attnBias.lowerTriangular(), localWindow(), blockDiagonal(), ...)', attnBias);
  }
  let rule = (attnBias ?? null) as AttentionBias | null;
  if (causal !== false) {
    if (rule !== null) {
      throw rangeError(fn, `options.causal and options.attnBias (${rule}) cannot be combined: make the bias causal ` +
        "(attnBias.blockDiagonal(lengths, lengths, { causal: true }), attnBias.localWindow(left, 0)) and leave causal out");
    }
    rule = causal === 'bottom_right' ? lowerTriangularFromBottomRight() : lowerTriangular();
  }
  if (rule === null || rule.isFull()) return { causal: false, attnBias: null, keyRanges: null };
  if (rule.isTopLeftCausal(nq, nk)) return { causal: true, attnBias: null, keyRanges: null };
  return { causal: false, attnBias: rule, keyRanges: rule.keyRanges(nq, nk, fn) };
}
