// topk and argmax along one dimension. Host-side: the input is read to the host once
// (dataSync: it waits for the device), the selection runs in JS, and the results are written
// back on the input's device; on a GPU, for the class scores of a batch, one read is what
// costs. Not recorded by autograd.
import { needsGrad, noGradientError } from '../autograd/graph';
import { isFloat } from '../dtype';
import { checkInteger, rangeError } from '../errors';
import { checkTensor, normalizeDim, Tensor, tensorAs } from '../tensor';

export interface TopK {
  /** The k largest values along the dimension, largest first, in the input's dtype. */
  values: Tensor;
  /** Their indices along the dimension (int32). */
  indices: Tensor<'int32'>;
}

/** Whether a sorts before b, largest first: NaN counts as the largest (as PyTorch), ties keep the lower index. */
function before(a: number, ia: number, b: number, ib: number): boolean {
  const an = Number.isNaN(a), bn = Number.isNaN(b);
  if (an !== bn) return an;
  return a > b || ((a === b || an) && ia < ib);
}

/** @internal The indices of the k largest of each of `outer` x `inner` lines of n values (line o, i at base o * n * inner + i, stride inner), largest first: [outer, k, inner]. */
export function topkIndices(values: ArrayLike<number>, outer: number, n: number, inner: number, k: number): Int32Array {
  const picked = new Int32Array(outer * k * inner);
  const order: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      order.length = 0;
      for (let j = 0; j < n; j++) order.push(j);
      const at = (j: number) => values[base + j * inner];
      order.sort((a, b) => (before(at(a), a, at(b), b) ? -1 : 1));
      for (let j = 0; j < k; j++) picked[(o * k + j) * inner + i] = order[j];
    }
  }
  return picked;
}

/** For each line along `dim`: the indices of its k largest values, largest first. */
function select(fn: string, x: Tensor, k: number, dim: number): { values: ArrayLike<number>; picked: Int32Array; shape: number[] } {
  const d = normalizeDim(fn, dim, x.rank);
  const n = x.shape[d];
  if (k > n) throw rangeError(fn, `k ${k} is larger than dimension ${dim}'s size ${n}`);
  const inner = x.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const outer = x.size / Math.max(1, n * inner);
  const values = x.dataSync();
  const shape = x.shape.slice();
  shape[d] = k;
  return { values, picked: topkIndices(values, outer, n, inner, k), shape };
}

/** The k largest values along `dim` (default -1) and their indices, largest first (PyTorch's topk with sorted=True). */
export function topk(x: Tensor, k: number, dim = -1): TopK {
  const fn = 'topk';
  const t = checkTensor(fn, 'x', x);
  checkInteger(fn, 'k', k, 1);
  if (needsGrad(t)) throw noGradientError(fn);
  const { values, picked, shape } = select(fn, t, k, dim);
  const d = normalizeDim(fn, dim, t.rank);
  const n = t.shape[d], inner = shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(picked.length);
  for (let p = 0; p < picked.length; p++) {
    const i = p % inner, o = Math.floor(p / (k * inner));
    out[p] = values[o * n * inner + picked[p] * inner + i];
  }
  const dtype = isFloat(t.dtype) ? 'float32' : t.dtype;
  const v = tensorAs(fn, out, shape, { dtype, device: t.device });
  return { values: dtype === t.dtype ? v : castAndFree(v, t), indices: tensorAs(fn, picked, shape, { dtype: 'int32', device: t.device }) };
}

function castAndFree(v: Tensor, like: Tensor): Tensor {
  try {
    return v.cast(like.dtype);
  } finally {
    v.dispose();
  }
}

/** The index of the largest value along `dim` (default -1), that dimension removed: int32. NaN counts as the largest; ties give the first. */
export function argmax(x: Tensor, dim = -1): Tensor<'int32'> {
  const fn = 'argmax';
  const t = checkTensor(fn, 'x', x);
  const { picked, shape } = select(fn, t, 1, dim);
  shape.splice(normalizeDim(fn, dim, t.rank), 1);
  return tensorAs(fn, picked, shape, { dtype: 'int32', device: t.device });
}
