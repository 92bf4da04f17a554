// Float64 references for the low-rank and kernel mechanisms of the zoo (linformer, nystrom,
// favor, ortho, lambda, compositional), written plainly from the papers and xFormers'
// formulations: Float64Array loops, one (batch, head) at a time. Tensors are row-major.

/** A [B, N, H, D] tensor's values and shape. */
export interface Heads { data: ArrayLike<number>; shape: readonly number[] }

/** Row-major matrix: rows × cols. */
export interface Mat { rows: number; cols: number; v: Float64Array }

export const mat = (rows: number, cols: number, v = new Float64Array(rows * cols)): Mat => ({ rows, cols, v });

/** The (b, h) slice of a [B, N, H, D] tensor as an N × D matrix. */
export function head(x: Heads, b: number, h: number): Mat {
  const [, N, H, D] = x.shape;
  const m = mat(N, D);
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) m.v[n * D + d] = x.data[((b * N + n) * H + h) * D + d];
  return m;
}

/** Runs f on every (b, h) and writes its N × Dv results into a [B, N, H, Dv] array. */
export function perHead(B: number, N: number, H: number, Dv: number, f: (b: number, h: number) => Mat): Float64Array {
  const out = new Float64Array(B * N * H * Dv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const m = f(b, h);
      for (let n = 0; n < N; n++) for (let d = 0; d < Dv; d++) out[((b * N + n) * H + h) * Dv + d] = m.v[n * Dv + d];
    }
  }
  return out;
}

export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`reference matmul: ${a.rows}x${a.cols} @ ${b.rows}x${b.cols}`);
  const c = mat(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let k = 0; k < a.cols; k++) {
      const x = a.v[i * a.cols + k];
      for (let j = 0; j < b.cols; j++) c.v[i * b.cols + j] += x * b.v[k * b.cols + j];
    }
  }
  return c;
}

export function transpose(a: Mat): Mat {
  const t = mat(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t.v[j * a.rows + i] = a.v[i * a.cols + j];
  return t;
}

export const scaled = (a: Mat, s: number): Mat => mat(a.rows, a.cols, a.v.map((x) => x * s));

/** Softmax of each row (max-subtracted). */
export function softmaxRows(a: Mat): Mat {
  const r = mat(a.rows, a.cols);
  for (let i = 0; i < a.rows; i++) {
    let m = -Infinity;
    for (let j = 0; j < a.cols; j++) m = Math.max(m, a.v[i * a.cols + j]);
    let s = 0;
    for (let j = 0; j < a.cols; j++) s += (r.v[i * a.cols + j] = Math.exp(a.v[i * a.cols + j] - m));
    for (let j = 0; j < a.cols; j++) r.v[i * a.cols + j] /= s;
  }
  return r;
}

/** softmax(Q Kᵀ · scale) V. */
export function attend(q: Mat, k: Mat, v: Mat, scale: number): Mat {
  return matmul(softmaxRows(scaled(matmul(q, transpose(k)), scale)), v);
}

/** Linformer: softmax(Q (E K)ᵀ · scale) (F V) per head, E and F [k, ≥ N] (their first N columns). */
export function linformerRef(q: Heads, k: Heads, v: Heads, E: Mat, F: Mat, scale: number): Float64Array {
  const [B, N, H, D] = q.shape;
  const first = (p: Mat) => {
    const m = mat(p.rows, N);
    for (let r = 0; r < p.rows; r++) for (let n = 0; n < N; n++) m.v[r * N + n] = p.v[r * p.cols + n];
    return m;
  };
  const e = first(E);
  const f = first(F);
  return perHead(B, N, H, D, (b, h) => attend(head(q, b, h), matmul(e, head(k, b, h)), matmul(f, head(v, b, h)), scale));
}

/** Means of m consecutive row segments: the first m − (N mod m) of ⌊N/m⌋ rows, the rest of one more (xFormers' AvgPool). */
export function segmentMeansRef(x: Mat, m: number): Mat {
  const s = Math.floor(x.rows / m);
  const even = m - (x.rows % m);
  const out = mat(m, x.cols);
  let row = 0;
  for (let l = 0; l < m; l++) {
    const size = l < even ? s : s + 1;
    for (let r = row; r < row + size; r++) for (let d = 0; d < x.cols; d++) out.v[l * x.cols + d] += x.v[r * x.cols + d] / size;
    row += size;
  }
  return out;
}

/** Nyströmformer's iterative pseudo-inverse: Z₀ = kᵀ / max column sum, Z ← ¼ Z (13I − kZ (15I − kZ (7I − kZ))). */
export function pinvRef(k: Mat, iterations: number): Mat {
  const m = k.rows;
  let maxCol = 0;
  for (let j = 0; j < m; j++) {
    let c = 0;
    for (let i = 0; i < m; i++) c += k.v[i * m + j];
    maxCol = Math.max(maxCol, c);
  }
  let z = scaled(transpose(k), 1 / maxCol);
  const minus = (c: number, a: Mat) => mat(m, m, a.v.map((x, i) => (i % (m + 1) === 0 ? c : 0) - x));
  for (let it = 0; it < iterations; it++) {
    const kz = matmul(k, z);
    z = scaled(matmul(z, minus(13, matmul(kz, minus(15, matmul(kz, minus(7, kz)))))), 0.25);
  }
  return z;
}

/** Depthwise convolution along the rows of v (N × D) with an odd kernel w, zero padded, centred. */
export function sequenceConvRef(v: Mat, w: ArrayLike<number>): Mat {
  const c = (w.length - 1) / 2;
  const out = mat(v.rows, v.cols);
  for (let n = 0; n < v.rows; n++) {
    for (let t = 0; t < w.length; t++) {
      const src = n + t - c;
      if (src < 0 || src >= v.rows) continue;
      for (let d = 0; d < v.cols; d++) out.v[n * v.cols + d] += w[t] * v.v[src * v.cols + d];
    }
  }
  return out;
}

/**
 * Nyströmformer per head: softmax(Q K̃ᵀ s) pinv(softmax(Q̃ K̃ᵀ s)) softmax(Q̃ Kᵀ s) V with segment-mean
 * landmarks, exact attention when m ≥ N; plus the convolution skip of V by conv [H × kernel] where given.
 */
export function nystromRef(q: Heads, k: Heads, v: Heads, landmarks: number, iterations: number, scale: number, conv: Mat | null = null): Float64Array {
  const [B, N, H, D] = q.shape;
  return perHead(B, N, H, D, (b, h) => {
    const [qh, kh, vh] = [head(q, b, h), head(k, b, h), head(v, b, h)];
    let x: Mat;
    if (landmarks >= N) {
      x = attend(qh, kh, vh, scale);
    } else {
      const ql = segmentMeansRef(qh, landmarks);
      const kl = segmentMeansRef(kh, landmarks);
      const kernel1 = softmaxRows(scaled(matmul(qh, transpose(kl)), scale));
      const kernel2 = softmaxRows(scaled(matmul(ql, transpose(kl)), scale));
      const kernel3 = attend(ql, kh, vh, scale);
      x = matmul(matmul(kernel1, pinvRef(kernel2, iterations)), kernel3);
    }
    if (conv !== null) {
      const skip = sequenceConvRef(vh, conv.v.subarray(h * conv.cols, (h + 1) * conv.cols));
      x = mat(x.rows, x.cols, x.v.map((e, i) => e + skip.v[i]));
    }
    return x;
  });
}

/**
 * FAVOR+ per head with the feature matrix W (m × D, unscaled): φ(x) = exp(W x' − ‖x'‖²/2)/√m for
 * 'softmax', relu(W x') + 0.001 for 'relu', x' = x·D^(-1/4); out_i = φ(q_i)ᵀ Σ φ(k_n) v_nᵀ / φ(q_i)ᵀ Σ φ(k_n).
 */
export function favorRef(q: Heads, k: Heads, v: Heads, W: Mat, kernel: 'softmax' | 'relu'): Float64Array {
  const [B, N, H, D] = q.shape;
  const m = W.rows;
  const c = D ** -0.25;
  const phi = (x: Mat) => {
    const z = matmul(scaled(x, c), transpose(W));
    const out = mat(x.rows, m);
    for (let n = 0; n < x.rows; n++) {
      let sq = 0;
      for (let d = 0; d < D; d++) sq += (x.v[n * D + d] * c) ** 2;
      for (let j = 0; j < m; j++) {
        const zj = z.v[n * m + j];
        out.v[n * m + j] = kernel === 'softmax' ? Math.exp(zj - sq / 2) / Math.sqrt(m) : Math.max(zj, 0) + 1e-3;
      }
    }
    return out;
  };
  return perHead(B, N, H, D, (b, h) => {
    const pq = phi(head(q, b, h));
    const pk = phi(head(k, b, h));
    const num = matmul(pq, matmul(transpose(pk), head(v, b, h)));
    const ones = mat(N, 1, new Float64Array(N).fill(1));
    const den = matmul(pq, matmul(transpose(pk), ones));
    return mat(N, D, num.v.map((x, i) => x / den.v[Math.floor(i / D)]));
  });
}

/**
 * Orthoformer per head with the given random choices: among the candidate queries (samples, their
 * rows of Q), start from samples[first] and add the candidate whose largest |cosine| to the chosen
 * ones is smallest, until m; the landmarks L are the chosen rows in sample order (xFormers'
 * masked_select); then softmax(Q Lᵀ s) softmax(L Kᵀ s) V. m ≥ N: exact attention.
 */
export function orthoRef(q: Heads, k: Heads, v: Heads, draw: { samples: ArrayLike<number>[]; first: number[] }, m: number, scale: number): Float64Array {
  const [B, N, H, D] = q.shape;
  return perHead(B, N, H, D, (b, h) => {
    const [qh, kh, vh] = [head(q, b, h), head(k, b, h), head(v, b, h)];
    if (m >= N) return attend(qh, kh, vh, scale);
    const samples = draw.samples[b * H + h];
    const row = (i: number) => Array.from(qh.v.subarray(samples[i] * D, (samples[i] + 1) * D));
    const unit = Array.from(samples, (_, i) => {
      const x = row(i);
      const n = Math.max(Math.hypot(...x), 1e-12);
      return x.map((e) => e / n);
    });
    const cos = (i: number, c: number) => Math.abs(unit[i].reduce((s, e, d) => s + e * unit[c][d], 0));
    const chosen = [draw.first[b * H + h]];
    while (chosen.length < m) {
      let best = -1;
      let bestScore = Infinity;
      for (let i = 0; i < samples.length; i++) {
        if (chosen.includes(i)) continue;
        const score = Math.max(...chosen.map((c) => cos(i, c)));
        if (score < bestScore) [best, bestScore] = [i, score];
      }
      chosen.push(best);
    }
    const L = mat(m, D, Float64Array.from(chosen.sort((a, c) => a - c).flatMap(row)));
    return matmul(softmaxRows(scaled(matmul(qh, transpose(L)), scale)), attend(L, kh, vh, scale));
  });
}

/**
 * The lambda layer per head, as the paper writes it: y_n = q_nᵀ (λc + λp_n), λc = σ(K)ᵀ V with σ a
 * softmax over the positions, λp_n = Σ_m E_nm v_mᵀ, E_nm = R[m − n + c] (zero beyond ±c), R [r × D].
 */
export function lambdaRef(q: Heads, k: Heads, v: Heads, R: Mat): Float64Array {
  const [B, N, H, D] = q.shape;
  const c = (R.rows - 1) / 2;
  return perHead(B, N, H, D, (b, h) => {
    const [qh, kh, vh] = [head(q, b, h), head(k, b, h), head(v, b, h)];
    const content = matmul(softmaxRows(transpose(kh)), vh); // σ(K)ᵀ: each key channel a softmax over the positions
    const y = mat(N, D);
    for (let n = 0; n < N; n++) {
      const lambda = mat(D, D, content.v.slice());
      for (let m = 0; m < N; m++) {
        const j = m - n + c;
        if (j < 0 || j >= R.rows) continue;
        for (let a = 0; a < D; a++) for (let e = 0; e < D; e++) lambda.v[a * D + e] += R.v[j * D + a] * vh.v[m * D + e];
      }
      const yn = matmul(mat(1, D, qh.v.slice(n * D, (n + 1) * D)), lambda);
      y.v.set(yn.v, n * D);
    }
    return y;
  });
}

/** x W + b for every row of x (W given [out × in] as a linear layer keeps it). */
export function affineRef(x: Mat, W: Mat, b: ArrayLike<number> | null): Mat {
  const y = matmul(x, transpose(W));
  if (b) for (let i = 0; i < y.v.length; i++) y.v[i] += b[i % y.cols];
  return y;
}

/** Columns [start, start + width) of a matrix. */
export function columns(a: Mat, start: number, width: number): Mat {
  const m = mat(a.rows, width);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < width; j++) m.v[i * width + j] = a.v[i * a.cols + start + j];
  return m;
}

export interface AffineRef { W: Mat; b: ArrayLike<number> | null }

/**
 * Compositional attention for one sequence x [N × E], as Mittal et al. write it: searches
 * A_s = softmax(Q_s K_sᵀ scale) over S groups of the q, k projections, retrievals V_r over R
 * groups of the v projection, O_sr = A_s V_r, rule scores per token (qk_rule: q̄_s · k̄(O_sr) / √d_sel;
 * else the linear score of [O_sr, q̄_s]), out_s = Σ_r softmax_r(score) O_sr, then [out_s] W_o + b_o.
 */
export function compositionalRef(x: Mat, w: { q: AffineRef; k: AffineRef; v: AffineRef; selectionQuery: AffineRef; selectionKey: AffineRef | null; score: AffineRef | null; out: AffineRef | null },
  S: number, R: number, ds: number, qkRule: boolean, scale: number): Mat {
  const [q, k, v, qbar] = [w.q, w.k, w.v, w.selectionQuery].map((a) => affineRef(x, a.W, a.b));
  const N = x.rows;
  const dh = q.cols / S;
  const dv = v.cols / R;
  const parts: Mat[] = [];
  for (let s = 0; s < S; s++) {
    const search = softmaxRows(scaled(matmul(columns(q, s * dh, dh), transpose(columns(k, s * dh, dh))), scale));
    const retrieved = Array.from({ length: R }, (_, r) => matmul(search, columns(v, r * dv, dv)));
    const qs = columns(qbar, s * ds, ds);
    const scores = mat(N, R); // token × rule
    retrieved.forEach((o, r) => {
      for (let n = 0; n < N; n++) {
        const on = mat(1, dv, o.v.slice(n * dv, (n + 1) * dv));
        const qn = qs.v.subarray(n * ds, (n + 1) * ds);
        let sc = 0;
        if (qkRule) {
          const kn = affineRef(on, w.selectionKey!.W, w.selectionKey!.b);
          for (let d = 0; d < ds; d++) sc += qn[d] * kn.v[d];
          sc /= Math.sqrt(ds);
        } else {
          const joined = mat(1, dv + ds, Float64Array.from([...on.v, ...qn]));
          sc = affineRef(joined, w.score!.W, w.score!.b).v[0];
        }
        scores.v[n * R + r] = sc;
      }
    });
    const rule = softmaxRows(scores);
    const out = mat(N, dv);
    for (let n = 0; n < N; n++) for (let r = 0; r < R; r++) for (let d = 0; d < dv; d++) out.v[n * dv + d] += rule.v[n * R + r] * retrieved[r].v[n * dv + d];
    parts.push(out);
  }
  const merged = mat(N, S * dv);
  for (let n = 0; n < N; n++) parts.forEach((p, s) => merged.v.set(p.v.subarray(n * dv, (n + 1) * dv), n * S * dv + s * dv));
  return w.out ? affineRef(merged, w.out.W, w.out.b) : merged;
}
