// tidy() scopes: each open scope holds the tensors made while it was open (the Tensor
// constructor adds them), and disposes those fn does not return when it closes.
import { typeError, invalidParameterError } from './errors';
import { isTensor, Tensor } from './tensor';

/** @internal Open tidy() scopes, innermost last. */
export const scopes: Set<Tensor>[] = [];

function collect(value: unknown, into: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTensor(value)) {
    into.add(value);
    return;
  }
  if (ArrayBuffer.isView(value)) return;
  for (const v of value instanceof Map ? value.values() : Object.values(value)) collect(v, into, seen);
}

/**
 * Runs fn and disposes every tensor it made that it does not return (tensors inside a
 * returned array, object or Map are kept). Scopes nest; fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalidParameterError('tidy', 'fn', 'a function', fn);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw typeError('tidy', 'fn must be synchronous (it returned a Promise); dispose tensors of async code explicitly');
  }
  const kept = new Set<Tensor>();
  collect(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (!kept.has(t)) t.dispose();
    else parent?.add(t);
  }
  return result;
}

/** Takes a tensor out of the enclosing tidy() scopes, so it outlives them. */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}
