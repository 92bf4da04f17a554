// Elementwise arithmetic with numpy broadcasting, the in-place residual add, and the shape
// ops a model needs: concat, slice (a view), permute/transpose (materialized), mean.
import { checkInteger, invalidParameterError, rangeError } from '../errors';
import { native } from '../native';
import { checkTensor, full, isTensor, normalizeDim, Tensor } from '../tensor';
import {
  broadcastShapes, broadcastTo, checkBroadcastsTo, checkFinite, checkFloatTensor, checkLike, checkMinRank, checkOptionalBoolean,
  checkOptions, checkOutAliasing, contiguousIn, fill, OutOptions, prepareOutput, product, shapeString,
} from './checks';
import { checkRecordable, needsGrad, needsGradAny, record } from '../autograd/graph';
import { addGrad, divGrad, meanGrad, mulGrad, residualAddGrad } from '../autograd/grads/elementwise';
import { concatGrad, permuteGrad, sliceGrad } from '../autograd/grads/shape';

// Native codes: native/core/ops.h, enum class BinaryOp.
const ADD = 0;
const MUL = 1;
const SUB = 2;
const DIV = 3;

export interface BinaryOptions extends OutOptions {
  /** Multiplies b before the operation. Default 1. */
  alpha?: number;
}

// out = a (op) b·alpha over the broadcast shape; b may be a number.
function binary(fn: string, op: number, a: Tensor, b: Tensor | number, options: BinaryOptions | undefined): Tensor {
  const ta = checkFloatTensor(fn, 'a', a);
  const scalar = typeof b === 'number';
  if (!scalar && !isTensor(b)) throw invalidParameterError(fn, 'b', 'a Tensor or a number', b);
  const tb = scalar ? null : checkLike(fn, 'b', b, ta, 'a');
  if (scalar) checkFinite(fn, 'b', b);
  const o = checkOptions(fn, options);
  const alpha = o.alpha === undefined ? 1 : checkFinite(fn, 'options.alpha', o.alpha);
  const shape = tb ? broadcastShapes(fn, 'a', ta.shape, 'b', tb.shape) : [...ta.shape];
  const out = prepareOutput(fn, o.out, shape, ta, { a: ta, b: tb }, 'inPlace');
  return fill(out, (temps) => {
    if (out.out.size === 0) return;
    // A number b is a broadcast 1 (exact in every dtype) with the number folded into alpha.
    const bt = tb ?? full([], 1, { dtype: ta.dtype, device: ta.device });
    if (!tb) temps.push(bt);
    const av = broadcastTo(fn, 'a', ta, shape);
    const bv = broadcastTo(fn, 'b', bt, shape);
    temps.push(av, bv);
    native().binary(out.out, av, bv, op, scalar ? alpha * (b as number) : alpha);
  });
}

/**
 * a + b·alpha, elementwise with numpy broadcasting: a a float tensor, b a tensor of a's
 * dtype and device or a number; any strides. Returns a contiguous tensor of the broadcast
 * shape (or writes options.out). alpha defaults to 1.
 */
export function add(a: Tensor, b: Tensor | number, options?: BinaryOptions): Tensor {
  return needsGrad(a, b) ? recordBinary('add', ADD, a, b, options) : binary('add', ADD, a, b, options);
}

/** a − b·alpha, elementwise with numpy broadcasting (as add). alpha defaults to 1. */
export function sub(a: Tensor, b: Tensor | number, options?: BinaryOptions): Tensor {
  return needsGrad(a, b) ? recordBinary('sub', SUB, a, b, options) : binary('sub', SUB, a, b, options);
}

/** a · b · alpha, elementwise with numpy broadcasting (as add). alpha defaults to 1. */
export function mul(a: Tensor, b: Tensor | number, options?: BinaryOptions): Tensor {
  return needsGrad(a, b) ? recordBinary('mul', MUL, a, b, options) : binary('mul', MUL, a, b, options);
}

/**
 * a / (b·alpha), elementwise with numpy broadcasting (as add): IEEE division, so a zero b
 * gives ±Infinity or NaN. alpha defaults to 1.
 */
export function div(a: Tensor, b: Tensor | number, options?: BinaryOptions): Tensor {
  if (typeof b === 'number' && b === 0) throw rangeError('div', 'b must not be the number 0');
  return needsGrad(a, b) ? recordBinary('div', DIV, a, b, options) : binary('div', DIV, a, b, options);
}

// add, sub, mul or div on the tape (an input requires grad): the forward, then its record.
function recordBinary(fn: string, op: number, a: Tensor, b: Tensor | number, options: BinaryOptions | undefined): Tensor {
  checkRecordable(fn, options);
  const out = binary(fn, op, a, b, options);
  const alpha = options?.alpha ?? 1;
  if (op === MUL) return record(fn, out, [a, b], typeof b === 'number' ? [a] : [a, b], mulGrad(a, b, alpha));
  if (op === DIV) return record(fn, out, [a, b], typeof b === 'number' ? [] : [b, out], divGrad(a, b, alpha));
  return record(fn, out, [a, b], [], addGrad(a, b, alpha, op === ADD ? 1 : -1));
}

/**
 * x += branch · scale, in place (the residual connection): x a contiguous float tensor,
 * branch of x's dtype and device broadcastable to x's shape, any strides. scale defaults
 * to 1. Returns x.
 */
export function residualAdd(x: Tensor, branch: Tensor, options?: { scale?: number }): Tensor {
  const fn = 'residualAdd';
  const tx = checkFloatTensor(fn, 'x', x);
  const tb = checkLike(fn, 'branch', branch, tx, 'x');
  if (!tx.isContiguous) throw rangeError(fn, 'x must be contiguous: it is updated in place');
  checkBroadcastsTo(fn, 'branch', tb.shape, tx.shape);
  checkOutAliasing(fn, 'x', tx, { branch: tb }, 'inPlace');
  const o = checkOptions(fn, options);
  const scale = o.scale === undefined ? 1 : checkFinite(fn, 'options.scale', o.scale);
  const tracked = needsGrad(tx, tb);
  if (tracked && tx.requiresGrad && tx.isLeaf) throw rangeError(fn, 'x is a leaf that requires grad: it cannot be updated in place (its gradient would be lost); add() makes a new tensor');
  if (tx.size > 0) {
    const bv = broadcastTo(fn, 'branch', tb, tx.shape);
    try {
      native().binary(tx, tx, bv, ADD, scale);
    } finally {
      bv.dispose();
    }
    tx._bumpVersion();
  }
  return tracked ? record(fn, tx, [tx, tb], [], residualAddGrad(tb, scale)) : tx;
}

/**
 * Joins tensors along `dim` (negative counts from the end): all of one dtype and device
 * and one rank ≥ 1, equal in every other dim; any strides (stride-0 broadcast views too).
 * Returns a contiguous tensor, or writes options.out.
 */
export function concat(tensors: readonly Tensor[], dim: number, options?: OutOptions): Tensor {
  const fn = 'concat';
  if (!Array.isArray(tensors) || tensors.length === 0) throw invalidParameterError(fn, 'tensors', 'a non-empty array of Tensors', tensors);
  const list = [...tensors]; // read once: what is checked is what is copied
  const first = checkTensor(fn, 'tensors[0]', list[0]);
  checkMinRank(fn, 'tensors[0]', first, 1, 'at least 1-D');
  const d = normalizeDim(fn, dim, first.rank);
  let total = 0;
  const inputs: Record<string, Tensor> = {};
  list.forEach((value, i) => {
    const t = checkLike(fn, `tensors[${i}]`, value, first, 'tensors[0]');
    if (t.rank !== first.rank || t.shape.some((s, j) => j !== d && s !== first.shape[j])) {
      throw rangeError(fn, `tensors[${i}] ${shapeString(t.shape)} does not match tensors[0] ${shapeString(first.shape)} outside dim ${d}`);
    }
    total += t.shape[d];
    inputs[`tensors[${i}]`] = t;
  });
  const shape = first.shape.map((s, j) => (j === d ? total : s));
  const tracked = needsGradAny(list);
  if (tracked) checkRecordable(fn, options);
  const out = prepareOutput(fn, checkOptions(fn, options).out, shape, first, inputs);
  const y = fill(out, (temps) => {
    let at = 0;
    for (const t of list) {
      if (t.size > 0) {
        const dst = out.out._view(t.shape, out.out.strides, out.out.offset + at * out.out.strides[d]);
        temps.push(dst);
        native().copy(dst, t);
      }
      at += t.shape[d];
    }
  });
  return tracked ? record(fn, y, list, [], concatGrad(list, d)) : y;
}

/**
 * x[..., start:end, ...] along `dim`: a VIEW of x's storage (no copy, no out option),
 * usually not contiguous. Negative dim, start and end count from the end; end defaults to
 * the dim's size; 0 ≤ start ≤ end ≤ size after that, else a RangeError (no clamping).
 */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  const fn = 'slice';
  const t = checkTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 1, 'at least 1-D');
  const d = normalizeDim(fn, dim, t.rank);
  const size = t.shape[d];
  const index = (name: string, v: unknown) => {
    const i = checkInteger(fn, name, v, -Infinity);
    return i < 0 ? i + size : i;
  };
  const s = index('start', start);
  const e = end === undefined ? size : index('end', end);
  if (!(s >= 0 && s <= e && e <= size)) {
    throw rangeError(fn, `[${start}, ${end ?? size}) is not a range within dim ${d} of size ${size} (x ${shapeString(t.shape)})`);
  }
  const v = t._view(t.shape.map((n, j) => (j === d ? e - s : n)), t.strides, t.offset + s * t.strides[d]);
  return needsGrad(t) ? record(fn, v, [t], [], sliceGrad(t, d, s)) : v;
}

function checkPermutation(fn: string, dims: unknown, rank: number): number[] {
  const expected = `a permutation of 0..${rank - 1} (negative dims count from the end)`;
  if (!Array.isArray(dims) || dims.length !== rank || dims.some((v) => !Number.isInteger(v) || v < -rank || v >= rank)) {
    throw invalidParameterError(fn, 'dims', expected, dims);
  }
  const norm = dims.map((v: number) => (v < 0 ? v + rank : v));
  if (new Set(norm).size !== rank) throw invalidParameterError(fn, 'dims', expected, dims);
  return norm;
}

function materialize(fn: string, t: Tensor, dims: number[], options: OutOptions | undefined): Tensor {
  const shape = dims.map((d) => t.shape[d]);
  const tracked = needsGrad(t);
  if (tracked) checkRecordable(fn, options);
  const out = prepareOutput(fn, checkOptions(fn, options).out, shape, t, { x: t });
  const y = fill(out, (temps) => {
    if (out.out.size === 0) return;
    const v = t._view(shape, dims.map((d) => t.strides[d]));
    temps.push(v);
    native().copy(out.out, v);
  });
  return tracked ? record(fn, y, [t], [], permuteGrad(dims)) : y;
}

/**
 * x with its dims reordered (out dim i is x's dim dims[i]), as a contiguous COPY (or into
 * options.out). Tensor.permute() gives the same values as a view, without a copy.
 */
export function permute(x: Tensor, dims: readonly number[], options?: OutOptions): Tensor {
  const fn = 'permute';
  const t = checkTensor(fn, 'x', x);
  return materialize(fn, t, checkPermutation(fn, dims, t.rank), options);
}

/**
 * x with dims dim0 and dim1 swapped (defaults −2 and −1), as a contiguous COPY (or into
 * options.out). Tensor.transpose() gives the same values as a view, without a copy.
 */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1, options?: OutOptions): Tensor {
  const fn = 'transpose';
  const t = checkTensor(fn, 'x', x);
  const a = normalizeDim(fn, dim0, t.rank);
  const b = normalizeDim(fn, dim1, t.rank);
  const dims = t.shape.map((_, i) => i);
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return materialize(fn, t, dims, options);
}

export interface MeanOptions extends OutOptions {
  /** Keep `dim` with size 1 in the result. Default false. */
  keepDim?: boolean;
}

/**
 * The mean over `dim` (negative counts from the end) of a float tensor, any strides,
 * accumulated in float32 or better. Returns a contiguous tensor without that dim (or with
 * it as 1 under keepDim), or writes options.out. The mean over an empty dim is NaN.
 */
export function mean(x: Tensor, dim: number, options?: MeanOptions): Tensor {
  const fn = 'mean';
  const t = checkFloatTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 1, 'at least 1-D');
  const d = normalizeDim(fn, dim, t.rank);
  const o = checkOptions(fn, options);
  const keepDim = checkOptionalBoolean(fn, 'options.keepDim', o.keepDim, false);
  const shape = keepDim ? t.shape.map((s, i) => (i === d ? 1 : s)) : t.shape.filter((_, i) => i !== d);
  const tracked = needsGrad(t);
  if (tracked) checkRecordable(fn, o);
  const out = prepareOutput(fn, o.out, shape, t, { x: t });
  const y = fill(out, (temps) => {
    if (out.out.size === 0) return;
    const xc = contiguousIn(t, temps);
    native().mean(out.out, xc, product(t.shape.slice(0, d)), t.shape[d], product(t.shape.slice(d + 1)));
  });
  return tracked ? record(fn, y, [t], [], meanGrad(t, d)) : y;
}
