// GEMMs: linear (x Wᵀ + b, activation fused into the epilogue) and matmul (batched, numpy
// broadcasting of the leading dims). Both go through native gemm, which takes 3-D views
// [batch, rows, cols] with a unit last stride (batch stride 0 broadcasts one matrix) and a
// contiguous output. Operands are passed in place whenever their strides allow — a
// transposed view becomes a transposed GEMM operand — and copied only when they do not.
import { rangeError } from '../errors';
import { native, NativeTensorArg } from '../native';
import { nativeView, Tensor } from '../tensor';
import { ActivationCode, ActivationSpec, activationCode } from './activation';
import {
  broadcastShapes, broadcastStrides, checkFloatTensor, checkLike, checkMinRank, checkOptionalBoolean, checkOptions,
  checkVector, contiguousIn, fill, OutOptions, prepareOutput, product, sameShape, shapeString,
} from './checks';
import { checkRecordable, needsGrad, needsGradAny, record } from '../autograd/graph';
import { linearActivationGrad, linearGrad, matmulGrad } from '../autograd/grads/linear';

/**
 * The stride that walks dims 0 .. end - 1 of `shape` (with `strides`) as one merged dim, or
 * null when they do not merge. 0 when every size is 1.
 */
function mergedStride(shape: readonly number[], strides: readonly number[], end = shape.length): number | null {
  let stride: number | null = null;
  let span = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (stride === null) stride = strides[i];
    else if (strides[i] !== span) return null;
    span = strides[i] * shape[i];
  }
  return stride ?? 0;
}

/**
 * A logical matrix operand [...batch, R, C]: a shape and strides (0 where broadcast) over
 * `owner`'s storage. Only a layout: no Tensor is made unless the operand must be copied.
 */
interface Logical { owner: Tensor; shape: readonly number[]; strides: readonly number[]; offset: number }

/**
 * The native GEMM argument for the logical matrices `v`: a 3-D layout [batch, R, C] (trans
 * false) or [batch, C, R] (trans true) with a unit last stride, read in place when the
 * strides allow, else from a contiguous copy (pushed to temps).
 */
function operand(v: Logical, temps: Tensor[]): { arg: NativeTensorArg; trans: boolean } {
  const rank = v.shape.length;
  const R = v.shape[rank - 2], C = v.shape[rank - 1];
  const rs = v.strides[rank - 2], cs = v.strides[rank - 1];
  const batch = product(v.shape, rank - 2);
  const bs = mergedStride(v.shape, v.strides, rank - 2);
  if (bs !== null) {
    const n = bs === 0 ? 1 : batch; // one matrix read for every batch entry: [1, ...] with batch stride 0
    if ((cs === 1 || C === 1) && (rs >= C || R === 1)) {
      return { arg: nativeView(v.owner, [n, R, C], [bs, R === 1 ? C : rs, 1], v.offset), trans: false };
    }
    if ((rs === 1 || R === 1) && (cs >= R || C === 1)) {
      return { arg: nativeView(v.owner, [n, C, R], [bs, C === 1 ? R : cs, 1], v.offset), trans: true };
    }
  }
  // Copy the matrices: only one when every batch entry reads the same matrix.
  const src = bs === 0 ? v.owner._view([R, C], [rs, cs], v.offset) : v.owner._view(v.shape, v.strides, v.offset);
  temps.push(src);
  const c = src.contiguous();
  temps.push(c);
  return { arg: bs === 0 ? nativeView(c, [1, R, C], [0, C, 1]) : nativeView(c, [batch, R, C], [R * C, C, 1]), trans: false };
}

/**
 * out (contiguous, `shape` [...batch, M, N]) = act(a @ b + bias) for logical a
 * [...batch, M, K] and b [...batch, K, N], all checked; temporaries go to `temps`. With a
 * residual (contiguous, out's shape; out itself or apart from it; act none) out = a @ b +
 * bias + residual, rounded once.
 */
function gemmInto(out: Tensor, shape: readonly number[], a: Logical, b: Logical, bias: Tensor | null, act: ActivationCode, allowTF32: boolean,
  temps: Tensor[], residual: Tensor | null = null): void {
  const rank = shape.length;
  const M = shape[rank - 2], N = shape[rank - 1];
  const K = a.shape[rank - 1];
  if (out.size === 0) return;
  const bc = bias && contiguousIn(bias, temps);
  const batch = out.size / (M * N);
  if (K === 0) {
    // An empty sum: act(0 + bias) (+ residual), without a GEMM (the addon refuses K = 0 operands: their row stride is below its minimum).
    if (residual === null) native().fill(out, 0);
    else if (residual._storage !== out._storage || residual.offset !== out.offset) native().copy(out, residual);
    if (bc !== null || act[0] !== 0) native().biasActivation(out, out, bc, act[0], act[1], act[2]);
    return;
  }
  const A = operand(a, temps);
  const B = operand(b, temps);
  const c = nativeView(out, [batch, M, N], [M * N, N, 1]);
  const r = residual && nativeView(residual, [batch, M, N], [M * N, N, 1]);
  native().gemm(A.arg, B.arg, c, bc, A.trans, B.trans, 1, act[0], act[1], act[2], allowTF32, r);
}

/** @internal linear after its arguments are checked: out [..., N] = act(x [..., K] Wᵀ + b) (+ residual). */
export function linearInto(out: Tensor, x: Tensor, weight: Tensor, bias: Tensor | null, act: ActivationCode, allowTF32: boolean, temps: Tensor[],
  residual: Tensor | null = null): void {
  const K = x.shape[x.rank - 1];
  const N = weight.shape[0];
  const M = product(x.shape, x.rank - 1);
  // x as rows [M, K]: in place when its leading dims merge into one stride.
  let rows = x;
  let rowStride = mergedStride(x.shape, x.strides, x.rank - 1);
  if (rowStride === null) {
    rows = x._contiguous();
    temps.push(rows);
    rowStride = K;
  }
  const a: Logical = { owner: rows, shape: [M, K], strides: [rowStride, rows.strides[rows.rank - 1] ?? 1], offset: rows.offset };
  const b: Logical = { owner: weight, shape: [K, N], strides: [weight.strides[1], weight.strides[0]], offset: weight.offset }; // Wᵀ
  gemmInto(out, [M, N], a, b, bias, act, allowTF32, temps, residual);
}

export interface LinearOptions extends OutOptions {
  /** Fused after the bias add, in the GEMM's epilogue. Default 'none'. */
  activation?: ActivationSpec;
  /** float32 only: let tensor cores round the inputs to tf32 (CUDA). Default false. */
  allowTF32?: boolean;
  /**
   * Added to the output in the same GEMM (cuBLASLt's C input, beta = 1): x Wᵀ + bias +
   * residual, rounded once; of the output's shape, dtype and device. Give it as options.out
   * too to update it in place (a transformer's residual stream). Not with an activation.
   */
  residual?: Tensor | null;
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
  const shape = t.shape.slice();
  shape[shape.length - 1] = w.shape[0];
  let residual: Tensor | null = null;
  if (o.residual !== undefined && o.residual !== null) {
    residual = checkLike(fn, 'options.residual', o.residual, t, 'x');
    if (!sameShape(residual.shape, shape)) throw rangeError(fn, `options.residual must have the output's shape ${shapeString(shape)}, got ${shapeString(residual.shape)}`);
    if (act[0] !== 0) throw rangeError(fn, 'options.residual cannot be combined with an activation (the residual is added after the bias, with nothing applied after it)');
  }
  const tracked = needsGradAny([t, w, b, residual]);
  if (tracked) checkRecordable(fn, o);
  if (tracked && act[0] !== 0) return linearActivationRecorded(t, w, b, o.activation as ActivationSpec, act, tf32);
  const out = prepareOutput(fn, o.out, shape, t, { x: t, weight: w, bias: b });
  const sharesOut = residual !== null && out.given && residual._storage === out.out._storage;
  if (sharesOut && (residual!.offset !== out.out.offset || !residual!.isContiguous)) {
    throw rangeError(fn, 'options.residual shares storage with options.out: it must be options.out itself (in place) or in another storage');
  }
  const y = fill(out, (temps) => linearInto(out.out, t, w, b, act, tf32, temps, residual && contiguousIn(residual, temps)));
  return tracked ? record(fn, y, [t, w, b, residual], [t, w], linearGrad(t, w)) : y;
}

/**
 * linear with an activation while recording: the GEMM + bias writes the pre-activation,
 * which the tape keeps for act′, and a second pass applies the activation (DERIVATIVES.md
 * says why it is not recomputed in the backward).
 */
function linearActivationRecorded(x: Tensor, w: Tensor, b: Tensor | null, spec: ActivationSpec, act: ActivationCode, tf32: boolean): Tensor {
  const fn = 'linear';
  const shape = x.shape.slice();
  shape[shape.length - 1] = w.shape[0];
  const pre = prepareOutput(fn, null, shape, x, {});
  fill(pre, (temps) => linearInto(pre.out, x, w, b, [0, 0, 0], tf32, temps));
  try {
    const out = prepareOutput(fn, null, shape, x, {});
    const y = fill(out, () => {
      if (pre.out.size > 0) native().biasActivation(out.out, pre.out, null, act[0], act[1], act[2]);
    });
    return record(fn, y, [x, w, b, null], [x, w, pre.out], linearActivationGrad(x, w, spec));
  } finally {
    pre.out.dispose(); // the tape holds its own view
  }
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
  const tracked = needsGrad(ta, tb);
  if (tracked) checkRecordable(fn, o);
  const out = prepareOutput(fn, o.out, [...batch, M, N], ta, { a: ta, b: tb });
  const y = fill(out, (temps) => {
    const logical = (t: Tensor, l: typeof la): Logical => ({
      owner: t, shape: [...batch, ...l.dims], strides: [...broadcastStrides({ shape: l.lead, strides: l.leadStrides }, batch), ...l.strides], offset: t.offset,
    });
    gemmInto(out.out, out.out.shape, logical(ta, la), logical(tb, lb), null, [0, 0, 0], tf32, temps);
  });
  return tracked ? record(fn, y, [ta, tb], [ta, tb], matmulGrad(ta, tb, transA, transB)) : y;
}
