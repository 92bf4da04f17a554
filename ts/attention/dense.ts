// The two dense mechanisms, forward and backward. memory_efficient is one fused native
// kernel (tiles with an online softmax; the [Nq, Nk] matrix never exists), and its backward
// one native call from the saved log-sum-exp. vanilla materializes the scores the plain way
// — batched GEMM, fused scale + mask + softmax, batched GEMM — the baseline, and its
// backward goes back through the same GEMMs and the softmax backward.
import { native } from '../native';
import { empty, tensor, Tensor, tidy } from '../tensor';
import { fill } from '../ops/checks';
import { softmaxBackward } from '../ops/softmax_backward';
import { MAX_HEAD_DIM } from './limits';
import { lseFor, tiledTape } from './recorded';
import { AttentionDropout, AttentionGrads, AttentionInputs, AttentionMechanism, AttentionNeeds, AttentionPrecision } from './registry';

/**
 * options.precision as native().attention's last argument. The native side decodes these:
 * keep them equal to the addon's (the one place they are written in TypeScript).
 */
export const PRECISION_CODES: Readonly<Record<AttentionPrecision, number>> = { high: 0, highest: 1 };

/** The precisions attention() accepts. */
export const PRECISIONS = Object.keys(PRECISION_CODES) as readonly AttentionPrecision[];

/** The native precision code for these inputs: undefined (the native default) unless float32 with options.precision. */
export function precisionCode(inputs: AttentionInputs): number | undefined {
  return inputs.precision === undefined || inputs.q.dtype !== 'float32' ? undefined : PRECISION_CODES[inputs.precision];
}

/** The reason a tiled kernel cannot serve q's head dim, if it cannot. */
export function headDimReasons(inputs: AttentionInputs): string[] {
  const d = inputs.q.shape[3];
  return d > MAX_HEAD_DIM ? [`head dim ${d} is above ${MAX_HEAD_DIM}`] : [];
}

function commonReasons(inputs: AttentionInputs): string[] {
  const reasons: string[] = [];
  if (inputs.bias && inputs.bias.device !== inputs.q.device) reasons.push('bias is on another device');
  return reasons;
}

/** memory_efficient's kernel into `out`, writing the rows' log-sum-exp into `lse` where given. */
function denseInto(out: Tensor, inputs: AttentionInputs, lse: Tensor | null): void {
  const { q, k, v, scale, causal, mask, bias } = inputs;
  native().attention(out, q, k, v, mask, bias, scale, causal, null, precisionCode(inputs), lse, inputs.keyRanges ?? null);
}

export const memoryEfficient: AttentionMechanism = {
  supportsKeyRanges: true,
  supportsGroupedKV: true,
  notSupportedReasons(inputs) {
    return [...commonReasons(inputs), ...headDimReasons(inputs)];
  },
  forward(inputs) {
    const [B, Nq, H, D] = inputs.q.shape;
    const out = empty([B, Nq, H, D], { dtype: inputs.q.dtype, device: inputs.q.device });
    return fill({ out, given: false }, () => denseInto(out, inputs, null));
  },
  /** Saves q, k, v, out and the rows' log-sum-exp (never the [Nq, Nk] probabilities); the native backward recomputes them. */
  forwardWithGrad(inputs) {
    const [B, Nq, H, D] = inputs.q.shape;
    const out = empty([B, Nq, H, D], { dtype: inputs.q.dtype, device: inputs.q.device });
    const lse = lseFor(inputs.q);
    try {
      fill({ out, given: false }, () => denseInto(out, inputs, lse));
    } catch (e) {
      lse.dispose();
      throw e;
    }
    return tiledTape(inputs, out, lse, inputs.mask, () => null, precisionCode(inputs), inputs.keyRanges ?? null);
  },
  /** The native block computes unmasked memory_efficient attention (no option besides the scale). */
  blockPlan({ headDim, options }) {
    if (headDim > MAX_HEAD_DIM || Object.values(options).some((v) => v !== undefined)) return null;
    return { kind: 'dense' };
  },
};

/** Views [B, N, H, D] as [B*H, N, D] by copying it to [B, H, N, D]. */
function headsFirst(x: Tensor): Tensor {
  const [B, N, H, D] = x.shape;
  const copy = empty([B, H, N, D], { dtype: x.dtype, device: x.device });
  native().copy(copy, x.permute([0, 2, 1, 3]));
  return copy.reshape([B * H, N, D]);
}

/**
 * The mask of causal attention or of key ranges (options.attnBias) for vanilla, as a [B, H,
 * Nq, Nk] view: the keys [lo, hi) of each row (the lower triangle when causal: j <= i) built
 * once at [Nq, Nk] and broadcast over B and H when there is no other mask, else combined
 * with `mask` on the host.
 */
function ruleMask(inputs: AttentionInputs): Tensor {
  const [B, Nq, H] = inputs.q.shape;
  const Nk = inputs.k.shape[1];
  const device = inputs.q.device;
  const ranges = inputs.keyRanges ?? null;
  const lo = (i: number) => (ranges === null ? 0 : ranges[2 * i]);
  const hi = (i: number) => (ranges === null ? Math.min(i + 1, Nk) : ranges[2 * i + 1]);
  if (!inputs.mask) {
    const rule = new Uint8Array(Nq * Nk);
    for (let i = 0; i < Nq; i++) rule.fill(1, i * Nk + lo(i), i * Nk + hi(i));
    const t = tensor(rule, [Nq, Nk], { dtype: 'uint8', device });
    const view = t._view([B, H, Nq, Nk], [0, 0, Nk, 1]);
    t.dispose();
    return view;
  }
  const combined = new Uint8Array(B * H * Nq * Nk);
  const user = inputs.mask.dataSync();
  for (let i = 0; i < combined.length; i++) {
    const row = Math.floor(i / Nk) % Nq;
    const col = i % Nk;
    combined[i] = col >= lo(row) && col < hi(row) && user[i] !== 0 ? 1 : 0;
  }
  return tensor(combined, [B, H, Nq, Nk], { dtype: 'uint8', device });
}

/** x [B·H, N, D] (heads first) as a new [B, N, H, D] tensor. */
function headsLast(x: Tensor, B: number, H: number): Tensor {
  const [, N, D] = x.shape;
  const out = empty([B, N, H, D], { dtype: x.dtype, device: x.device });
  const x4 = x.reshape([B, H, N, D]);
  native().copy(out.permute([0, 2, 1, 3]), x4);
  x4.dispose();
  return out;
}

/** c = alpha · op(a) op(b) for heads-first batches, into a new [B·H, m, n] tensor. */
function gemm(a: Tensor, b: Tensor, transA: boolean, transB: boolean, alpha: number, m: number, n: number): Tensor {
  const c = empty([a.shape[0], m, n], { dtype: a.dtype, device: a.device });
  native().gemm(a, b, c, null, transA, transB, alpha, 0, 0, 0, false);
  return c;
}

/** vanilla's heads-first q, k, v [B·H, N, D] and its probabilities P = softmax(q kᵀ·scale + bias, masked) [B·H, Nq, Nk]. */
function probabilities(inputs: AttentionInputs): { qh: Tensor; kh: Tensor; vh: Tensor; probs: Tensor } {
  return tidy(() => {
    const { q, k, scale } = inputs;
    const [B, Nq, H] = q.shape;
    const Nk = k.shape[1];
    const qh = headsFirst(q);
    const kh = headsFirst(k);
    const vh = headsFirst(inputs.v);
    const probs = gemm(qh, kh, false, true, scale, Nq, Nk);
    const scores4 = probs.reshape([B, H, Nq, Nk]);
    if (inputs.bias) native().binary(scores4, scores4, inputs.bias.dtype === q.dtype ? inputs.bias : inputs.bias.cast(q.dtype), 0, 1);
    native().softmax(scores4, scores4, inputs.causal || inputs.keyRanges ? ruleMask(inputs) : inputs.mask, 1);
    return { qh, kh, vh, probs };
  });
}

/** P with inputs.dropout applied ([B·H, Nq, Nk] row-major, as AttentionInputs.dropout says): into P itself, or a new tensor. */
function dropped(probs: Tensor, drop: AttentionDropout, inPlace: boolean): Tensor {
  const out = inPlace ? probs : empty(probs.shape, { dtype: probs.dtype, device: probs.device });
  native().dropout(out, probs, drop.p, drop.seed, drop.offset, 1);
  return out;
}

export const vanilla: AttentionMechanism = {
  notSupportedReasons: commonReasons,
  supportsDropout: true,
  supportsKeyRanges: true,
  forward(inputs) {
    const [B, Nq, H, D] = inputs.q.shape;
    const out = empty([B, Nq, H, D], { dtype: inputs.q.dtype, device: inputs.q.device });
    return fill({ out, given: false }, () => tidy(() => {
      const { vh, probs } = probabilities(inputs);
      if (inputs.dropout) dropped(probs, inputs.dropout, true);
      const outHeads = gemm(probs, vh, false, false, 1, Nq, D);
      native().copy(out.permute([0, 2, 1, 3]), outHeads.reshape([B, H, Nq, D]));
    }));
  },
  /**
   * Saves the heads-first q, k, v and the probabilities P (vanilla keeps the [Nq, Nk] matrix by
   * design). The backward runs its GEMMs and softmax backward: dV = Pᵀ·dO, dP = dO·Vᵀ,
   * dS = softmaxBackward(dP, P), dQ = scale·dS·K, dK = scale·dSᵀ·Q, dbias = dS. With dropout,
   * P̃ = dropout(P) is made again from the draw where needed: dV = P̃ᵀ·dO, dP = dropout(dO·Vᵀ).
   */
  forwardWithGrad(inputs) {
    const [B, Nq, H, D] = inputs.q.shape;
    const { scale } = inputs;
    const drop = inputs.dropout ?? null;
    const { qh, kh, vh, probs } = probabilities(inputs);
    const saved = [qh, kh, vh, probs];
    try {
      const out = tidy(() => headsLast(gemm(drop ? dropped(probs, drop, false) : probs, vh, false, false, 1, Nq, D), B, H));
      return { out, saved, backward: (g, s, needs) => vanillaBackward(g, s, needs, scale, drop) };
    } catch (e) {
      for (const t of saved) t.dispose();
      throw e;
    }
  },
};

/** vanilla's gradients (forwardWithGrad says how) from the saved [qh, kh, vh, probs]. */
function vanillaBackward(g: Tensor, [qh, kh, vh, probs]: readonly Tensor[], needs: AttentionNeeds, scale: number, drop: AttentionDropout | null): AttentionGrads {
  const B = g.shape[0];
  const H = g.shape[2];
  const [, Nq, Nk] = probs.shape;
  const D = qh.shape[2];
  return tidy(() => {
    const gh = headsFirst(g);
    const dv = needs.v ? headsLast(gemm(drop ? dropped(probs, drop, false) : probs, gh, true, false, 1, Nk, D), B, H) : null;
    if (!needs.q && !needs.k && !needs.bias) return { dq: null, dk: null, dv, dbias: null };
    const dDropped = gemm(gh, vh, false, true, 1, Nq, Nk);
    const ds = softmaxBackward(drop ? dropped(dDropped, drop, true) : dDropped, probs);
    const dq = needs.q ? headsLast(gemm(ds, kh, false, false, scale, Nq, D), B, H) : null;
    const dk = needs.k ? headsLast(gemm(ds, qh, true, false, scale, Nk, D), B, H) : null;
    const dbias = needs.bias ? ds.reshape([B, H, Nq, Nk]) : null;
    return { dq, dk, dv, dbias };
  });
}
