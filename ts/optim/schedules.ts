// Learning-rate schedules, pure TypeScript: each sets every parameter group's lr from the step
// count, as torch.optim.lr_scheduler's do. Made, a schedule sets the lr of step 0 (the first
// optimizer.step()); each step() after an optimizer.step() moves on to the next. The lr is the
// closed form of the step count and each group's lr when the schedule was made (torch's
// _get_closed_form_lr), so a schedule restored from its state gives the same values.
import { invalidParameterError, rangeError, typeError } from '../errors';
import { Optimizer } from './optimizer';
import { checkNonNegative } from './params';

/** A schedule's state: the steps taken and each group's base lr. */
export interface LRSchedulerState {
  lastStep: number;
  baseLrs: number[];
}

function integer(fn: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidParameterError(fn, name, 'an integer', value);
  if (value < min) throw rangeError(fn, `${name} must be at least ${min}, got ${value}`);
  return value;
}

export abstract class LRScheduler {
  readonly optimizer: Optimizer;
  /** The schedule's name, as its errors give it. */
  protected readonly fn: string;
  #baseLrs: number[];
  #lastStep = 0;

  /** Checks the optimizer and that `options` is an object; the subclass sets its fields, then calls apply(). */
  protected constructor(fn: string, optimizer: Optimizer, options: unknown) {
    if (!(optimizer instanceof Optimizer)) throw invalidParameterError(fn, 'optimizer', 'an Optimizer (SGD, AdamW)', optimizer);
    if (options === null || typeof options !== 'object') throw typeError(fn, 'options must be an object');
    this.fn = fn;
    this.optimizer = optimizer;
    this.#baseLrs = optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lr of step `step` for a group whose lr was `baseLr` when the schedule was made. */
  protected abstract lr(step: number, baseLr: number): number;

  /** Steps taken (torch's last_epoch). */
  get lastStep(): number {
    return this.#lastStep;
  }

  /** Each group's lr at step `step` (no change to the optimizer). */
  lrsAt(step: number): number[] {
    integer(`${this.fn}.lrsAt`, 'step', step, 0);
    return this.#baseLrs.map((base) => this.lr(step, base));
  }

  /** The lr each group has now. */
  getLastLr(): number[] {
    return this.lrsAt(this.#lastStep);
  }

  /** Moves to the next step and sets every group's lr (call after optimizer.step()). */
  step(): void {
    this.#lastStep++;
    this.apply();
  }

  stateDict(): LRSchedulerState {
    return { lastStep: this.#lastStep, baseLrs: [...this.#baseLrs] };
  }

  /** Restores a state from stateDict() and sets every group's lr to its value there. */
  loadStateDict(state: LRSchedulerState): void {
    const fn = `${this.fn}.loadStateDict`;
    if (state === null || typeof state !== 'object' || !Array.isArray(state.baseLrs)) {
      throw invalidParameterError(fn, 'state', 'a schedule state from stateDict()', state);
    }
    if (state.baseLrs.length !== this.optimizer.paramGroups.length) {
      throw rangeError(fn, `the state has ${state.baseLrs.length} groups, the optimizer ${this.optimizer.paramGroups.length}`);
    }
    const lastStep = integer(fn, 'state.lastStep', state.lastStep, 0);
    this.#baseLrs = state.baseLrs.map((lr, i) => checkNonNegative(fn, `state.baseLrs[${i}]`, lr));
    this.#lastStep = lastStep;
    this.apply();
  }

  protected apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.lr(this.#lastStep, this.#baseLrs[i]);
    });
  }
}

export interface CosineWithWarmupOptions {
  /** Steps of linear warmup from 0 to the base lr. */
  warmupSteps: number;
  /** Steps to the end of the cosine decay (the lr stays at minLr after). */
  totalSteps: number;
  /** Where the decay ends. Default 0. */
  minLr?: number;
}

/**
 * Linear warmup, then cosine decay (transformers' get_cosine_schedule_with_warmup, with
 * CosineAnnealingLR's eta_min as minLr): lr(t) = base · t / warmup for t < warmup, then
 * minLr + (base − minLr) · (1 + cos(π · p)) / 2 with p = (t − warmup) / (total − warmup),
 * held at 1 after total.
 */
export class CosineWithWarmup extends LRScheduler {
  readonly warmupSteps: number;
  readonly totalSteps: number;
  readonly minLr: number;

  constructor(optimizer: Optimizer, options: CosineWithWarmupOptions) {
    super('CosineWithWarmup', optimizer, options);
    this.warmupSteps = integer(this.fn, 'options.warmupSteps', options.warmupSteps, 0);
    this.totalSteps = integer(this.fn, 'options.totalSteps', options.totalSteps, Math.max(1, this.warmupSteps));
    this.minLr = options.minLr === undefined ? 0 : checkNonNegative(this.fn, 'options.minLr', options.minLr);
    this.apply();
  }

  protected lr(step: number, base: number): number {
    if (step < this.warmupSteps) return (base * step) / this.warmupSteps;
    const progress = Math.min(1, (step - this.warmupSteps) / Math.max(1, this.totalSteps - this.warmupSteps));
    return this.minLr + ((base - this.minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  }
}

export interface StepLROptions {
  /** Steps between decays. */
  stepSize: number;
  /** The factor of each decay. Default 0.1. */
  gamma?: number;
}

/** torch's StepLR: lr(t) = base · gamma^⌊t / stepSize⌋. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer, options: StepLROptions) {
    super('StepLR', optimizer, options);
    this.stepSize = integer(this.fn, 'options.stepSize', options.stepSize, 1);
    this.gamma = options.gamma === undefined ? 0.1 : checkNonNegative(this.fn, 'options.gamma', options.gamma);
    this.apply();
  }

  protected lr(step: number, base: number): number {
    return base * this.gamma ** Math.floor(step / this.stepSize);
  }
}

export interface LinearLROptions {
  /** The factor at step 0, in (0, 1]. Default 1/3. */
  startFactor?: number;
  /** The factor from totalIters on, in [0, 1]. Default 1. */
  endFactor?: number;
  /** Steps of the ramp. Default 5. */
  totalIters?: number;
}

/**
 * torch's LinearLR: lr(t) = base · (start + (end − start) · min(t, totalIters) / totalIters), a
 * linear warmup (start < end) or decay (start > end).
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;

  constructor(optimizer: Optimizer, options: LinearLROptions = {}) {
    super('LinearLR', optimizer, options);
    this.startFactor = options.startFactor === undefined ? 1 / 3 : checkNonNegative(this.fn, 'options.startFactor', options.startFactor);
    this.endFactor = options.endFactor === undefined ? 1 : checkNonNegative(this.fn, 'options.endFactor', options.endFactor);
    this.totalIters = options.totalIters === undefined ? 5 : integer(this.fn, 'options.totalIters', options.totalIters, 1);
    if (!(this.startFactor > 0 && this.startFactor <= 1)) throw rangeError(this.fn, `options.startFactor must be in (0, 1], got ${this.startFactor}`);
    if (this.endFactor > 1) throw rangeError(this.fn, `options.endFactor must be in [0, 1], got ${this.endFactor}`);
    this.apply();
  }

  protected lr(step: number, base: number): number {
    return base * (this.startFactor + ((this.endFactor - this.startFactor) * Math.min(step, this.totalIters)) / this.totalIters);
  }
}
