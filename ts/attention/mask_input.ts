// What SparseMask and BlockSparseLayout read: a dense mask or layout given as a Uint8Array,
// a uint8 Tensor or a pattern, their options, and the int32 limits of their shapes (the
// kernels index masks, layouts and tile lists with int32, so larger sizes are refused here
// instead of wrapping).
import { checkDevice, Device } from '../dtype';
import { checkShape, invalidParameterError, rangeError } from '../errors';
import { checkTensor, isTensor, Tensor } from '../tensor';
import { INT32_MAX } from './limits';

/** A dense 0/1 pattern in the duck type of patterns.ts' Pattern: [rows, cols] row-major. */
export interface DensePattern {
  rows: number;
  cols: number;
  data: Uint8Array;
}

/** What a dense mask or layout may be given as. */
export type DenseInput = Uint8Array | Tensor | DensePattern;

const LIMIT = `the int32 limit 2^31 - 1 = ${INT32_MAX}`;

/** Throws a RangeError naming `fn` when `value` (described by `what`) is past INT32_MAX. */
export function checkInt32(fn: string, what: string, value: number): void {
  if (value > INT32_MAX) throw rangeError(fn, `${what} is ${value}, past ${LIMIT}`);
}

/** The heads, rows and cols of a [Nq, Nk] or [H, Nq, Nk] shape. */
export function maskDims(shape: readonly number[]): { heads: number; rows: number; cols: number } {
  return { heads: shape.length === 3 ? shape[0] : 1, rows: shape[shape.length - 2], cols: shape[shape.length - 1] };
}

/** Throws a RangeError naming `fn` unless `shape` is [Nq, Nk] or [H, Nq, Nk] with H >= 1. */
export function checkMaskRank(fn: string, shape: readonly number[]): void {
  if (shape.length !== 2 && shape.length !== 3) throw rangeError(fn, `shape must be [Nq, Nk] or [H, Nq, Nk], got [${shape.join(', ')}]`);
  if (shape.length === 3 && shape[0] < 1) throw rangeError(fn, `shape [${shape.join(', ')}] has no heads`);
}

/**
 * Throws a RangeError naming `fn` unless an element mask of `shape` fits int32 indices: H, Nq
 * and Nk, and the heads · Nq + 1 row offsets of its CSR.
 */
export function checkElementExtent(fn: string, shape: readonly number[]): void {
  const { heads, rows, cols } = maskDims(shape);
  const s = `shape [${shape.join(', ')}]`;
  checkInt32(fn, `${s}: H`, heads);
  checkInt32(fn, `${s}: Nq`, rows);
  checkInt32(fn, `${s}: Nk`, cols);
  checkInt32(fn, `${s}: the count of row offsets, H · Nq + 1,`, heads * rows + 1);
}

/** Throws a RangeError naming `fn` unless a layout of `shape` in `blockSize`-blocks covers no more than int32 elements a side. */
export function checkBlockExtent(fn: string, shape: readonly number[], blockSize: number): void {
  const { heads, rows, cols } = maskDims(shape);
  const s = `shape [${shape.join(', ')}]`;
  const most = ceilDiv(INT32_MAX, blockSize);
  checkInt32(fn, `${s}: H`, heads);
  if (rows > most || cols > most) {
    throw rangeError(fn, `${s} of ${blockSize}-blocks covers ${rows * blockSize} x ${cols * blockSize} elements; at most ${most} blocks a side fit ${LIMIT}`);
  }
}

function isPattern(value: unknown): value is DensePattern {
  if (value === null || typeof value !== 'object') return false;
  const p = value as Partial<DensePattern>;
  return typeof p.rows === 'number' && typeof p.cols === 'number' && p.data instanceof Uint8Array;
}

/**
 * A dense mask's host values and shape (rank 2 or 3), from any DenseInput; `device` is a
 * tensor's own. `checkExtent` refuses a shape too large for the kernels, before its size is
 * compared with the values.
 */
export function readDense(
  fn: string, name: string, value: unknown, shape: unknown, checkExtent: (s: readonly number[]) => void,
): { data: Uint8Array; shape: readonly number[]; device?: Device } {
  let data: Uint8Array;
  let own: readonly number[] | undefined;
  let device: Device | undefined;
  if (isTensor(value)) {
    checkTensor(fn, name, value);
    if (value.dtype !== 'uint8') throw invalidParameterError(fn, name, 'a uint8 tensor (nonzero = on)', value);
    data = value.dataSync() as Uint8Array;
    own = value.shape;
    device = value.device;
  } else if (value instanceof Uint8Array) {
    data = value;
  } else if (isPattern(value)) {
    if (!Number.isInteger(value.rows) || !Number.isInteger(value.cols) || value.rows < 0 || value.cols < 0) {
      throw rangeError(fn, `${name} has rows ${value.rows} and cols ${value.cols}; expected non-negative integers`);
    }
    if (value.data.length !== value.rows * value.cols) {
      throw rangeError(fn, `${name} has ${value.data.length} values for ${value.rows} x ${value.cols}`);
    }
    data = value.data;
    own = [value.rows, value.cols];
  } else {
    throw invalidParameterError(fn, name, 'a Uint8Array, a uint8 Tensor or a pattern { rows, cols, data }', value);
  }
  let s: readonly number[];
  if (shape !== undefined) {
    s = checkShape(fn, shape, 'shape');
  } else if (own !== undefined) {
    s = own;
  } else {
    throw new TypeError(`${fn}: a Uint8Array ${name} needs a shape ([Nq, Nk] or [H, Nq, Nk])`);
  }
  checkMaskRank(fn, s);
  checkExtent(s);
  const size = s.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw rangeError(fn, `${name} has ${data.length} values but shape [${s.join(', ')}] needs ${size}`);
  return { data, shape: s, device };
}

/** Splits (arg2, arg3) into a shape and options: fromDense(mask, shape?, options?) or fromDense(mask, options). */
export function shapeAndOptions<O>(shape: unknown, options: O | undefined): { shape: unknown; options: O | undefined } {
  if (shape !== undefined && shape !== null && !Array.isArray(shape) && typeof shape === 'object') return { shape: undefined, options: shape as O };
  return { shape: shape ?? undefined, options };
}

export function checkOptions(fn: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  return options as Record<string, unknown>;
}

export function deviceOption(fn: string, options: Record<string, unknown>, fallback: Device | undefined): Device {
  return options.device === undefined ? fallback ?? 'cpu' : checkDevice(fn, options.device, 'options.device');
}

export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/**
 * body(), with a RangeError of the engine's own (an array or buffer too large to allocate)
 * given a message naming `fn` and what was being built.
 */
export function allocating<T>(fn: string, what: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    // Ours start with a function's name ("SparseMask.fromDense: ..."); the engine's do not.
    if (e instanceof RangeError && !/^[\w.]+: /.test(e.message)) throw rangeError(fn, `${what} could not be allocated (${e.message})`);
    throw e;
  }
}
