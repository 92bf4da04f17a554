// What every op shares: argument checks that name the op and the problem (through
// errors.ts, so every message reads `fn: expected X to be Y, got Z`), output allocation or
// checking, numpy broadcasting, and the clean-up of temporaries. Internal to ts/ops.
import { DTYPE_BYTES, isFloat } from '../dtype';
import { checkBoolean, checkNumber, invalidParameterError, rangeError } from '../errors';
import { checkTensor, emptyFor, isTensor, Tensor } from '../tensor';

/** The `out` option every op takes. */
export interface OutOptions {
  /**
   * Where to write the result: a contiguous tensor of the result's shape, dtype and device.
   * Default: a new tensor (as from empty()).
   */
  out?: Tensor | null;
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The product of values[0 .. end - 1] (all of them by default). */
export function product(values: readonly number[], end = values.length): number {
  let n = 1;
  for (let i = 0; i < end; i++) n *= values[i];
  return n;
}

/** Checks an options argument: undefined (gives {}) or a plain object. */
export function checkOptions<T extends object>(fn: string, options: T | undefined): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options) || isTensor(options)) {
    throw invalidParameterError(fn, 'options', 'an object', options);
  }
  return options;
}

/** A live Tensor of a float dtype. */
export function checkFloatTensor(fn: string, name: string, value: unknown): Tensor {
  const t = checkTensor(fn, name, value);
  if (!isFloat(t.dtype)) throw invalidParameterError(fn, name, 'a float32, float16 or bfloat16 tensor', t);
  return t;
}

/** A live Tensor with `like`'s dtype and device. */
export function checkLike(fn: string, name: string, value: unknown, like: Tensor, likeName: string): Tensor {
  const t = checkTensor(fn, name, value);
  if (t.dtype !== like.dtype) throw invalidParameterError(fn, name, `a ${like.dtype} tensor like ${likeName}`, t);
  if (t.device !== like.device) throw invalidParameterError(fn, name, `on ${like.device} like ${likeName}`, t);
  return t;
}

/** Throws a RangeError unless `t` has at least `min` dimensions. */
export function checkMinRank(fn: string, name: string, t: Tensor, min: number, layout: string): void {
  if (t.rank < min) throw rangeError(fn, `${name} must be ${layout}, got ${shapeString(t.shape)}`);
}

/** An optional vector [length] (weight, bias) with `like`'s dtype and device; null when absent. */
export function checkVector(fn: string, name: string, value: unknown, length: number, like: Tensor, likeName: string): Tensor | null {
  if (value === null || value === undefined) return null;
  const t = checkLike(fn, name, value, like, likeName);
  if (t.rank !== 1 || t.shape[0] !== length) {
    throw rangeError(fn, `${name} must be [${length}] to match ${likeName} ${shapeString(like.shape)}, got ${shapeString(t.shape)}`);
  }
  return t;
}

export function checkFinite(fn: string, name: string, value: unknown): number {
  const v = checkNumber(fn, name, value);
  if (!Number.isFinite(v)) throw rangeError(fn, `${name} must be finite, got ${v}`);
  return v;
}

/** The scale of a softmax's scores (softmax, attention): a finite number; NaN and ±Infinity would give NaN rows. */
export function checkScale(fn: string, value: unknown, name = 'options.scale'): number {
  return checkFinite(fn, name, value);
}

export function checkOptionalBoolean(fn: string, name: string, value: unknown, fallback: boolean): boolean {
  return value === undefined ? fallback : checkBoolean(fn, name, value);
}

/**
 * How `out` may share storage with an op's inputs: 'apart' (not at all: the op reads inputs
 * after writing parts of out), or 'inPlace' (an input may be out itself, the same view, since
 * each output element is computed from the same elements of the inputs; views of the storage
 * that touch none of out's bytes are fine too; any other overlap is refused).
 */
export type OutAliasing = 'apart' | 'inPlace';

/**
 * The output of an op: `out` checked (a live, contiguous tensor of this shape, dtype and
 * device, sharing storage with `inputs` only as `aliasing` allows) or a new tensor. Call it
 * after every other check, so that a bad argument allocates nothing.
 */
export function prepareOutput(
  fn: string, out: unknown, shape: readonly number[], like: Tensor, inputs: Readonly<Record<string, Tensor | null>>, aliasing: OutAliasing = 'apart',
): { out: Tensor; given: boolean } {
  if (out === undefined || out === null) return { out: emptyFor(fn, shape, like.dtype, like.device), given: false };
  const t = checkTensor(fn, 'options.out', out);
  if (t.dtype !== like.dtype) throw invalidParameterError(fn, 'options.out', `a ${like.dtype} tensor`, t);
  if (t.device !== like.device) throw invalidParameterError(fn, 'options.out', `on ${like.device}`, t);
  if (!sameShape(t.shape, shape)) throw rangeError(fn, `options.out must have shape ${shapeString(shape)}, got ${shapeString(t.shape)}`);
  if (!t.isContiguous) throw rangeError(fn, `options.out must be contiguous`);
  checkOutAliasing(fn, 'options.out', t, inputs, aliasing);
  t._bumpVersion(); // written in place: a tensor the tape saved from this storage is stale now
  return { out: t, given: true };
}

/**
 * Throws a RangeError naming `fn` when `out` shares storage with an input other than as
 * `aliasing` allows (see OutAliasing). The overlap test is conservative: two views of one
 * storage overlap when the byte ranges from their first to their last element intersect.
 */
export function checkOutAliasing(fn: string, outName: string, out: Tensor, inputs: Readonly<Record<string, Tensor | null>>, aliasing: OutAliasing): void {
  const storage = out._storage;
  for (const name in inputs) {
    const x = inputs[name];
    if (x === null || x._storage !== storage || out.size === 0) continue;
    if (aliasing === 'apart') throw rangeError(fn, `${outName} must not share storage with an input of this op (${name})`);
    if (overlaps(x, out) && !sameView(x, out)) {
      throw rangeError(fn, `${outName} overlaps an input (${name}) without being the same view: it may be ${name} itself (in place), or apart from it`);
    }
  }
}

/** Whether two views of one storage can touch a common byte (from each one's first to its last element). */
function overlaps(a: Tensor, b: Tensor): boolean {
  const ra = byteRange(a);
  const rb = byteRange(b);
  return ra !== null && rb !== null && ra[0] < rb[1] && rb[0] < ra[1];
}

/** [first byte, past the last byte] a view can touch in its storage, or null when it has no elements. */
function byteRange(t: Tensor): [number, number] | null {
  let last = t.offset;
  for (let i = 0; i < t.rank; i++) {
    if (t.shape[i] === 0) return null;
    last += (t.shape[i] - 1) * t.strides[i];
  }
  const bytes = DTYPE_BYTES[t.dtype];
  return [t.offset * bytes, (last + 1) * bytes];
}

/** The same elements at the same places: one offset, dtype and shape, and one stride along every dim longer than 1. */
function sameView(a: Tensor, b: Tensor): boolean {
  if (a.offset !== b.offset || a.dtype !== b.dtype || !sameShape(a.shape, b.shape)) return false;
  for (let i = 0; i < a.rank; i++) if (a.shape[i] > 1 && a.strides[i] !== b.strides[i]) return false;
  return true;
}

/**
 * Runs `body` to fill `out`; temporaries it pushes are disposed afterwards, and `out` too
 * when the op allocated it and `body` throws.
 */
export function fill(out: { out: Tensor; given: boolean }, body: (temps: Tensor[]) => void): Tensor {
  const temps: Tensor[] = [];
  try {
    body(temps);
    return out.out;
  } catch (e) {
    if (!out.given) out.out.dispose();
    throw e;
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** `t` itself when contiguous, else a contiguous copy pushed onto `temps`. */
export function contiguousIn(t: Tensor, temps: Tensor[]): Tensor {
  if (t.isContiguous) return t;
  const c = t._contiguous();
  temps.push(c);
  return c;
}

/** The numpy broadcast of two shapes (aligned at the right), or a RangeError naming both. */
export function broadcastShapes(fn: string, aName: string, a: readonly number[], bName: string, b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw rangeError(fn, `${aName} ${shapeString(a)} and ${bName} ${shapeString(b)} do not broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read `t` broadcast to `shape` (numpy rules): 0 along broadcast dims. Assumes the shapes broadcast. */
export function broadcastStrides(t: { shape: readonly number[]; strides: readonly number[] }, shape: readonly number[]): number[] {
  const lead = shape.length - t.shape.length;
  return shape.map((size, i) => (i < lead || (t.shape[i - lead] === 1 && size !== 1) ? 0 : t.strides[i - lead]));
}

/** Throws a RangeError unless `shape` broadcasts to `target` (numpy rules, aligned at the right). */
export function checkBroadcastsTo(fn: string, name: string, shape: readonly number[], target: readonly number[]): void {
  const lead = target.length - shape.length;
  if (lead < 0 || shape.some((d, i) => d !== 1 && d !== target[lead + i])) {
    throw rangeError(fn, `${name} ${shapeString(shape)} does not broadcast to ${shapeString(target)}`);
  }
}

/** An optional keep-mask (uint8, 1 = keep) broadcastable to `like` (of `likeName`) on its device; null when absent. */
export function checkKeepMask(fn: string, name: string, value: unknown, like: Tensor, likeName: string): Tensor | null {
  if (value === undefined || value === null) return null;
  const mask = checkTensor(fn, name, value);
  if (mask.dtype !== 'uint8') throw invalidParameterError(fn, name, 'a uint8 tensor (1 = keep)', mask);
  if (mask.device !== like.device) throw invalidParameterError(fn, name, `on ${like.device} like ${likeName}`, mask);
  checkBroadcastsTo(fn, name, mask.shape, like.shape);
  return mask;
}

/** A view of `t` broadcast to `shape` (numpy rules), stride 0 where broadcast; a RangeError if it does not broadcast. */
export function broadcastTo(fn: string, name: string, t: Tensor, shape: readonly number[]): Tensor {
  checkBroadcastsTo(fn, name, t.shape, shape);
  return t._view(shape, broadcastStrides(t, shape));
}
