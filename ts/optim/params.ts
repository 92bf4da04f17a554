// What an optimizer is given to optimize, checked once: tensors, [name, tensor] pairs (a
// Module's parameters() Map is one such iterable), or parameter groups with their own lr and
// weight decay. Names key the optimizer's saved state; a tensor given without one is named by
// its position, as PyTorch numbers parameters in its state_dict.
import { isFloat } from '../dtype';
import { invalidParameterError, rangeError, typeError } from '../errors';
import { isTensor, Tensor } from '../tensor';

/** A parameter with the name its state is saved under (a Module's parameters() names). */
export type NamedParameter = readonly [string, Tensor];
export type ParametersLike = Iterable<Tensor | NamedParameter>;

/** A group of parameters with its own learning rate and weight decay (the optimizer's when left out). */
export interface ParamGroupInput {
  params: ParametersLike;
  lr?: number;
  weightDecay?: number;
}

export type OptimizerParams = ParametersLike | Iterable<ParamGroupInput>;

/** A parameter group as the optimizer keeps it. A schedule sets `lr` before each step. */
export interface ParamGroup {
  lr: number;
  weightDecay: number;
  readonly params: readonly Tensor[];
  readonly names: readonly string[];
}

/** Throws unless `value` is a finite number >= 0; returns it. */
export function checkNonNegative(fn: string, name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidParameterError(fn, name, 'a number', value);
  if (!(Number.isFinite(value) && value >= 0)) throw rangeError(fn, `${name} must be a finite number >= 0, got ${value}`);
  return value;
}

function isGroup(item: unknown): item is ParamGroupInput {
  return typeof item === 'object' && item !== null && !isTensor(item) && !Array.isArray(item) && 'params' in item;
}

function items(fn: string, name: string, value: unknown): unknown[] {
  if (value === null || typeof value !== 'object' || isTensor(value) || typeof (value as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw invalidParameterError(fn, name, 'an iterable of Tensors, [name, Tensor] pairs or parameter groups', value);
  }
  return [...(value as Iterable<unknown>)];
}

/**
 * The groups of `params`, each parameter a live, contiguous float leaf tensor given once, with
 * a unique name; a group's lr and weightDecay default to the optimizer's.
 */
export function parseParams(fn: string, params: unknown, defaults: { lr: number; weightDecay: number }): ParamGroup[] {
  const top = items(fn, 'params', params);
  if (top.length === 0) throw rangeError(fn, 'params is empty: give the tensors to optimize');
  const grouped = top.every(isGroup);
  if (!grouped && top.some(isGroup)) throw invalidParameterError(fn, 'params', 'all parameter groups or no groups', params);
  const inputs: ParamGroupInput[] = grouped ? (top as ParamGroupInput[]) : [{ params: top as ParametersLike }];
  const seen = new Set<Tensor>();
  const names = new Set<string>();
  let position = 0;
  return inputs.map((g, gi) => {
    const where = grouped ? `params[${gi}]` : 'params';
    const extra = Object.keys(g).filter((k) => k !== 'params' && k !== 'lr' && k !== 'weightDecay');
    if (extra.length > 0) throw typeError(fn, `${where} sets ${extra.join(', ')}: a group may set only lr and weightDecay`);
    const group: ParamGroup = {
      lr: g.lr === undefined ? defaults.lr : checkNonNegative(fn, `${where}.lr`, g.lr),
      weightDecay: g.weightDecay === undefined ? defaults.weightDecay : checkNonNegative(fn, `${where}.weightDecay`, g.weightDecay),
      params: [],
      names: [],
    };
    const list = items(fn, `${where}${grouped ? '.params' : ''}`, g.params);
    if (grouped && list.length === 0) throw rangeError(fn, `${where}.params is empty`);
    for (const item of list) {
      const at = `${where}${grouped ? '.params' : ''}[${position}]`;
      const pair = Array.isArray(item) && item.length === 2 && typeof item[0] === 'string';
      const t = pair ? (item as unknown[])[1] : item;
      const name = pair ? (item as [string, unknown])[0] : String(position);
      position++;
      checkParameter(fn, at, t);
      if (seen.has(t)) throw typeError(fn, `${at} (${name}) is given twice: each parameter may appear once`);
      if (names.has(name)) throw typeError(fn, `two parameters are named '${name}'`);
      seen.add(t);
      names.add(name);
      (group.params as Tensor[]).push(t);
      (group.names as string[]).push(name);
    }
    return group;
  });
}

function checkParameter(fn: string, at: string, t: unknown): asserts t is Tensor {
  if (!isTensor(t)) throw invalidParameterError(fn, at, 'a Tensor or a [name, Tensor] pair', t);
  if (t.disposed) throw typeError(fn, `${at} has been disposed`);
  if (!isFloat(t.dtype)) throw invalidParameterError(fn, at, 'a float tensor', t);
  if (!t.isLeaf) throw typeError(fn, `${at} was made by a recorded op: an optimizer updates leaf tensors (parameters) only`);
  if (!t.isContiguous) throw typeError(fn, `${at} is not contiguous: give the parameter itself, not a strided view of it`);
}
