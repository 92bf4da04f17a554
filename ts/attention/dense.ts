// The two dense mechanisms. memory_efficient is one fused native kernel (tiles with an
// online softmax; the [Nq, Nk] matrix never exists). vanilla materializes the scores the
// plain way — batched GEMM, fused scale + mask + softmax, batched GEMM — the baseline.
import { native } from '../native';
import { empty, tensor, Tensor, tidy } from '../tensor';
import { fill } from '../ops/checks';
import { MAX_HEAD_DIM } from './limits';
import { AttentionInputs, AttentionMechanism, AttentionPrecision } from './registry';

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

export const memoryEfficient: AttentionMechanism = {
  notSupportedReasons(inputs) {
    return [...commonReasons(inputs), ...headDimReasons(inputs)];
  },
  forward(inputs) {
    const { q, k, v, scale, causal, mask, bias } = inputs;
    const [B, Nq, H, D] = q.shape;
    const out = empty([B, Nq, H, D], { dtype: q.dtype, device: q.device });
    const precision = precisionCode(inputs);
    return fill({ out, given: false }, () => precision === undefined
      ? native().attention(out, q, k, v, mask, bias, scale, causal)
      : native().attention(out, q, k, v, mask, bias, scale, causal, undefined, precision));
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
 * The mask of causal attention for vanilla, as a [B, H, Nq, Nk] view: the lower triangle
 * (key j allowed for query i iff j <= i) built once at [Nq, Nk] and broadcast over B and H
 * when there is no other mask, else combined with `mask` on the host.
 */
function causalMask(inputs: AttentionInputs): Tensor {
  const [B, Nq, H] = inputs.q.shape;
  const Nk = inputs.k.shape[1];
  const device = inputs.q.device;
  if (!inputs.mask) {
    const tril = new Uint8Array(Nq * Nk);
    for (let i = 0; i < Nq; i++) tril.fill(1, i * Nk, i * Nk + Math.min(i + 1, Nk));
    const t = tensor(tril, [Nq, Nk], { dtype: 'uint8', device });
    const view = t._view([B, H, Nq, Nk], [0, 0, Nk, 1]);
    t.dispose();
    return view;
  }
  const combined = new Uint8Array(B * H * Nq * Nk);
  const user = inputs.mask.dataSync();
  for (let i = 0; i < combined.length; i++) {
    const row = Math.floor(i / Nk) % Nq;
    const col = i % Nk;
    combined[i] = col <= row && user[i] !== 0 ? 1 : 0;
  }
  return tensor(combined, [B, H, Nq, Nk], { dtype: 'uint8', device });
}

export const vanilla: AttentionMechanism = {
  notSupportedReasons: commonReasons,
  supportsDropout: true,
  forward(inputs) {
    const { q, k, v, scale } = inputs;
    const [B, Nq, H, D] = q.shape;
    const Nk = k.shape[1];
    const out = empty([B, Nq, H, D], { dtype: q.dtype, device: q.device });
    return fill({ out, given: false }, () => tidy(() => {
      const qh = headsFirst(q);
      const kh = headsFirst(k);
      const vh = headsFirst(v);
      const scores = empty([B * H, Nq, Nk], { dtype: q.dtype, device: q.device });
      native().gemm(qh, kh, scores, null, false, true, scale, 0, 0, 0, false);
      const scores4 = scores.reshape([B, H, Nq, Nk]);
      if (inputs.bias) native().binary(scores4, scores4, inputs.bias.dtype === q.dtype ? inputs.bias : inputs.bias.cast(q.dtype), 0, 1);
      const mask = inputs.causal ? causalMask(inputs) : inputs.mask;
      native().softmax(scores4, scores4, mask, 1);
      // Dropout on the probabilities, in place ([B, H, Nq, Nk] row-major, as AttentionInputs.dropout says).
      const drop = inputs.dropout;
      if (drop) native().dropout(scores4, scores4, drop.p, drop.seed, drop.offset, 1);
      const outHeads = empty([B * H, Nq, D], { dtype: q.dtype, device: q.device });
      native().gemm(scores, vh, outHeads, null, false, false, 1, 0, 0, 0, false);
      native().copy(out.permute([0, 2, 1, 3]), outHeads.reshape([B, H, Nq, D]));
    }));
  },
};
