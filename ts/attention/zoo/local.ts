// Mechanism 'local': each token attends the tokens in a window around it (xFormers'
// LocalAttention, local_1d_pattern), over the sequence (dims 1) or over the patch grid
// (dims 2: a window_size x window_size square of patches). Leading prefix tokens (a ViT's class
// token) are global: they attend every token and every token attends them, as the class token
// of xFormers' ViT notebook does under its sparse mask (patterns.withClassToken).
import { checkInteger, invalidParameterError, rangeError } from '../../errors';
import { registerAttention } from '../registry';
import {
  MaskAttentionModule, MaskCache, maskMechanism, MaskRows, MaskSpec, moduleOptions, pushRange,
} from './masked';

interface LocalOptions {
  window: number;
  dims: 1 | 2;
  /** [height, width] of the patch grid (dims 2). */
  grid: [number, number] | null;
  prefix: number;
}

/** The grid_size option: [height, width], positive integers. */
function gridOption(fn: string, value: unknown): [number, number] {
  if (!Array.isArray(value) || value.length !== 2) throw invalidParameterError(fn, 'options.grid_size', 'an array [height, width]', value);
  return [checkInteger(fn, 'options.grid_size[0]', value[0], 1), checkInteger(fn, 'options.grid_size[1]', value[1], 1)];
}

const spec: MaskSpec<LocalOptions> = {
  name: 'local',
  options: ['window_size', 'dims', 'grid_size', 'prefix_tokens'],
  parse(fn, o) {
    const window = checkInteger(fn, 'options.window_size', o.window_size ?? 5, 1);
    if (window % 2 !== 1) throw rangeError(fn, `options.window_size counts the token and two equal wings, so it must be odd, got ${window}`);
    const dims = o.dims ?? 1;
    if (dims !== 1 && dims !== 2) throw invalidParameterError(fn, 'options.dims', '1 (over the sequence) or 2 (over the patch grid)', dims);
    const prefix = checkInteger(fn, 'options.prefix_tokens', o.prefix_tokens ?? 0);
    if (dims === 1 && o.grid_size !== undefined) throw rangeError(fn, 'options.grid_size is read with dims 2 only');
    if (dims === 2 && o.grid_size === undefined) throw rangeError(fn, 'options.dims 2 needs options.grid_size [height, width] (a model with a patch grid passes its own)');
    return { window, dims, grid: dims === 2 ? gridOption(fn, o.grid_size) : null, prefix };
  },
  checkTokens(fn, { dims, grid, prefix }, n) {
    if (dims === 2 && grid !== null && n !== prefix + grid[0] * grid[1]) {
      throw rangeError(fn, `mechanism 'local' over a ${grid[0]} x ${grid[1]} grid after ${prefix} prefix tokens needs N = ${prefix + grid[0] * grid[1]}, got ${n}`);
    }
    if (prefix > n) throw rangeError(fn, `options.prefix_tokens (${prefix}) is more than the ${n} tokens`);
  },
  key: ({ window, dims, grid, prefix }) => `${window} ${dims} ${grid?.join('x') ?? '-'} ${prefix}`,
  rows({ window, dims, grid, prefix }, n): MaskRows {
    const half = (window - 1) / 2;
    return (i, push) => {
      if (i < prefix) return pushRange(push, 0, n, n);
      pushRange(push, 0, prefix, n);
      if (grid === null) return pushRange(push, Math.max(prefix, i - half), i + half + 1, n);
      const [h, w] = grid;
      const r = Math.floor((i - prefix) / w);
      const c = (i - prefix) % w;
      for (let rr = Math.max(0, r - half); rr <= Math.min(h - 1, r + half); rr++) {
        pushRange(push, prefix + rr * w + Math.max(0, c - half), prefix + rr * w + Math.min(w, c + half + 1), n);
      }
      return undefined;
    };
  },
};

/** @internal The masks built (tests read its size). */
export const localMasks = new MaskCache();

registerAttention('local', {
  ...maskMechanism(spec, localMasks),
  /** The layer's prefix tokens, and its grid for dims 2, from its geometry unless the options give them. */
  createModule(fn, options, geometry) {
    const resolved: Record<string, unknown> = {};
    if (geometry.grid !== undefined) {
      if (options.prefix_tokens === undefined) resolved.prefix_tokens = geometry.grid.prefixTokens;
      if (options.dims === 2 && options.grid_size === undefined) resolved.grid_size = [geometry.grid.height, geometry.grid.width];
    }
    moduleOptions(spec, fn, { ...options, ...resolved }, geometry);
    return new MaskAttentionModule(geometry, 'local', resolved);
  },
});
