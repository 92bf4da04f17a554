// What the token-mixing mechanisms of the zoo share (pooling, visual, fourier_mix): their
// registration as module-only mechanisms, option checks that name the mechanism, the patch
// grid (the prefix tokens split off, the patches as a channels-last image), and seeded
// parameters.
import { checkInteger, rangeError } from '../../errors';
import { concat, slice } from '../../ops';
import { Tensor } from '../../tensor';
import { init } from '../../nn/layers';
import type { InitOptions } from '../../nn/layers';
import type { AttentionModule } from '../module';
import { MechanismGeometry, registerAttention, TokenGrid } from '../registry';

/**
 * Registers `name` as a mechanism that only works as a layer's module (it takes the tokens,
 * not q, k, v): attention() with it throws saying so. `make` checks the options (throwing
 * naming fn) and makes the module.
 */
export function registerTokenMixer(name: string, what: string,
  make: (fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, init: InitOptions) => AttentionModule): void {
  registerAttention(name, {
    notSupportedReasons: () => [],
    forward: () => {
      throw new Error(`attention: mechanism '${name}' works as a module only: it ${what}; name it in a layer's or the ViT's attention configuration`);
    },
    createModule: make,
  });
}

/** Throws naming fn and the mechanism for an option it does not take. */
export function checkOptionNames(fn: string, mechanism: string, options: Record<string, unknown>, own: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (own.includes(name) || options[name] === undefined) continue;
    const takes = own.length > 0 ? `it takes ${own.map((o) => `'${o}'`).join(', ')}` : 'it takes none';
    throw rangeError(fn, `mechanism '${mechanism}' takes no option '${name}' (${takes})`);
  }
}

/** An odd integer option >= 1 (a kernel size centred on its pixel), or `fallback` where absent. */
export function oddOption(fn: string, mechanism: string, options: Record<string, unknown>, name: string, fallback: number): number {
  const value = options[name];
  if (value === undefined) return fallback;
  const n = checkInteger(fn, `${mechanism} option ${name}`, value, 1);
  if (n % 2 !== 1) throw rangeError(fn, `${mechanism} option ${name} must be odd (the window is centred on each token), got ${n}`);
  return n;
}

/** The layer's patch grid, which a grid mechanism needs. */
export function requireGrid(fn: string, mechanism: string, geometry: MechanismGeometry): TokenGrid {
  const g = geometry.grid;
  if (g === undefined) throw rangeError(fn, `mechanism '${mechanism}' mixes the tokens on their patch grid and needs it (geometry.grid; a ViT passes its own)`);
  return g;
}

/** x [B, N, E] as a grid mechanism reads it: the prefix tokens [B, P, E] (null when none) and the patches as an image [B, H, W, E]. */
export function splitGrid(mechanism: string, x: Tensor, grid: TokenGrid): { prefix: Tensor | null; patches: Tensor; image: Tensor } {
  const { height: H, width: W, prefixTokens: P } = grid;
  if (x.rank !== 3 || x.shape[1] !== P + H * W) {
    throw rangeError(mechanism, `expected tokens [B, ${P + H * W}, E] (${P} prefix tokens and a ${H}x${W} grid), got [${x.shape.join(', ')}]`);
  }
  const [B, , E] = x.shape;
  const patches = P === 0 ? x : slice(x, 1, P);
  return { prefix: P === 0 ? null : slice(x, 1, 0, P), patches, image: patches.reshape([B, H, W, E]) };
}

/** The tokens [B, N, E] again from the prefix tokens' output (or null) and the patches' [B, H·W, E]. */
export function joinGrid(prefix: Tensor | null, patches: Tensor): Tensor {
  return prefix === null ? patches : concat([prefix, patches], 1);
}

/** A new parameter of `shape` drawn from N(0, std²): the layers' seeded initializer. */
export function initParameter(shape: readonly number[], std: number, o: InitOptions): Tensor {
  return init(shape, std, o);
}
