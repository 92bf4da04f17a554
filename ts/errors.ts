// One way to say what was wrong with an argument, used by every public function: the
// function's name, the parameter, what was expected and what came (after sharp's
// invalidParameterError). Checks live in TypeScript, before native code runs.

// How a real Tensor describes itself in messages; set by tensor.ts (which imports this file),
// so that an object merely shaped like a tensor is never read as one (its getters never run).
let describeTensor: (value: object) => string | undefined = () => undefined;

/** @internal Lets tensor.ts tell a real Tensor apart and name its shape, dtype and device. */
export function setTensorDescriber(fn: (value: object) => string | undefined): void {
  describeTensor = fn;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value !== 'object') return typeof value === 'function' ? 'a function' : String(value);
  try {
    const tensor = describeTensor(value);
    if (tensor !== undefined) return tensor;
    if (Array.isArray(value)) return `[${value.slice(0, 8).map(describe).join(', ')}${value.length > 8 ? ', ...' : ''}]`;
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return typeof name === 'string' && name !== '' ? name : 'Object';
  } catch {
    return 'an object that cannot be inspected'; // a Proxy or getter that throws: the message must still be made
  }
}

/** A TypeError: `fn: expected <name> to be <expected>, got <actual>`. */
export function invalidParameterError(fn: string, name: string, expected: string, actual: unknown): TypeError {
  return new TypeError(`${fn}: expected ${name} to be ${expected}, got ${describe(actual)}`);
}

/** A RangeError for a value of the right type but out of range. */
export function rangeError(fn: string, message: string): RangeError {
  return new RangeError(`${fn}: ${message}`);
}

/** A TypeError that does not read "expected X, got Y" (e.g. a disposed tensor). */
export function typeError(fn: string, message: string): TypeError {
  return new TypeError(`${fn}: ${message}`);
}

/** An Error for a failure that is not a bad argument (a file, a device); `cause` keeps the original. */
export function operationError(fn: string, message: string, cause?: unknown): Error {
  return cause === undefined ? new Error(`${fn}: ${message}`) : new Error(`${fn}: ${message}`, { cause });
}

export function checkInteger(fn: string, name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidParameterError(fn, name, `an integer`, value);
  }
  if (value < min) throw rangeError(fn, `${name} must be at least ${min}, got ${value}`);
  return value;
}

export function checkNumber(fn: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidParameterError(fn, name, 'a number', value);
  return value;
}

export function checkBoolean(fn: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidParameterError(fn, name, 'a boolean', value);
  return value;
}

export function checkOneOf<T extends string>(fn: string, name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidParameterError(fn, name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

/**
 * Throws a RangeError unless the product of `shape`'s non-zero dims is at most 2^53 - 1, so
 * that every stride and element index is an exact number: a 0 dim (no elements) does not
 * exempt the others, since the strides are made from them all.
 */
export function checkShapeSize(fn: string, shape: readonly number[], name = 'shape'): void {
  let n = 1;
  for (const d of shape) if (d !== 0) n *= d;
  if (n > Number.MAX_SAFE_INTEGER) {
    throw rangeError(fn, `${name} [${shape.join(', ')}] is too large: the product of its non-zero dimensions is over 2^53 - 1`);
  }
}

/** Checks a shape: an array of at most 8 non-negative integers, of a size checkShapeSize allows. Returns a frozen copy. */
export function checkShape(fn: string, shape: unknown, name = 'shape'): readonly number[] {
  if (!Array.isArray(shape)) throw invalidParameterError(fn, name, 'an array of non-negative integers', shape);
  if (shape.length > 8) throw rangeError(fn, `${name} has ${shape.length} dimensions; at most 8 are supported`);
  const copy = [...shape];
  for (const d of copy) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw rangeError(fn, `${name} must hold non-negative integers, got [${copy.map(String).join(', ')}]`);
    }
  }
  checkShapeSize(fn, copy, name);
  return Object.freeze(copy);
}
