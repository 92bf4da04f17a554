// float64 references of the training kit (issue 25): the cross-entropy loss and its gradient
// as PyTorch defines them, patchEmbed's gradients, and the norm of many tensors. Written
// plainly, the chain rule spelled out; test/ops/*.test.ts hold the kernels against them.

/** What a row's label makes it: ignored, counted (a class in [0, C)), or out of range. */
function rowKind(label: number, classes: number, ignoreIndex: number): 'ignored' | 'counted' | 'bad' {
  if (label === ignoreIndex) return 'ignored';
  return label >= 0 && label < classes ? 'counted' : 'bad';
}

function logSumExp(x: ArrayLike<number>, base: number, C: number): number {
  let m = -Infinity;
  for (let c = 0; c < C; c++) m = Math.max(m, x[base + c]);
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (let c = 0; c < C; c++) s += Math.exp(x[base + c] - m);
  return m + Math.log(s);
}

export interface CrossEntropyRefOptions { smoothing?: number; ignoreIndex?: number }

/**
 * PyTorch's cross_entropy(logits [rows, C], labels, label_smoothing, ignore_index) per row
 * (0 where ignored, NaN where the label is out of range), each row's log-sum-exp, and the rows
 * counted: mean = Σ rows / counted.
 */
export function crossEntropyRef(logits: ArrayLike<number>, labels: ArrayLike<number>, C: number, o: CrossEntropyRefOptions = {}): { rows: Float64Array; lse: Float64Array; counted: number } {
  const eps = o.smoothing ?? 0;
  const ignoreIndex = o.ignoreIndex ?? -100;
  const n = labels.length;
  const rows = new Float64Array(n);
  const lse = new Float64Array(n);
  let counted = 0;
  for (let r = 0; r < n; r++) {
    const base = r * C;
    lse[r] = logSumExp(logits, base, C);
    const kind = rowKind(labels[r], C, ignoreIndex);
    if (kind === 'ignored') continue;
    counted++;
    if (kind === 'bad') {
      rows[r] = NaN;
      continue;
    }
    // (1 − ε)·(−log p_y) + (ε / C)·Σ_c (−log p_c)
    let smooth = 0;
    for (let c = 0; c < C; c++) smooth += lse[r] - logits[base + c];
    rows[r] = (1 - eps) * (lse[r] - logits[base + labels[r]]) + (eps / C) * smooth;
  }
  return { rows, lse, counted };
}

/** d loss / d logits for the loss's gradient g: one per row (none) or one number (mean, sum). */
export function crossEntropyBackwardRef(logits: ArrayLike<number>, labels: ArrayLike<number>, C: number, g: ArrayLike<number> | number, reduction: 'none' | 'mean' | 'sum', o: CrossEntropyRefOptions = {}): Float64Array {
  const eps = o.smoothing ?? 0;
  const ignoreIndex = o.ignoreIndex ?? -100;
  const { lse, counted } = crossEntropyRef(logits, labels, C, o);
  const d = new Float64Array(labels.length * C);
  for (let r = 0; r < labels.length; r++) {
    const kind = rowKind(labels[r], C, ignoreIndex);
    if (kind === 'ignored') continue;
    let gr = typeof g === 'number' ? g : g[r];
    if (reduction === 'mean') gr /= counted;
    for (let c = 0; c < C; c++) {
      const target = (c === labels[r] ? 1 - eps : 0) + eps / C;
      d[r * C + c] = kind === 'bad' ? NaN : (Math.exp(logits[r * C + c] - lse[r]) - target) * gr;
    }
  }
  return d;
}

/**
 * patchEmbed's gradients from g [B, patches, E]: dimages [B, C, H, W], dweight [E, C, P, P],
 * dbias [E], each element a sum over the convolution's uses of it.
 */
export function patchEmbedBackwardRef(g: ArrayLike<number>, images: ArrayLike<number>, [B, C, H, W]: readonly number[], weight: ArrayLike<number>, E: number, P: number): { dimages: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const gh = H / P;
  const gw = W / P;
  const dimages = new Float64Array(B * C * H * W);
  const dweight = new Float64Array(E * C * P * P);
  const dbias = new Float64Array(E);
  for (let b = 0; b < B; b++)
    for (let py = 0; py < gh; py++)
      for (let px = 0; px < gw; px++)
        for (let e = 0; e < E; e++) {
          const ge = g[((b * gh + py) * gw + px) * E + e];
          dbias[e] += ge;
          for (let c = 0; c < C; c++)
            for (let ky = 0; ky < P; ky++)
              for (let kx = 0; kx < P; kx++) {
                const i = ((b * C + c) * H + py * P + ky) * W + px * P + kx;
                const k = ((e * C + c) * P + ky) * P + kx;
                dimages[i] += ge * weight[k];
                dweight[k] += ge * images[i];
              }
        }
  return { dimages, dweight, dbias };
}

/** The p-norm (Infinity: max |x|, NaN kept) of every element of `parts` as one vector. */
export function globalNormRef(parts: ArrayLike<number>[], p: number): number {
  let acc = 0;
  for (const a of parts) {
    for (let i = 0; i < a.length; i++) {
      const v = Math.abs(a[i]);
      if (p === Infinity) acc = Number.isNaN(acc) || Number.isNaN(v) ? NaN : Math.max(acc, v);
      else acc += v ** p;
    }
  }
  return p === Infinity ? acc : acc ** (1 / p);
}
