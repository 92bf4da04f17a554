// What SGD and AdamW share. Parameters are kept by (device, dtype) in buckets; a bucket's state
// (float32 master weights for 16-bit parameters, the moments or momentum buffers) lives in flat
// float32 buffers, one range per parameter, made on the first step that needs them. A step is
// one native call per bucket, one fused kernel launch on CUDA, over the parameters that have a
// gradient (the others keep their state and step count, as in PyTorch).
import { Device, FloatDType } from '../dtype';
import { invalidParameterError, rangeError, typeError } from '../errors';
import { native } from '../native';
import { contiguousStrides, empty, isTensor, keep, Tensor, zeros } from '../tensor';
import { zeroGrad } from '../autograd/backward';
import { checkNonNegative, OptimizerParams, ParamGroup, parseParams } from './params';

interface Slot {
  name: string;
  param: Tensor;
  group: ParamGroup;
  offset: number; // of its range in the bucket's buffers, in elements
  step: number; // steps taken
}

interface Bucket {
  device: Device;
  dtype: FloatDType;
  slots: Slot[];
  size: number;
  master: boolean;
  // Made on the first step: [master?, ...one per state name]; null until then.
  buffers: { master: Tensor | null; states: Tensor[] } | null;
}

/** An optimizer's state, as saveCheckpoint writes it to a safetensors file. */
export interface OptimizerStateDict {
  /**
   * Each stepped parameter's float32 state, named `state.<parameter>.<key>` with PyTorch's keys
   * (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer) and `master` for the float32 master
   * weights of a 16-bit parameter: views of the optimizer's buffers (they change with its
   * steps; dispose them when done).
   */
  tensors: Map<string, Tensor>;
  meta: OptimizerMeta;
}

/** The plain-data part of an optimizer's state (JSON). */
export interface OptimizerMeta {
  type: string;
  options: Record<string, unknown>;
  groups: { lr: number; weightDecay: number; params: string[] }[];
  /** Steps taken by each parameter that has taken one. */
  steps: Record<string, number>;
}

export interface OptimizerOptions {
  lr?: number;
  weightDecay?: number;
  /**
   * Keep float32 master weights for float16 and bfloat16 parameters: the step updates them and
   * writes each parameter rounded from its master in the same pass. Default: on for 16-bit
   * parameters (float32 parameters never have one). false updates 16-bit parameters in place,
   * rounding once a step.
   */
  masterWeights?: boolean;
}

export abstract class Optimizer {
  readonly paramGroups: ParamGroup[];
  readonly #buckets = new Map<string, Bucket>();
  readonly #masterWeights: boolean;

  /** The name saved states carry ('SGD', 'AdamW'). */
  protected readonly type: string;
  /** OptimizerKind in native/core/ops.h. */
  readonly #kind: number;
  /** PyTorch's names of the state kept per parameter now, in the native call's order (state1, state2, state3). */
  protected abstract stateNames(): string[];
  /** [momentum, dampening, nesterov, beta1, beta2, eps, amsgrad] for the native call. */
  protected abstract hyper(): Float64Array;
  /** The options that are not per group, as saved. */
  protected abstract options(): Record<string, unknown>;
  /** Sets them from a saved state, each checked as the constructor checks it. */
  protected abstract setOptions(fn: string, saved: Record<string, unknown>): void;

  /**
   * `kind` names the optimizer (its type, errors' function name, and OptimizerKind in
   * native/core/ops.h). Checks `options` (an object; lr and weightDecay, else `defaults`) and
   * the parameters.
   */
  protected constructor(kind: { type: string; code: number }, params: OptimizerParams, options: OptimizerOptions, defaults: { lr: number; weightDecay: number }) {
    const fn = kind.type;
    this.type = kind.type;
    this.#kind = kind.code;
    if (options === null || typeof options !== 'object') throw typeError(fn, 'options must be an object');
    const lr = options.lr === undefined ? defaults.lr : checkNonNegative(fn, 'options.lr', options.lr);
    const weightDecay = options.weightDecay === undefined ? defaults.weightDecay : checkNonNegative(fn, 'options.weightDecay', options.weightDecay);
    this.paramGroups = parseParams(fn, params, { lr, weightDecay });
    this.#masterWeights = options.masterWeights === undefined ? true : checkFlag(fn, 'options.masterWeights', options.masterWeights);
    for (const group of this.paramGroups) {
      group.params.forEach((param, i) => {
        const key = `${param.device}/${param.dtype}`;
        let bucket = this.#buckets.get(key);
        if (bucket === undefined) {
          const dtype = param.dtype as FloatDType;
          bucket = { device: param.device, dtype, slots: [], size: 0, master: this.#masterWeights && dtype !== 'float32', buffers: null };
          this.#buckets.set(key, bucket);
        }
        bucket.slots.push({ name: group.names[i], param, group, offset: bucket.size, step: 0 });
        bucket.size += param.size;
      });
    }
  }

  /** Every parameter, in the order given. */
  parameters(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /**
   * Updates every parameter that has a gradient, in place: one native call per (device, dtype),
   * one fused kernel launch on CUDA. A parameter without a gradient is skipped.
   */
  step(): void {
    const fn = `${this.type}.step`;
    this.paramGroups.forEach((g, i) => {
      checkNonNegative(fn, `paramGroups[${i}].lr`, g.lr);
      checkNonNegative(fn, `paramGroups[${i}].weightDecay`, g.weightDecay);
    });
    // Every parameter and gradient is checked before any bucket steps.
    const work = [...this.#buckets.values()].map((bucket) => {
      const ready = bucket.slots.filter((s) => liveParam(fn, s).grad !== null);
      return { bucket, ready, grads: ready.map((s) => gradientOf(fn, s)) };
    });
    const hyper = this.hyper();
    for (const { bucket, ready, grads } of work) {
      if (ready.length === 0) continue;
      const fresh = bucket.buffers === null;
      const buffers = this.#buffers(bucket);
      const entries = new Float64Array(4 * ready.length);
      ready.forEach((s, i) => entries.set([s.offset, s.group.lr, s.group.weightDecay, s.step + 1], 4 * i));
      const [s1, s2, s3] = buffers.states;
      try {
        native().optimizerStep(this.#kind, ready.map((s) => s.param), grads, buffers.master, s1 ?? null, s2 ?? null, s3 ?? null, entries, hyper);
      } catch (e) {
        if (fresh) this.#release(bucket); // made for a step that did not run (e.g. inside a refused graph capture): made again next time
        throw e;
      }
      for (const s of ready) {
        s.step++;
        s.param._bumpVersion(); // a tape that saved the old value refuses to run backward through it
      }
    }
  }

  /** Frees every parameter's gradient (sets `.grad` to null), before the next backward. */
  zeroGrad(): void {
    const fn = `${this.type}.zeroGrad`;
    for (const bucket of this.#buckets.values()) for (const s of bucket.slots) liveParam(fn, s);
    zeroGrad(this.parameters());
  }

  /** @internal The gradients present now, by (device, dtype): what GradScaler unscales. */
  _gradients(fn: string): { device: Device; dtype: FloatDType; grads: Tensor[] }[] {
    return [...this.#buckets.values()].map((b) => ({
      device: b.device,
      dtype: b.dtype,
      grads: b.slots.filter((s) => liveParam(fn, s).grad !== null).map((s) => gradientOf(fn, s)),
    }));
  }

  /** The state: per-parameter tensors (views of the optimizer's buffers) and the plain data (options, groups, steps). */
  stateDict(): OptimizerStateDict {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    const names = this.stateNames();
    for (const bucket of this.#buckets.values()) {
      for (const s of bucket.slots) {
        if (s.step === 0 || bucket.buffers === null) continue;
        steps[s.name] = s.step;
        names.forEach((key, k) => tensors.set(`state.${s.name}.${key}`, rangeOf(bucket.buffers!.states[k], s)));
        if (bucket.buffers.master !== null) tensors.set(`state.${s.name}.master`, rangeOf(bucket.buffers.master, s));
      }
    }
    const groups = this.paramGroups.map((g) => ({ lr: g.lr, weightDecay: g.weightDecay, params: [...g.names] }));
    return { tensors, meta: { type: this.type, options: this.options(), groups, steps } };
  }

  /**
   * Restores a state from stateDict() (or a checkpoint): the options, each group's lr and
   * weight decay, each parameter's step count and state. The groups must hold the same
   * parameter names in the same order. Saved tensors are copied (converted to float32 and moved
   * to each parameter's device); a 16-bit parameter saved without master weights gets them
   * from its current value.
   */
  loadStateDict(state: OptimizerStateDict): void {
    const fn = `${this.type}.loadStateDict`;
    const { tensors, meta } = checkStateDict(fn, state, this.type);
    if (meta.groups.length !== this.paramGroups.length || meta.groups.some((g, i) => !sameNames(g.params, this.paramGroups[i].names))) {
      throw rangeError(fn, `the saved groups hold parameters [${meta.groups.map((g) => g.params.join(', ')).join('], [')}] ` +
        `but this optimizer's hold [${this.paramGroups.map((g) => g.names.join(', ')).join('], [')}]`);
    }
    const groups = meta.groups.map((g, i) => ({
      lr: checkNonNegative(fn, `meta.groups[${i}].lr`, g.lr),
      weightDecay: checkNonNegative(fn, `meta.groups[${i}].weightDecay`, g.weightDecay),
    }));
    const before = this.options();
    this.setOptions(fn, meta.options);
    try {
      this.#checkSaved(fn, tensors, meta.steps);
    } catch (e) {
      this.setOptions(fn, before);
      throw e;
    }
    groups.forEach((g, i) => Object.assign(this.paramGroups[i], g));
    for (const bucket of this.#buckets.values()) {
      this.#release(bucket);
      for (const s of bucket.slots) s.step = meta.steps[s.name] ?? 0;
      if (bucket.slots.every((s) => s.step === 0)) continue; // made on its first step
      const buffers = this.#buffers(bucket);
      for (const s of bucket.slots) {
        if (s.step === 0) continue;
        this.stateNames().forEach((key, k) => copyInto(rangeOf(buffers.states[k], s), tensors.get(`state.${s.name}.${key}`)!));
        const master = tensors.get(`state.${s.name}.master`);
        if (buffers.master !== null && master !== undefined) copyInto(rangeOf(buffers.master, s), master);
      }
    }
  }

  /** Frees the optimizer's state (its buffers); the parameters are the caller's. */
  dispose(): void {
    for (const bucket of this.#buckets.values()) this.#release(bucket);
  }

  #checkSaved(fn: string, tensors: Map<string, Tensor>, steps: Record<string, number>): void {
    const known = new Map<string, Tensor>();
    for (const g of this.paramGroups) g.names.forEach((n, i) => known.set(n, g.params[i]));
    for (const [name, step] of Object.entries(steps)) {
      const param = known.get(name);
      if (param === undefined) throw rangeError(fn, `the saved state has steps for '${name}', which this optimizer does not hold`);
      if (!Number.isSafeInteger(step) || step < 0) throw rangeError(fn, `meta.steps['${name}'] must be a non-negative integer, got ${step}`);
      if (step === 0) continue;
      for (const key of this.stateNames()) {
        const t = tensors.get(`state.${name}.${key}`);
        if (t === undefined) throw rangeError(fn, `the saved state has no '${`state.${name}.${key}`}' for a parameter stepped ${step} times`);
        checkSavedTensor(fn, `state.${name}.${key}`, t, param);
      }
      const master = tensors.get(`state.${name}.master`);
      if (master !== undefined) checkSavedTensor(fn, `state.${name}.master`, master, param);
    }
  }

  // The bucket's buffers, made now if they are not yet: states zeroed, master weights from the parameters.
  #buffers(bucket: Bucket): NonNullable<Bucket['buffers']> {
    if (bucket.buffers !== null) return bucket.buffers;
    const fn = `${this.type}.step`;
    const made: Tensor[] = [];
    const buffer = (zeroed: boolean): Tensor => {
      const t = keep(zeroed ? zeros([bucket.size], { device: bucket.device }) : empty([bucket.size], { device: bucket.device }));
      made.push(t);
      return t;
    };
    try {
      const states = this.stateNames().map(() => buffer(true));
      const master = bucket.master ? buffer(false) : null;
      if (master !== null) for (const s of bucket.slots) copyInto(rangeOf(master, s), liveParam(fn, s));
      bucket.buffers = { master, states };
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
    return bucket.buffers;
  }

  #release(bucket: Bucket): void {
    bucket.buffers?.master?.dispose();
    for (const t of bucket.buffers?.states ?? []) t.dispose();
    bucket.buffers = null;
  }
}

function checkFlag(fn: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidParameterError(fn, name, 'a boolean', value);
  return value;
}

function liveParam(fn: string, s: Slot): Tensor {
  if (s.param.disposed) {
    throw typeError(fn, `parameter '${s.name}' has been disposed (Module.to() and cast() replace a model's parameters: make the optimizer after them)`);
  }
  return s.param;
}

function gradientOf(fn: string, s: Slot): Tensor {
  const p = s.param;
  const g = p.grad as Tensor;
  if (g.disposed || g.device !== p.device || g.dtype !== p.dtype || g.size !== p.size || !g.isContiguous) {
    throw typeError(fn, `the gradient of '${s.name}' is ${g} but the parameter is ${p}: a gradient must be a live contiguous tensor like its parameter`);
  }
  return g;
}

/** Slot s's range of a flat bucket buffer, shaped as its parameter. */
function rangeOf(buffer: Tensor, s: Slot): Tensor {
  return buffer._view(s.param.shape, contiguousStrides(s.param.shape), s.offset);
}

/** Copies src (any float dtype, any device) into dst, a view of a state buffer (the view is disposed). */
function copyInto(dst: Tensor, src: Tensor): void {
  const moved = src.device === dst.device ? src : src.to(dst.device);
  try {
    native().copy(dst, moved);
  } finally {
    if (moved !== src) moved.dispose();
    dst.dispose();
  }
}

function sameNames(a: unknown, b: readonly string[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((n, i) => n === b[i]);
}

function checkStateDict(fn: string, state: unknown, type: string): OptimizerStateDict {
  const s = state as OptimizerStateDict;
  if (state === null || typeof state !== 'object' || !(s.tensors instanceof Map) || s.meta === null || typeof s.meta !== 'object') {
    throw invalidParameterError(fn, 'state', 'an optimizer state ({ tensors: Map, meta }) from stateDict() or loadCheckpoint', state);
  }
  const { meta } = s;
  if (meta.type !== type) throw typeError(fn, `the state is of ${String(meta.type)}, not ${type}`);
  if (!Array.isArray(meta.groups) || meta.steps === null || typeof meta.steps !== 'object' || meta.options === null || typeof meta.options !== 'object') {
    throw invalidParameterError(fn, 'state.meta', 'an object with options, groups and steps', meta);
  }
  return s;
}

function checkSavedTensor(fn: string, key: string, t: Tensor, param: Tensor): void {
  if (!isTensor(t) || t.disposed) throw invalidParameterError(fn, `tensors['${key}']`, 'a live Tensor', t);
  if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16') throw invalidParameterError(fn, `tensors['${key}']`, 'a float tensor', t);
  if (t.size !== param.size || t.rank !== param.rank || t.shape.some((d, i) => d !== param.shape[i])) {
    throw rangeError(fn, `'${key}' has shape [${t.shape.join(', ')}] but its parameter has [${param.shape.join(', ')}]`);
  }
}
