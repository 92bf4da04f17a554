// One way to say what was wrong with an argument, used by every public function: the
// function's name, the parameter, what was expected and what came (after sharp's
// invalidParameterError). Checks live in TypeScript, before native code runs.

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.slice(0, 8).map(describe).join(', ')}${value.length > 8 ? ', ...' : ''}]`;
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name ?? 'Object';
    if (name === 'Tensor') {
      const t = value as { shape: number[]; dtype: string; device: string };
      return `Tensor[${t.shape.join(', ')}] ${t.dtype} on ${t.device}`;
    }
    return name;
  }
  return String(value);
}

/** A TypeError: `fn: expected <name> to be <expected>, got <actual>`. */
export function invalidParameterError(fn: string, name: string, expected: string, actual: unknown): TypeError {
  return new TypeError(`${fn}: expected ${name} to be ${expected}, got ${describe(actual)}`);
}

/** A RangeError for a value of the right type but out of range. */
export function rangeError(fn: string, message: string): RangeError {
  return new RangeError(`${fn}: ${message}`);
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

/** Checks a shape: an array of non-negative integers. Returns a frozen copy. */
export function checkShape(fn: string, shape: unknown, name = 'shape'): readonly number[] {
  if (!Array.isArray(shape)) throw invalidParameterError(fn, name, 'an array of non-negative integers', shape);
  if (shape.length > 8) throw rangeError(fn, `${name} has ${shape.length} dimensions; at most 8 are supported`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw rangeError(fn, `${name} must hold non-negative integers, got [${shape.map(String).join(', ')}]`);
    }
  }
  return Object.freeze([...shape]);
}
