// What the low-rank and kernel mechanisms of the zoo share (linformer, nystrom, favor, ortho,
// lambda, compositional): option checks that name the mechanism, the heads-first layout their
// matrix products want, and seeded parameters as the layers make them (ts/nn/layers.ts).
import { checkBoolean, checkInteger, checkNumber, rangeError } from '../../errors';
import { mul, permute } from '../../ops';
import { randn, Tensor, tidy } from '../../tensor';
import type { InitOptions } from '../../nn/layers';
import type { MechanismGeometry } from '../registry';

/** Options every module-form mechanism here reads besides its own: the score scale. */
const COMMON = ['scale'];

/** Throws naming `fn` and the mechanism for an option it does not take (masks, biases and causal among them). */
export function checkOptionNames(fn: string, mechanism: string, options: Record<string, unknown>, own: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (own.includes(name) || COMMON.includes(name)) continue;
    if (['mask', 'bias', 'causal', 'layout'].includes(name) && (options[name] === undefined || options[name] === null || options[name] === false)) continue;
    const known = [...own, ...COMMON].map((o) => `'${o}'`).join(', ');
    throw rangeError(fn, `mechanism '${mechanism}' takes no option '${name}' (it takes ${known})`);
  }
}

/** An integer option ≥ min, or `fallback` where absent. */
export function integerOption(fn: string, mechanism: string, options: Record<string, unknown>, name: string, fallback: number, min = 1): number {
  const value = options[name];
  if (value === undefined) return fallback;
  return checkInteger(fn, `${mechanism} option ${name}`, value, min);
}

/** A number option in (low, high] (or [low, high] with closedLow), or `fallback` where absent. */
export function numberOption(fn: string, mechanism: string, options: Record<string, unknown>, name: string, fallback: number, low: number, high: number, closedLow = false): number {
  const value = options[name];
  if (value === undefined) return fallback;
  const n = checkNumber(fn, `${mechanism} option ${name}`, value);
  if (!(closedLow ? n >= low : n > low) || !(n <= high)) {
    throw rangeError(fn, `${mechanism} option ${name} must be in ${closedLow ? '[' : '('}${low}, ${high}], got ${n}`);
  }
  return n;
}

/** A boolean option, or `fallback` where absent. */
export function booleanOption(fn: string, mechanism: string, options: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = options[name];
  return value === undefined ? fallback : checkBoolean(fn, `${mechanism} option ${name}`, value);
}

/** The score scale: options.scale, else 1/√D. */
export function scaleOption(fn: string, mechanism: string, options: Record<string, unknown>, headDim: number): number {
  const value = options.scale;
  if (value === undefined) return 1 / Math.sqrt(headDim);
  const s = checkNumber(fn, `${mechanism} option scale`, value);
  if (!Number.isFinite(s)) throw rangeError(fn, `${mechanism} option scale must be finite, got ${s}`);
  return s;
}

/** geometry.tokens, which a mechanism with parameters along the sequence needs. */
export function requireTokens(fn: string, mechanism: string, geometry: MechanismGeometry): number {
  const n = geometry.tokens;
  if (n === undefined) throw rangeError(fn, `mechanism '${mechanism}' needs the sequence length (geometry.tokens; a ViT passes its own)`);
  return n;
}

/** A call's N against the N the module was made for. */
export function checkTokens(fn: string, mechanism: string, n: number, made: number): void {
  if (n > made) throw rangeError(fn, `mechanism '${mechanism}' was made for ${made} tokens, got ${n}`);
}

/** [B, N, H, D] -> [B, H, N, D], a view (recorded). */
export function headsFirst(x: Tensor): Tensor {
  return x.permute([0, 2, 1, 3]);
}

/** [B, H, N, D] -> [B, N, H, D], contiguous (a recorded copy). */
export function tokensFirst(x: Tensor): Tensor {
  return permute(x, [0, 2, 1, 3]);
}

let drawn = 0;

/** A parameter of `shape` drawn from N(0, std²), seeded by init.seed (and a counter, as the layers' are), on init.device in init.dtype. */
export function seededParameter(shape: number[], std: number, init: InitOptions): Tensor {
  const t = randn(shape, { device: init.device, dtype: 'float32', seed: (init.seed ?? 0) * 1000003 + 500009 + drawn++ });
  const scaled = tidy(() => mul(t, std));
  t.dispose();
  if ((init.dtype ?? 'float32') === 'float32') return scaled;
  const c = scaled.cast(init.dtype!);
  scaled.dispose();
  return c;
}
