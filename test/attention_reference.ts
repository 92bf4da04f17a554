// Float64 attention, written plainly: the reference both mechanisms are held against.

export interface AttentionCase {
  B: number; Nq: number; Nk: number; H: number; D: number;
  scale: number; causal: boolean;
  /** [B, H, Nq, Nk] materialized, 1 = attend, or null. */
  mask: ArrayLike<number> | null;
  /** [B, H, Nq, Nk] materialized, or null. */
  bias: ArrayLike<number> | null;
}

/** q [B, Nq, H, D], k and v [B, Nk, H, D] contiguous; returns out [B, Nq, H, D]. */
export function attentionReference(c: AttentionCase, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>): Float64Array {
  const { B, Nq, Nk, H, D } = c;
  const out = new Float64Array(B * Nq * H * D);
  const scores = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Nq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Nk; j++) {
          const mi = ((b * H + h) * Nq + i) * Nk + j;
          const allowed = !(c.causal && j > i) && (c.mask === null || c.mask[mi] !== 0);
          if (!allowed) { scores[j] = -Infinity; continue; }
          let dot = 0;
          const qo = ((b * Nq + i) * H + h) * D;
          const ko = ((b * Nk + j) * H + h) * D;
          for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
          scores[j] = dot * c.scale + (c.bias === null ? 0 : c.bias[mi]);
          if (scores[j] > max) max = scores[j];
        }
        const oo = ((b * Nq + i) * H + h) * D;
        if (max === -Infinity) continue; // no allowed key: zeros
        let sum = 0;
        for (let j = 0; j < Nk; j++) { scores[j] = Math.exp(scores[j] - max); sum += scores[j]; }
        for (let j = 0; j < Nk; j++) {
          const p = scores[j] / sum;
          if (p === 0) continue;
          const vo = ((b * Nk + j) * H + h) * D;
          for (let d = 0; d < D; d++) out[oo + d] += p * v[vo + d];
        }
      }
    }
  }
  return out;
}
