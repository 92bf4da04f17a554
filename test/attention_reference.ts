// Float64 attention, written plainly: the reference both mechanisms are held against.

export interface AttentionCase {
  B: number; Nq: number; Nk: number; H: number; D: number;
  /** k's and v's heads (grouped-query attention: query head h reads kv head h / (H / Hkv)); default H. */
  Hkv?: number;
  scale: number; causal: boolean;
  /** [B, H, Nq, Nk] materialized, 1 = attend, or null. */
  mask: ArrayLike<number> | null;
  /** [B, H, Nq, Nk] materialized, or null. */
  bias: ArrayLike<number> | null;
  /** [Nq, Nk], 1 = attend, shared by every batch and head (an attention bias made dense), with the mask; or absent. */
  sharedMask?: ArrayLike<number> | null;
}

/** The offset of key j's row for query head h in a contiguous k or v [B, Nk, Hkv, D]. */
function kvAt(c: AttentionCase, b: number, j: number, h: number): number {
  const Hkv = c.Hkv ?? c.H;
  return ((b * c.Nk + j) * Hkv + Math.floor(h / (c.H / Hkv))) * c.D;
}

/** q [B, Nq, H, D], k and v [B, Nk, Hkv, D] contiguous; returns out [B, Nq, H, D]. */
export function attentionReference(c: AttentionCase, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>): Float64Array {
  const { B, Nq, Nk, H, D } = c;
  const out = new Float64Array(B * Nq * H * D);
  forEachRow(c, q, k, (b, h, i, scores) => {
    let max = -Infinity;
    for (let j = 0; j < Nk; j++) if (scores[j] > max) max = scores[j];
    const oo = ((b * Nq + i) * H + h) * D;
    if (max === -Infinity) return; // no allowed key: zeros
    let sum = 0;
    for (let j = 0; j < Nk; j++) { scores[j] = Math.exp(scores[j] - max); sum += scores[j]; }
    for (let j = 0; j < Nk; j++) {
      const p = scores[j] / sum;
      if (p === 0) continue;
      const vo = kvAt(c, b, j, h);
      for (let d = 0; d < D; d++) out[oo + d] += p * v[vo + d];
    }
  });
  return out;
}

/** The float64 row log-sum-exp [B, H, Nq] of attentionReference's case: -Infinity for a row with no allowed key. */
export function lseReference(c: AttentionCase, q: ArrayLike<number>, k: ArrayLike<number>): Float64Array {
  const { B, Nq, Nk, H } = c;
  const lse = new Float64Array(B * H * Nq);
  forEachRow(c, q, k, (b, h, i, scores) => {
    let max = -Infinity;
    for (let j = 0; j < Nk; j++) max = Math.max(max, scores[j]);
    let sum = 0;
    if (max > -Infinity) for (let j = 0; j < Nk; j++) sum += Math.exp(scores[j] - max);
    lse[(b * H + h) * Nq + i] = max === -Infinity ? -Infinity : max + Math.log(sum);
  });
  return lse;
}

/** The float64 scores of each row (b, h, i): scale q_i . k_j + bias, -Infinity where not allowed. */
function forEachRow(c: AttentionCase, q: ArrayLike<number>, k: ArrayLike<number>, fn: (b: number, h: number, i: number, scores: Float64Array) => void): void {
  const { B, Nq, Nk, H, D } = c;
  const scores = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Nq; i++) {
        for (let j = 0; j < Nk; j++) {
          const mi = ((b * H + h) * Nq + i) * Nk + j;
          if ((c.causal && j > i) || (c.mask !== null && c.mask[mi] === 0) || (c.sharedMask && c.sharedMask[i * Nk + j] === 0)) { scores[j] = -Infinity; continue; }
          let dot = 0;
          const ko = kvAt(c, b, j, h);
          for (let d = 0; d < D; d++) dot += q[((b * Nq + i) * H + h) * D + d] * k[ko + d];
          scores[j] = dot * c.scale + (c.bias === null ? 0 : c.bias[mi]);
        }
        fn(b, h, i, scores);
      }
    }
  }
}

/**
 * The float64 gradients of attentionReference from dO [B, Nq, H, D]: dq, dk, dv in q's, k's,
 * v's layouts (dk and dv summed over the query heads of a kv head) and dbias [B, H, Nq, Nk] (dS; 0 where not allowed). P is exact here, delta_i = dO_i . O_i
 * from the exact O: what a backward from a float32 forward approximates.
 */
export function attentionBackwardReference(c: AttentionCase, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dO: ArrayLike<number>) {
  const { B, Nq, Nk, H, D } = c;
  const Hkv = c.Hkv ?? H;
  const dq = new Float64Array(B * Nq * H * D), dk = new Float64Array(B * Nk * Hkv * D), dv = new Float64Array(B * Nk * Hkv * D);
  const dbias = new Float64Array(B * H * Nq * Nk);
  const p = new Float64Array(Nk), dp = new Float64Array(Nk);
  forEachRow(c, q, k, (b, h, i, scores) => {
    let max = -Infinity;
    for (let j = 0; j < Nk; j++) max = Math.max(max, scores[j]);
    if (max === -Infinity) return; // no allowed key: zero gradients
    let sum = 0;
    for (let j = 0; j < Nk; j++) { p[j] = Math.exp(scores[j] - max); sum += p[j]; }
    const qo = ((b * Nq + i) * H + h) * D;
    let delta = 0;
    for (let j = 0; j < Nk; j++) {
      p[j] /= sum;
      const vo = kvAt(c, b, j, h);
      dp[j] = 0;
      for (let d = 0; d < D; d++) dp[j] += dO[qo + d] * v[vo + d];
      delta += p[j] * dp[j]; // = dO_i . O_i
    }
    for (let j = 0; j < Nk; j++) {
      if (p[j] === 0) continue;
      const ds = p[j] * (dp[j] - delta);
      const ko = kvAt(c, b, j, h);
      for (let d = 0; d < D; d++) {
        dv[ko + d] += p[j] * dO[qo + d];
        dk[ko + d] += c.scale * ds * q[qo + d];
        dq[qo + d] += c.scale * ds * k[ko + d];
      }
      dbias[((b * H + h) * Nq + i) * Nk + j] = ds;
    }
  });
  return { dq, dk, dv, dbias };
}
