// Mechanism 'global': a set of global tokens attend every token and every token attends them
// (xFormers' GlobalAttention, global_token_pattern). Nothing else is attended: a token that is
// not global sees the global tokens only, not itself. In a ViT the class token is the default
// global token (the layer's prefix tokens, at least one).
import { checkInteger, invalidParameterError, rangeError } from '../../errors';
import { registerAttention } from '../registry';
import { MaskAttentionModule, MaskCache, maskMechanism, MaskSpec, moduleOptions, pushRange } from './masked';

interface GlobalOptions {
  /** The global tokens, ascending, without repeats. */
  tokens: number[];
}

const spec: MaskSpec<GlobalOptions> = {
  name: 'global',
  options: ['global_tokens', 'num_global_tokens'],
  parse(fn, o) {
    if (o.global_tokens !== undefined && o.num_global_tokens !== undefined) {
      throw rangeError(fn, 'pass options.global_tokens (which tokens) or options.num_global_tokens (the first n), not both');
    }
    if (o.global_tokens === undefined) {
      const n = checkInteger(fn, 'options.num_global_tokens', o.num_global_tokens ?? 1, 1);
      return { tokens: Array.from({ length: n }, (_, t) => t) };
    }
    const list = o.global_tokens;
    if (!Array.isArray(list) || list.length === 0) throw invalidParameterError(fn, 'options.global_tokens', 'a non-empty array of token indices', list);
    list.forEach((t, k) => checkInteger(fn, `options.global_tokens[${k}]`, t));
    return { tokens: [...new Set(list as number[])].sort((a, b) => a - b) };
  },
  checkTokens(fn, { tokens }, n) {
    const last = tokens[tokens.length - 1];
    if (last >= n) throw rangeError(fn, `global token ${last} is not one of the ${n} tokens`);
  },
  key: ({ tokens }) => tokens.join(','),
  rows({ tokens }, n) {
    const global = new Uint8Array(n);
    for (const t of tokens) global[t] = 1;
    return (i, push) => {
      if (global[i] === 1) pushRange(push, 0, n, n);
      else for (const t of tokens) push(t);
    };
  },
};

/** @internal The masks built (tests read its size). */
export const globalMasks = new MaskCache();

registerAttention('global', {
  ...maskMechanism(spec, globalMasks),
  /** Without global_tokens or num_global_tokens: the layer's prefix tokens (its class token), at least one. */
  createModule(fn, options, geometry) {
    const resolved: Record<string, unknown> = {};
    if (options.global_tokens === undefined && options.num_global_tokens === undefined) {
      resolved.num_global_tokens = Math.max(1, geometry.grid?.prefixTokens ?? 0);
    }
    moduleOptions(spec, fn, { ...options, ...resolved }, geometry);
    return new MaskAttentionModule(geometry, 'global', resolved);
  },
});
