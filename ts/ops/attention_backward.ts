// The gradients of attention (internal: the autograd tape calls them through the mechanisms
// in ts/attention): the native backward recomputes the probabilities from the forward's
// saved log-sum-exp (AttentionBackwardParams and SparseAttentionBackwardParams in
// native/core/ops.h say what each computes).
import { rangeError } from '../errors';
import { native, NativeBlockPlan, NativeSparsePlan } from '../native';
import { checkTensor, emptyFor, Tensor } from '../tensor';
import { shapeString } from './checks';
import { checkGradient, fillGrads } from './backward_checks';

/** What a forward kept for its backward: q [B, Nq, H, D], k and v [B, Nk, Hkv, D], its output and its lse (float32 [B, H, Nq]). */
export interface SavedAttention { q: Tensor; k: Tensor; v: Tensor; out: Tensor; lse: Tensor }

export interface AttentionGradsOut { dq: Tensor; dk: Tensor; dv: Tensor; dbias: Tensor | null }

export interface AttentionBackwardOptions {
  scale: number;
  causal: boolean;
  /** The forward's mask and bias, as it read them: [B, H, Nq, Nk] views (stride 0 where broadcast), or null. */
  mask: Tensor | null;
  bias: Tensor | null;
  /** The forward's block plan (a layout, or a sparse mask's tile lists), or null. */
  plan: NativeBlockPlan | null;
  /** The forward's native precision code, or undefined. */
  precision?: number;
  /** The forward's key ranges (AttentionInputs.keyRanges), or null. */
  keyRanges?: Int32Array | null;
  /** Also compute dbias, float32 [B, H, Nq, Nk] (the caller sums it to the bias's shape). */
  biasGrad: boolean;
}

/** dout checked against out, the saved tensors live; dout as the kernels read it (unit stride along D). */
function checkInputs(fn: string, dout: unknown, s: SavedAttention, temps: Tensor[]): Tensor {
  for (const name of ['q', 'k', 'v', 'out', 'lse'] as const) checkTensor(fn, name, s[name]);
  const g = checkGradient(fn, 'dout', dout, s.out, 'out');
  const [B, Nq, H] = s.q.shape;
  if (s.lse.dtype !== 'float32' || s.lse.rank !== 3 || s.lse.shape[0] !== B || s.lse.shape[1] !== H || s.lse.shape[2] !== Nq) {
    throw rangeError(fn, `lse must be float32 [B, H, Nq] = ${shapeString([B, H, Nq])}, got ${shapeString(s.lse.shape)} ${s.lse.dtype}`);
  }
  if (g.strides[3] === 1) return g;
  const c = g._contiguous();
  temps.push(c);
  return c;
}

function gradsLike(fn: string, s: SavedAttention): [Tensor, Tensor, Tensor] {
  return [emptyFor(fn, s.q.shape, s.q.dtype, s.q.device), emptyFor(fn, s.k.shape, s.q.dtype, s.q.device), emptyFor(fn, s.v.shape, s.q.dtype, s.q.device)];
}

/**
 * The gradients of out = attention(q, k, v, mask, bias, scale, causal) (memory_efficient,
 * block_sparse, sparse's block path) from dout = dL/dout: dq, dk, dv of q's, k's, v's shapes
 * (new contiguous tensors), and dbias (float32 [B, H, Nq, Nk]) when options.biasGrad. A row
 * with no allowed key gets zero gradients.
 */
export function attentionBackward(dout: Tensor, saved: SavedAttention, options: AttentionBackwardOptions): AttentionGradsOut {
  const fn = 'attentionBackward';
  const temps: Tensor[] = [];
  try {
    const g = checkInputs(fn, dout, saved, temps);
    const [dq, dk, dv] = gradsLike(fn, saved);
    const [B, Nq, H] = saved.q.shape;
    const dbias = options.biasGrad ? emptyFor(fn, [B, H, Nq, saved.k.shape[1]], 'float32', saved.q.device) : null;
    const { q, k, v, out, lse } = saved;
    const { mask, bias, scale, causal, plan, precision, keyRanges = null } = options;
    return fillGrads([dq, dk, dv, dbias], { dq, dk, dv, dbias }, () => precision === undefined && keyRanges === null
      ? native().attentionBackward(dq, dk, dv, dbias, g, q, k, v, out, lse, mask, bias, scale, causal, plan)
      : native().attentionBackward(dq, dk, dv, dbias, g, q, k, v, out, lse, mask, bias, scale, causal, plan, precision, keyRanges));
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** The gradients of out = sparseAttention over `plan` (the CSR path) from dout: dq, dk, dv as attentionBackward's. */
export function sparseAttentionBackward(dout: Tensor, saved: SavedAttention, plan: NativeSparsePlan, scale: number): Omit<AttentionGradsOut, 'dbias'> {
  const fn = 'sparseAttentionBackward';
  const temps: Tensor[] = [];
  try {
    const g = checkInputs(fn, dout, saved, temps);
    const [dq, dk, dv] = gradsLike(fn, saved);
    const { q, k, v, out, lse } = saved;
    return fillGrads([dq, dk, dv], { dq, dk, dv }, () => native().sparseAttentionBackward(dq, dk, dv, g, q, k, v, out, lse, plan, scale));
  } finally {
    for (const t of temps) t.dispose();
  }
}
