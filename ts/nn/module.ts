// Module: named parameters in a tree, as PyTorch names them ("blocks.0.attn.qkv.weight"),
// so timm state dicts load by name. Moving and casting replace parameters in place, their
// requiresGrad and gradients carried over. train() makes the parameters trainable (the first
// time); an eval-mode forward records nothing (forwardMode).
import { withGradMode } from '../autograd/graph';
import type { GradState } from '../autograd/node';
import { DeviceLike, FloatDType } from '../dtype';
import { invalidParameterError } from '../errors';
import { keep, requiresGradOf, Tensor } from '../tensor';

export abstract class Module {
  /** Direct parameters by local name (null for an absent optional one, e.g. a bias). */
  protected params = new Map<string, Tensor | null>();
  /** Direct children by local name. */
  protected children = new Map<string, Module>();
  /** Training mode (dropout on): set by train() and eval() over the whole tree; off at first. */
  training = false;
  /** Whether this module's parameters have had their requiresGrad set: by the first train(), or requiresGrad_(). */
  private gradsSet = false;

  protected param(name: string, t: Tensor | null): Tensor | null {
    this.params.set(name, t);
    return t;
  }
  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }
  /** The current tensor of a direct parameter. */
  protected get(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`${this.constructor.name}: parameter '${name}' is not set`);
    return t;
  }
  protected getOptional(name: string): Tensor | null {
    return this.params.get(name) ?? null;
  }

  /** Every parameter, by its full dotted name. */
  parameters(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, t] of this.params) if (t) out.set(prefix + name, t);
    for (const [name, m] of this.children) for (const [n, t] of m.parameters(`${prefix}${name}.`)) out.set(n, t);
    return out;
  }

  /** Every parameter as [full dotted name, tensor] pairs, in order (PyTorch's named_parameters()). */
  *namedParameters(prefix = ''): IterableIterator<[string, Tensor]> {
    yield* this.parameters(prefix);
  }

  /**
   * Sets requiresGrad on every parameter (false freezes them all), on this module and its
   * children; train() leaves them as set here. Returns this.
   */
  requiresGrad_(flag = true): this {
    if (typeof flag !== 'boolean') throw invalidParameterError('requiresGrad_', 'flag', 'a boolean', flag);
    for (const t of this.params.values()) t?.requiresGrad_(flag);
    this.gradsSet = true;
    for (const m of this.children.values()) m.requiresGrad_(flag);
    return this;
  }

  /**
   * Runs a forward of this module: as it is in training mode, or when `input` requires grad
   * (a module in eval mode inside a graph that is being recorded, or an input gradient
   * asked for); otherwise with recording off, so that an inference forward keeps no tape
   * even though the parameters require grad.
   */
  protected forwardMode<T>(input: unknown, fn: () => T): T {
    return this.training || requiresGradOf(input) ? fn() : withGradMode(false, fn);
  }

  /** Replaces each parameter by f(parameter) (recording off), disposing the old one; requiresGrad and .grad (through f) carry over. */
  protected mapParameters(f: (t: Tensor) => Tensor): void {
    for (const [name, t] of this.params) {
      if (!t) continue;
      const next = withGradMode(false, () => f(t));
      if (next !== t) {
        carryGrad(t, next, f);
        t.dispose();
      }
      this.params.set(name, next);
    }
    for (const m of this.children.values()) m.mapParameters(f);
  }

  /**
   * Copies values into the parameters by name (each converted to the parameter's dtype and
   * device). With strict (the default), missing, unexpected and mis-shaped entries throw
   * one Error that lists them all.
   */
  loadStateDict(state: Map<string, Tensor>, { strict = true }: { strict?: boolean } = {}): void {
    const own = this.parametersWithSlots();
    const missing: string[] = [];
    const misShaped: string[] = [];
    for (const [name, slot] of own) {
      const src = state.get(name);
      if (!src) { missing.push(name); continue; }
      if (src.shape.length !== slot.current.shape.length || src.shape.some((d, i) => d !== slot.current.shape[i])) {
        misShaped.push(`${name}: expected [${slot.current.shape.join(', ')}], got [${src.shape.join(', ')}]`);
      }
    }
    const unexpected = [...state.keys()].filter((n) => !own.has(n));
    const problems = [
      ...(missing.length ? [`missing: ${missing.join(', ')}`] : []),
      ...(misShaped.length ? [`wrong shape: ${misShaped.join('; ')}`] : []),
      ...(strict && unexpected.length ? [`unexpected: ${unexpected.join(', ')}`] : []),
    ];
    if (misShaped.length || (strict && problems.length)) {
      throw new Error(`loadStateDict: the state dict does not fit ${this.constructor.name}:\n  ${problems.join('\n  ')}`);
    }
    for (const [name, slot] of own) {
      const src = state.get(name);
      if (!src) continue;
      const cast = withGradMode(false, () => {
        const moved = src.device === slot.current.device ? src : src.to(slot.current.device);
        const c = moved.dtype === slot.current.dtype ? moved.clone() : moved.cast(slot.current.dtype);
        if (moved !== src) moved.dispose();
        return c;
      });
      carryGrad(slot.current, cast, null);
      slot.set(cast);
    }
  }

  /** Full name -> the current tensor and a setter that replaces (and disposes) it. */
  private parametersWithSlots(prefix = ''): Map<string, { current: Tensor; set: (t: Tensor) => void }> {
    const out = new Map<string, { current: Tensor; set: (t: Tensor) => void }>();
    for (const [name, t] of this.params) {
      if (!t) continue;
      out.set(prefix + name, { current: t, set: (next) => { this.params.get(name)?.dispose(); this.params.set(name, next); } });
    }
    for (const [name, m] of this.children) for (const [n, s] of m.parametersWithSlots(`${prefix}${name}.`)) out.set(n, s);
    return out;
  }

  /**
   * Sets training mode (dropout on) on this module and every child; returns this. The first
   * time a module enters training mode its parameters are marked requiresGrad, so that
   * train() is all a training loop needs; freezes made after it (param.requiresGrad_(false),
   * or requiresGrad_(false) on a module before or after) stay.
   */
  train(mode = true): this {
    if (typeof mode !== 'boolean') throw invalidParameterError('train', 'mode', 'a boolean', mode);
    this.training = mode;
    if (mode && !this.gradsSet) {
      for (const t of this.params.values()) t?.requiresGrad_(true);
      this.gradsSet = true;
    }
    for (const m of this.children.values()) m.train(mode);
    return this;
  }

  /** Sets inference mode (dropout off) on this module and every child: train(false). */
  eval(): this {
    return this.train(false);
  }

  /** Moves every parameter to `device`. */
  to(device: DeviceLike): this {
    this.mapParameters((t) => t.to(device));
    return this;
  }

  /** Casts every parameter to a float dtype. */
  cast(dtype: FloatDType): this {
    this.mapParameters((t) => (t.dtype === dtype ? t : t.cast(dtype)));
    return this;
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const t of this.params.values()) t?.dispose();
    for (const m of this.children.values()) m.dispose();
  }
}

/**
 * Gives `next`, which replaces parameter `prev`, prev's requiresGrad and its gradient: converted
 * by `convert` (to a device or dtype, recording off), or moved over as it is (null).
 */
function carryGrad(prev: Tensor, next: Tensor, convert: ((g: Tensor) => Tensor) | null): void {
  const state = prev._autograd;
  if (state === null) return;
  next.requiresGrad_(true);
  const g = state.grad;
  if (g === null) return;
  const moved = convert === null ? g : withGradMode(false, () => convert(g));
  if (moved === g) state.grad = null; // now next's: not freed with prev
  (next._autograd as GradState).grad = keep(moved);
}

/** An ordered list of modules named "0", "1", ... (PyTorch's ModuleList). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[] = [];
  push(m: M): M {
    this.child(String(this.items.length), m);
    this.items.push(m);
    return m;
  }
}
