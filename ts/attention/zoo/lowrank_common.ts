// What the low-rank and kernel mechanisms of the zoo share (linformer, nystrom, favor, ortho,
// lambda, compositional): option checks that name the mechanism, the heads-first layout their
// matrix products want, and seeded parameters as the layers make them (ts/nn/layers.ts).
import { checkBoolean, checkInteger, checkNumber, rangeError } from '../../errors';
import { permute } from '../../ops';
import type { Tensor } from '../../tensor';
import { init as initParameter } from '../../nn/layers';
import type { InitOptions } from '../../nn/layers';
import type { AttentionModule } from '../module';
import { AttentionInputs, MechanismGeometry, registerAttention } from '../registry';

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

/** What the landmark mechanisms (nystrom, ortho) share: m and the score scale. */
export interface LandmarkSettings {
  /** m: the landmarks (option num_landmarks). */
  landmarks: number;
  scale: number;
}

/** num_landmarks (default `fallback`) and scale (default 1/√D). */
export function landmarkSettings(fn: string, mechanism: string, options: Record<string, unknown>, headDim: number, fallback: number): LandmarkSettings {
  return { landmarks: integerOption(fn, mechanism, options, 'num_landmarks', fallback), scale: scaleOption(fn, mechanism, options, headDim) };
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

/** A parameter drawn from N(0, std²) as the layers draw theirs: seeded by init.seed, on init.device in init.dtype. */
export function seededParameter(shape: number[], std: number, init: InitOptions): Tensor {
  return initParameter(shape, std, init); // called, not aliased: nn/layers may still be loading when this file is (a cycle through ../attention)
}

/** Why a mechanism with no mask, bias or causal form cannot serve `inputs`; selfOnly: nor q and k of different lengths. */
export function unmaskedReasons(name: string, inputs: AttentionInputs, selfOnly: boolean): string[] {
  const reasons: string[] = [];
  if (inputs.causal) reasons.push(`${name} has no causal form`);
  if (inputs.mask !== null) reasons.push(`${name} takes no mask`);
  if (inputs.bias !== null) reasons.push(`${name} takes no bias`);
  if (selfOnly && inputs.q.shape[1] !== inputs.k.shape[1]) {
    reasons.push(`${name} is self-attention: q and k must have one length, got ${inputs.q.shape[1]} and ${inputs.k.shape[1]}`);
  }
  return reasons;
}

/** How a mechanism that works both as a module and as a function of q, k, v registers (registerWithFunction). */
export interface FunctionalSpec<S> {
  /** Its own option names. */
  options: readonly string[];
  /** The options checked and resolved, for q, k, v of head dim D. */
  settings(fn: string, options: Record<string, unknown>, headDim: number): S;
  createModule(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, init: InitOptions): AttentionModule;
  /** The attention of `inputs` with resolved settings. */
  run(inputs: AttentionInputs, s: S): Tensor;
  /** Extra reasons to refuse `inputs` (besides a mask, a bias, causal, and q, k of different lengths). */
  reasons?(inputs: AttentionInputs): string[];
  /** Refuses options that need the module form. */
  checkExtra?(fn: string, extra: Record<string, unknown>): void;
  /** Whether q and k may have different lengths. Default false. */
  crossAttention?: boolean;
}

/** Registers `name` with its module and its function of q, k, v (no mask, bias or causal rule). */
export function registerWithFunction<S>(name: string, spec: FunctionalSpec<S>): void {
  registerAttention(name, {
    createModule: spec.createModule,
    checkInputs(fn, inputs) {
      spec.checkExtra?.(fn, inputs.extra);
      checkOptionNames(fn, name, inputs.extra, spec.options);
      spec.settings(fn, inputs.extra, inputs.q.shape[3]);
    },
    notSupportedReasons: (inputs) => [...unmaskedReasons(name, inputs, !spec.crossAttention), ...(spec.reasons?.(inputs) ?? [])],
    forward: (inputs) => spec.run(inputs, spec.settings('attention', inputs.extra, inputs.q.shape[3])),
  });
}
