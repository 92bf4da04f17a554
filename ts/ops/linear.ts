// GEMMs: linear (x Wᵀ + b, activation fused into the epilogue) and matmul (batched, numpy
// broadcasting of the leading dims). Both go through native gemm, which takes 3-D views
// [batch, rows, cols] with a unit last stride (batch stride 0 broadcasts one matrix) and a
// contiguous output. Operands are passed in place whenever their strides allow — a
// transposed view becomes a transposed GEMM operand — and copied only when they do not.
import { rangeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { ActivationSpec, activationCode } from './activation';
import {
  broadcastShapes, broadcastStrides, checkFloatTensor, checkLike, checkMinRank, checkOptionalBoolean, checkOptions,
  checkVector, contiguousIn, fill, OutOptions, prepareOutput, product, shapeString,
} from './checks';

/** The stride that walks dims `shape` (with `strides`) as one merged dim, or null when they do not merge. 0 when every size is 1. */
function mergedStride(shape: readonly number[], strides: readonly number[]): number | null {
  let stride: number | null = null;
  let span = 0;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (stride === null) stride = strides[i];
    else if (strides[i] !== span) return null;
    span = strides[i] * shape[i];
  }
  return stride ?? 0;
}

/**
 * A GEMM operand for the logical matrices `v` [...batch, R, C] (any strides, 0 where
 * broadcast): a 3-D view [batch, R, C] (trans false) or [batch, C, R] (trans true) with a
 * unit last stride, read in place when the strides allow, else from a contiguous copy.
 */
function operand(v: Tensor, temps: Tensor[]): { view: Tensor; trans: boolean } {
  const rank = v.rank;
  const [R, C] = [v.shape[rank - 2], v.shape[rank - 1]];
  const [rs, cs] = [v.strides[rank - 2], v.strides[rank - 1]];
  const batch = product(v.shape.slice(0, rank - 2));
  const bs = mergedStride(v.shape.slice(0, rank - 2), v.strides.slice(0, rank - 2));
  let view: Tensor | null = null;
  let trans = false;
  if (bs !== null) {
    const n = bs === 0 ? 1 : batch; // one matrix read for every batch entry: [1, ...] with batch stride 0
    if ((cs === 1 || C === 1) && (rs >= C || R === 1)) {
      view = v._view([n, R, C], [bs, R === 1 ? C : rs, 1]);
    } else if ((rs === 1 || R === 1) && (cs >= R || C === 1)) {
      view = v._view([n, C, R], [bs, C === 1 ? R : cs, 1]);
      trans = true;
    }
  }
  if (view === null) {
    // Copy the matrices: only one when every batch entry reads the same matrix.
    const src = bs === 0 ? v._view([R, C], [rs, cs]) : v;
    if (src !== v) temps.push(src);
    const c = src.contiguous();
    temps.push(c);
    view = bs === 0 ? c._view([1, R, C], [0, C, 1]) : c._view([batch, R, C], [R * C, C, 1]);
  }
  temps.push(view);
  return { view, trans };
}

/**
 * out [...batch, M, N] (contiguous) = act(a @ b + bias) for logical views a [...batch, M, K]
 * and b [...batch, K, N] (strides 0 where broadcast), all checked; temporaries go to `temps`.
 */
function gemmInto(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, act: [number, number, number], allowTF32: boolean, temps: Tensor[]): void {
  const rank = out.rank;
  const [M, N] = [out.shape[rank - 2], out.shape[rank - 1]];
  const K = a.shape[rank - 1];
  if (out.size === 0) return;
  const bc = bias && contiguousIn(bias, temps);
  if (K === 0) {
    // An empty sum: act(0 + bias), without a GEMM (the addon refuses K = 0 operands: their row stride is below its minimum).
    native().fill(out, 0);
    if (bc !== null || act[0] !== 0) native().biasActivation(out, out, bc, act[0], act[1], act[2]);
    return;
  }
  const A = operand(a, temps);
  const B = operand(b, temps);
  const batch = out.size / (M * N);
  const c = out._view([batch, M, N], [M * N, N, 1]);
  temps.push(c);
  native().gemm(A.view, B.view, c, bc, A.trans, B.trans, 1, act[0], act[1], act[2], allowTF32);
}

/** @internal linear after its arguments are checked: out [..., N] = act(x [..., K] Wᵀ + b). */
export function linearInto(out: Tensor, x: Tensor, weight: Tensor, bias: Tensor | null, act: [number, number, number], allowTF32: boolean, temps: Tensor[]): void {
  const K = x.shape[x.rank - 1];
  const N = weight.shape[0];
  const M = product(x.shape.slice(0, -1));
  // x as rows [M, K]: in place when its leading dims merge into one stride.
  let rows = x;
  let rowStride = mergedStride(x.shape.slice(0, -1), x.strides.slice(0, -1));
  if (rowStride === null) {
    rows = x.contiguous();
    temps.push(rows);
    rowStride = K;
  }
  const a = rows._view([M, K], [rowStride, rows.strides[rows.rank - 1] ?? 1]);
  const b = weight._view([K, N], [weight.strides[1], weight.strides[0]]); // Wᵀ
  const c = out._view([M, N], [N, 1]);
  temps.push(a, b, c);
  gemmInto(c, a, b, bias, act, allowTF32, temps);
}

export interface LinearOptions extends OutOptions {
  /** Fused after the bias add, in the GEMM's epilogue. Default 'none'. */
  activation?: ActivationSpec;
  /** float32 only: let tensor cores round the inputs to tf32 (CUDA). Default false. */
  allowTF32?: boolean;
}

/**
 * act(x Wᵀ + bias): x [..., in], weight [out, in], bias [out] or null, all of one float
 * dtype and device. Returns a contiguous [..., out]. Accumulates in float32 and rounds
 * once to the dtype. Strided x and weight are read in place where a GEMM can (e.g. a
 * transposed weight view), copied otherwise.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: LinearOptions): Tensor {
  const fn = 'linear';
  const t = checkFloatTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 1, '[..., in]');
  const w = checkLike(fn, 'weight', weight, t, 'x');
  if (w.rank !== 2) throw rangeError(fn, `weight must be [out, in], got ${shapeString(w.shape)}`);
  const K = t.shape[t.rank - 1];
  if (w.shape[1] !== K) throw rangeError(fn, `weight ${shapeString(w.shape)} takes ${w.shape[1]} input features but x ${shapeString(t.shape)} has ${K}`);
  const b = checkVector(fn, 'bias', bias, w.shape[0], w, 'weight');
  const o = checkOptions(fn, options);
  const act = activationCode(fn, o.activation ?? 'none', 'options.activation');
  const tf32 = checkOptionalBoolean(fn, 'options.allowTF32', o.allowTF32, false);
  const out = prepareOutput(fn, o.out, [...t.shape.slice(0, -1), w.shape[0]], t, [t, w, b]);
  return fill(out, (temps) => linearInto(out.out, t, w, b, act, tf32, temps));
}

export interface MatmulOptions extends OutOptions {
  /** Use a's last two dims swapped: a is [..., K, M]. Default false. */
  transposeA?: boolean;
  /** Use b's last two dims swapped: b is [..., N, K]. Default false. */
  transposeB?: boolean;
  /** float32 only: let tensor cores round the inputs to tf32 (CUDA). Default false. */
  allowTF32?: boolean;
}

/**
 * Batched matrix product: a [..., M, K] @ b [..., K, N] → [...batch, M, N], with the leading
 * dims broadcast by numpy rules (an operand that is one matrix is read once for every batch
 * entry, with no copy). Both of one float dtype and device, rank ≥ 2. Transposed and other
 * strided views are read in place when a GEMM can; otherwise they are copied first.
 */
export function matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor {
  const fn = 'matmul';
  const ta = checkFloatTensor(fn, 'a', a);
  checkMinRank(fn, 'a', ta, 2, '[..., M, K]');
  const tb = checkLike(fn, 'b', b, ta, 'a');
  checkMinRank(fn, 'b', tb, 2, '[..., K, N]');
  const o = checkOptions(fn, options);
  const transA = checkOptionalBoolean(fn, 'options.transposeA', o.transposeA, false);
  const transB = checkOptionalBoolean(fn, 'options.transposeB', o.transposeB, false);
  const tf32 = checkOptionalBoolean(fn, 'options.allowTF32', o.allowTF32, false);
  // Logical [..., rows, cols] shape and strides of each operand after its transpose.
  const logical = (t: Tensor, trans: boolean) => {
    const r = t.rank;
    const idx = trans ? [r - 1, r - 2] : [r - 2, r - 1];
    return { lead: t.shape.slice(0, -2), leadStrides: t.strides.slice(0, -2), dims: idx.map((i) => t.shape[i]), strides: idx.map((i) => t.strides[i]) };
  };
  const la = logical(ta, transA);
  const lb = logical(tb, transB);
  const [M, K] = la.dims;
  const [Kb, N] = lb.dims;
  if (K !== Kb) {
    throw rangeError(fn, `inner dimensions differ: a ${shapeString(ta.shape)}${transA ? ' (transposed)' : ''} has K = ${K}, ` +
      `b ${shapeString(tb.shape)}${transB ? ' (transposed)' : ''} has K = ${Kb}`);
  }
  const batch = broadcastShapes(fn, 'a\'s batch dims', la.lead, 'b\'s batch dims', lb.lead);
  const out = prepareOutput(fn, o.out, [...batch, M, N], ta, [ta, tb]);
  return fill(out, (temps) => {
    const view = (t: Tensor, l: typeof la) => {
      const v = t._view([...batch, ...l.dims], [...broadcastStrides({ shape: l.lead, strides: l.leadStrides }, batch), ...l.strides]);
      temps.push(v);
      return v;
    };
    gemmInto(out.out, view(ta, la), view(tb, lb), null, [0, 0, 0], tf32, temps);
  });
}
