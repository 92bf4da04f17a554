// Dynamic loss scaling for float16 training, as torch.amp.GradScaler: the loss is multiplied by
// a scale before backward so that small gradients survive float16; unscale_ divides the
// gradients back in one fused native call per (device, dtype) that also flags any inf or NaN;
// step() reads that flag once per device and skips the optimizer's step when it is set;
// update() halves the scale after a skipped step and doubles it after growthInterval good ones.
import { Device } from '../dtype';
import { invalidParameterError, rangeError, typeError } from '../errors';
import { native } from '../native';
import { mul } from '../ops/elementwise';
import { checkTensor, keep, Tensor, zeros } from '../tensor';
import { Optimizer } from './optimizer';

export interface GradScalerOptions {
  /** The first scale. Default 2^16. */
  initScale?: number;
  /** The scale is multiplied by it after growthInterval steps without inf or NaN. Default 2. */
  growthFactor?: number;
  /** The scale is multiplied by it after a step with inf or NaN (which is skipped). Default 0.5. */
  backoffFactor?: number;
  /** Default 2000. */
  growthInterval?: number;
  /** false: scale() returns the loss, unscale_ and update() do nothing, step() steps. Default true. */
  enabled?: boolean;
}

/** GradScaler's state, torch's keys in camelCase. */
export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
}

interface PerOptimizer {
  stage: 'unscaled' | 'stepped';
  foundInf: Map<Device, Tensor>; // float32 [1] per device, set by the unscale
  found: boolean | null; // read from foundInf (null: not yet)
}

function positive(fn: string, name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidParameterError(fn, name, 'a number', value);
  if (!(Number.isFinite(value) && value > 0)) throw rangeError(fn, `${name} must be a finite number > 0, got ${value}`);
  return value;
}

function count(fn: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidParameterError(fn, name, 'an integer', value);
  if (value < min) throw rangeError(fn, `${name} must be at least ${min}, got ${value}`);
  return value;
}

export class GradScaler {
  readonly enabled: boolean;
  #scale = 0;
  #growthFactor = 2;
  #backoffFactor = 0.5;
  #growthInterval = 2000;
  #growthTracker = 0;
  readonly #optimizers = new Map<Optimizer, PerOptimizer>();

  constructor(options: GradScalerOptions = {}) {
    const fn = 'GradScaler';
    if (options === null || typeof options !== 'object') throw typeError(fn, 'options must be an object');
    if (options.enabled !== undefined && typeof options.enabled !== 'boolean') throw invalidParameterError(fn, 'options.enabled', 'a boolean', options.enabled);
    this.enabled = options.enabled ?? true;
    this.#set(fn, {
      scale: options.initScale ?? 2 ** 16,
      growthFactor: options.growthFactor ?? 2,
      backoffFactor: options.backoffFactor ?? 0.5,
      growthInterval: options.growthInterval ?? 2000,
      growthTracker: 0,
    }, 'options.');
  }

  /** The current scale (a float32 value, as torch keeps it). */
  getScale(): number {
    return this.#scale;
  }

  /** loss · scale, recorded on the tape (a float32 loss keeps the scaled gradients in range best). */
  scale(loss: Tensor): Tensor {
    const t = checkTensor('GradScaler.scale', 'loss', loss);
    return this.enabled ? mul(t, this.#scale) : t;
  }

  /**
   * Divides the optimizer's gradients by the scale, in place (one fused native call per
   * device and dtype, which also flags inf and NaN), e.g. before clipping them. Once per
   * optimizer between update()s; step() calls it when it has not been.
   */
  unscale_(optimizer: Optimizer): void {
    const fn = 'GradScaler.unscale_';
    if (!this.enabled) return;
    if (!(optimizer instanceof Optimizer)) throw invalidParameterError(fn, 'optimizer', 'an Optimizer (SGD, AdamW)', optimizer);
    const stage = this.#optimizers.get(optimizer)?.stage;
    if (stage !== undefined) throw typeError(fn, `called ${stage === 'unscaled' ? 'twice' : 'after step()'} on one optimizer since the last update()`);
    const invScale = Math.fround(1 / this.#scale);
    const state: PerOptimizer = { stage: 'unscaled', foundInf: new Map(), found: null };
    try {
      for (const { device, grads } of optimizer._gradients(fn)) {
        if (grads.length === 0) continue;
        let flag = state.foundInf.get(device);
        if (flag === undefined) {
          flag = keep(zeros([1], { device }));
          state.foundInf.set(device, flag);
        }
        native().unscaleGrads(grads, flag, invScale);
      }
    } catch (e) {
      for (const flag of state.foundInf.values()) flag.dispose();
      throw e;
    }
    this.#optimizers.set(optimizer, state);
  }

  /**
   * optimizer.step() unless a gradient held inf or NaN (unscaling first if unscale_ was not
   * called): one read of the flag per device. Returns whether the optimizer stepped.
   */
  step(optimizer: Optimizer): boolean {
    const fn = 'GradScaler.step';
    if (!(optimizer instanceof Optimizer)) throw invalidParameterError(fn, 'optimizer', 'an Optimizer (SGD, AdamW)', optimizer);
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    if (this.#optimizers.get(optimizer)?.stage === 'stepped') throw typeError(fn, 'called twice on one optimizer since the last update()');
    if (!this.#optimizers.has(optimizer)) this.unscale_(optimizer);
    const state = this.#optimizers.get(optimizer) as PerOptimizer;
    const found = foundInf(state);
    state.stage = 'stepped';
    if (!found) optimizer.step();
    return !found;
  }

  /**
   * Adjusts the scale for the next iteration: times backoffFactor if any optimizer's gradients
   * held inf or NaN since the last update(), else times growthFactor once growthInterval
   * iterations in a row were clean (a product that is not finite leaves it). `newScale` sets
   * it instead.
   */
  update(newScale?: number): void {
    const fn = 'GradScaler.update';
    if (!this.enabled) return;
    try {
      if (newScale !== undefined) {
        this.#scale = Math.fround(positive(fn, 'newScale', newScale));
        return;
      }
      if (this.#optimizers.size === 0) throw typeError(fn, 'no inf checks were recorded: call step() or unscale_() before update()');
      const found = [...this.#optimizers.values()].some(foundInf);
      if (found) {
        this.#scale = Math.fround(this.#scale * this.#backoffFactor);
        this.#growthTracker = 0;
      } else if (this.#growthTracker + 1 === this.#growthInterval) {
        const grown = Math.fround(this.#scale * this.#growthFactor);
        if (Number.isFinite(grown)) this.#scale = grown;
        this.#growthTracker = 0;
      } else {
        this.#growthTracker++;
      }
    } finally {
      for (const state of this.#optimizers.values()) for (const flag of state.foundInf.values()) flag.dispose();
      this.#optimizers.clear();
    }
  }

  stateDict(): GradScalerState {
    return { scale: this.#scale, growthFactor: this.#growthFactor, backoffFactor: this.#backoffFactor, growthInterval: this.#growthInterval, growthTracker: this.#growthTracker };
  }

  loadStateDict(state: GradScalerState): void {
    const fn = 'GradScaler.loadStateDict';
    if (state === null || typeof state !== 'object') throw invalidParameterError(fn, 'state', 'a GradScaler state from stateDict()', state);
    this.#set(fn, state, 'state.');
  }

  #set(fn: string, s: GradScalerState, prefix: string): void {
    const scale = Math.fround(positive(fn, `${prefix}${prefix === 'state.' ? 'scale' : 'initScale'}`, s.scale));
    const growthFactor = positive(fn, `${prefix}growthFactor`, s.growthFactor);
    const backoffFactor = positive(fn, `${prefix}backoffFactor`, s.backoffFactor);
    const growthInterval = count(fn, `${prefix}growthInterval`, s.growthInterval, 1);
    const growthTracker = count(fn, `${prefix}growthTracker`, s.growthTracker, 0);
    if (growthFactor <= 1) throw rangeError(fn, `${prefix}growthFactor must be above 1, got ${growthFactor}`);
    if (backoffFactor >= 1) throw rangeError(fn, `${prefix}backoffFactor must be below 1, got ${backoffFactor}`);
    this.#scale = scale;
    this.#growthFactor = growthFactor;
    this.#backoffFactor = backoffFactor;
    this.#growthInterval = growthInterval;
    this.#growthTracker = growthTracker;
  }
}

/** Whether the unscale flagged inf or NaN on any device: read once per device, then kept. */
function foundInf(state: PerOptimizer): boolean {
  if (state.found === null) state.found = [...state.foundInf.values()].some((flag) => (flag.dataSync() as Float32Array)[0] !== 0);
  return state.found;
}
