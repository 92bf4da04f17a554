// Float64 references written plainly, independent of the native code they check.

/** Rounds half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function floorLog2(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return e;
}

/** The value a float32 becomes in a float format with `mantissa` bits, exponent range [minExp, maxExp]. */
function roundToFormat(x: number, mantissa: number, minExp: number, maxFinite: number): number {
  const v = Math.fround(x);
  if (!Number.isFinite(v)) return v;
  if (v === 0) return v;
  const a = Math.abs(v);
  const e = Math.max(floorLog2(a), minExp);
  const quantum = 2 ** (e - mantissa);
  const r = roundHalfEven(a / quantum) * quantum;
  if (r > maxFinite) return Math.sign(v) * Infinity;
  return Math.sign(v) * r;
}

/** float32 → float16 with round to nearest even (overflow to Inf, NaN kept). */
export function roundToFloat16(x: number): number {
  return roundToFormat(x, 10, -14, 65504);
}

/** float32 → bfloat16 with round to nearest even. */
export function roundToBFloat16(x: number): number {
  return roundToFormat(x, 7, -126, 3.3895313892515355e38);
}

export function roundTo(dtype: string, x: number): number {
  if (dtype === 'float16') return roundToFloat16(x);
  if (dtype === 'bfloat16') return roundToBFloat16(x);
  if (dtype === 'float32') return Math.fround(x);
  return x;
}

// ---- ops references: float64 over the inputs as the test read them back ----------------

/**
 * erf in float64, good to a few ulps (well under 1e-15 absolute): the series
 * erf(x) = 2/√π · e^(−x²) · Σₙ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), whose terms are all positive
 * (no cancellation), for |x| < 6; ±1 beyond (erfc(6) ≈ 2e-17 is below float64's resolution at 1).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  let term = ax;
  let sum = ax;
  for (let n = 1; term > sum * 1e-18; n++) {
    term *= (2 * ax * ax) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
}

/**
 * erfc(z) in float64 for z >= 0: 1 - erf below 1 (erf is good to 1e-15 absolute, erfc(1) = 0.16),
 * the continued fraction e^(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...)))) above
 * (200 terms: full float64 from z = 1), relative to its own size where 1 + erf(-z) would keep
 * only an absolute 1e-16.
 */
export function erfc(z: number): number {
  if (z < 1) return 1 - erf(z);
  let f = z;
  for (let n = 200; n >= 1; n--) f = z + n / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

/** The standard normal CDF Phi(x), from erfc on either side so the tail x < 0 keeps its relative accuracy. */
export const normalCdf = (x: number) => (x < 0 ? 0.5 * erfc(-x / Math.SQRT2) : 1 - 0.5 * erfc(x / Math.SQRT2));

export interface ActivationParams { slope?: number; beta?: number; scale?: number; bias?: number }

/** One activation in float64; the same names and defaults as ts/ops/activation.ts, the formulas written out. */
export function activationRef(name: string, x: number, p: ActivationParams = {}): number {
  const relu = Math.max(x, 0);
  switch (name) {
    case 'none': return x;
    case 'relu': return relu;
    case 'gelu': return x * normalCdf(x);
    case 'gelu_tanh': return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    case 'leaky_relu': return x > 0 ? x : (p.slope ?? 0.01) * x;
    case 'squared_relu': return relu * relu;
    case 'smelu': {
      const beta = p.beta ?? 2;
      if (x >= beta) return x;
      if (x <= -beta) return 0;
      return ((x + beta) * (x + beta)) / (4 * beta);
    }
    case 'star_relu': return (p.scale ?? 0.8944) * relu * relu + (p.bias ?? -0.4472);
    default: throw new Error(`activationRef: unknown activation ${name}`);
  }
}

/** act(x + bias[c]) for x as rows of `cols`; bias null for none. */
export function biasActivationRef(x: ArrayLike<number>, cols: number, bias: ArrayLike<number> | null, name: string, p: ActivationParams = {}): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = activationRef(name, x[i] + (bias ? bias[i % cols] : 0), p);
  return out;
}

/** The mean (0 for rms) and 1 / √(var + eps) of the row of `cols` from x[o] (biased variance; rms: mean square). */
function rowStats(x: ArrayLike<number>, o: number, cols: number, eps: number, rms: boolean): { mean: number; rstd: number } {
  let mean = 0;
  if (!rms) {
    for (let c = 0; c < cols; c++) mean += x[o + c];
    mean /= cols;
  }
  let sq = 0;
  for (let c = 0; c < cols; c++) sq += (x[o + c] - mean) ** 2;
  return { mean, rstd: 1 / Math.sqrt(sq / cols + eps) };
}

/** LayerNorm (rms = false) or RMSNorm (rms = true) over rows of `cols`, biased variance. */
export function normRef(x: ArrayLike<number>, cols: number, weight: ArrayLike<number> | null, bias: ArrayLike<number> | null, eps: number, rms: boolean): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r * cols < x.length; r++) {
    const o = r * cols;
    const { mean, rstd: inv } = rowStats(x, o, cols, eps, rms);
    for (let c = 0; c < cols; c++) {
      out[o + c] = (x[o + c] - mean) * inv * (weight ? weight[c] : 1) + (bias ? bias[c] : 0);
    }
  }
  return out;
}

/** softmax(x · scale) over rows of `cols`, entries with keep(i) false dropped; a row with none kept gives zeros. */
export function softmaxRef(x: ArrayLike<number>, cols: number, scale: number, keep: ((i: number) => boolean) | null): Float64Array {
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += cols) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) if (!keep || keep(o + c)) max = Math.max(max, x[o + c] * scale);
    if (max === -Infinity) continue; // nothing kept: zeros
    let sum = 0;
    for (let c = 0; c < cols; c++) {
      const e = !keep || keep(o + c) ? Math.exp(x[o + c] * scale - max) : 0;
      out[o + c] = e;
      sum += e;
    }
    for (let c = 0; c < cols; c++) out[o + c] /= sum;
  }
  return out;
}

/** Row-major strides of a shape. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let n = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = n;
    n *= shape[i];
  }
  return s;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The index (one entry per dim) of row-major position `flat` in `shape`. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    index[i] = shape[i] === 0 ? 0 : flat % shape[i];
    flat = shape[i] === 0 ? 0 : Math.floor(flat / shape[i]);
  }
  return index;
}

/** numpy broadcasting of two shapes, aligned at the right. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`broadcastShape: [${a}] and [${b}] do not broadcast`);
    return da === 1 ? db : da;
  });
}

/** Row-major position in `shape` of the element that broadcasting reads for `index` (an index into a larger shape). */
export function broadcastOffset(index: readonly number[], shape: readonly number[]): number {
  const lead = index.length - shape.length;
  let offset = 0;
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1) offset += index[lead + i] * stride;
    stride *= shape[i];
  }
  return offset;
}

/** Strides (in row-major positions of `shape`) that read `shape` broadcast to `target`: 0 along broadcast dims. */
function broadcastReadStrides(shape: readonly number[], target: readonly number[]): number[] {
  const own = rowMajorStrides(shape);
  const lead = target.length - shape.length;
  return target.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]));
}

/** a (op) b·alpha with numpy broadcasting; returns the values and the broadcast shape. */
export function binaryRef(op: 'add' | 'sub' | 'mul', a: ArrayLike<number>, aShape: readonly number[], b: ArrayLike<number>, bShape: readonly number[], alpha = 1): { out: Float64Array; shape: number[] } {
  const shape = broadcastShape(aShape, bShape);
  const out = new Float64Array(numel(shape));
  const sa = broadcastReadStrides(aShape, shape);
  const sb = broadcastReadStrides(bShape, shape);
  const index = new Array<number>(shape.length).fill(0);
  let oa = 0;
  let ob = 0;
  for (let i = 0; i < out.length; i++) {
    const x = a[oa];
    const y = b[ob] * alpha;
    out[i] = op === 'add' ? x + y : op === 'sub' ? x - y : x * y;
    // Step the row-major index, carrying into outer dims.
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]++;
      oa += sa[d];
      ob += sb[d];
      if (index[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      index[d] = 0;
    }
  }
  return { out, shape };
}

/**
 * Batched matrix product with broadcast leading dims: a [..., M, K] (or [..., K, M] when
 * transA), b [..., K, N] (or [..., N, K] when transB), both row-major. Returns [...batch, M, N].
 */
export function matmulRef(a: ArrayLike<number>, aShape: readonly number[], b: ArrayLike<number>, bShape: readonly number[], transA = false, transB = false): { out: Float64Array; shape: number[] } {
  const ra = aShape.length;
  const rb = bShape.length;
  const [M, K] = transA ? [aShape[ra - 1], aShape[ra - 2]] : [aShape[ra - 2], aShape[ra - 1]];
  const N = transB ? bShape[rb - 2] : bShape[rb - 1];
  const aLead = aShape.slice(0, -2);
  const bLead = bShape.slice(0, -2);
  const batchShape = broadcastShape(aLead, bLead);
  const batch = numel(batchShape);
  const out = new Float64Array(batch * M * N);
  const aCols = aShape[ra - 1];
  const bCols = bShape[rb - 1];
  for (let t = 0; t < batch; t++) {
    const index = unravel(t, batchShape);
    const ao = broadcastOffset(index, aLead) * M * K;
    const bo = broadcastOffset(index, bLead) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a[ao + k * aCols + i] : a[ao + i * aCols + k];
          const bv = transB ? b[bo + j * bCols + k] : b[bo + k * bCols + j];
          s += av * bv;
        }
        out[(t * M + i) * N + j] = s;
      }
    }
  }
  return { out, shape: [...batchShape, M, N] };
}

/** act(x Wᵀ + bias): x rows [M, K], weight [N, K], bias [N] or null. */
export function linearRef(x: ArrayLike<number>, M: number, K: number, weight: ArrayLike<number>, N: number, bias: ArrayLike<number> | null, name = 'none', p: ActivationParams = {}): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[i * K + k] * weight[j * K + k];
      out[i * N + j] = activationRef(name, s + (bias ? bias[j] : 0), p);
    }
  }
  return out;
}

/** The mean over `dim` of a row-major tensor (NaN over an empty dim); returns the shape without `dim`. */
export function meanRef(x: ArrayLike<number>, shape: readonly number[], dim: number): { out: Float64Array; shape: number[] } {
  const outShape = shape.filter((_, i) => i !== dim);
  const out = new Float64Array(numel(outShape));
  const strides = rowMajorStrides(shape);
  for (let o = 0; o < out.length; o++) {
    const index = unravel(o, outShape);
    let base = 0;
    for (let i = 0, j = 0; i < shape.length; i++) if (i !== dim) base += index[j++] * strides[i];
    let s = 0;
    for (let k = 0; k < shape[dim]; k++) s += x[base + k * strides[dim]];
    out[o] = s / shape[dim];
  }
  return { out, shape: outShape };
}

/** Row-major tensors joined along `dim`. */
export function concatRef(parts: { data: ArrayLike<number>; shape: readonly number[] }[], dim: number): { out: Float64Array; shape: number[] } {
  const shape = [...parts[0].shape];
  shape[dim] = parts.reduce((s, p) => s + p.shape[dim], 0);
  const out = new Float64Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    const index = unravel(i, shape);
    let at = index[dim];
    let p = 0;
    while (at >= parts[p].shape[dim]) at -= parts[p++].shape[dim];
    const local = [...index];
    local[dim] = at;
    const strides = rowMajorStrides(parts[p].shape);
    out[i] = parts[p].data[local.reduce((s, v, d) => s + v * strides[d], 0)];
  }
  return { out, shape };
}

/** A row-major tensor with its dims reordered: out dim i is x's dim dims[i]. */
export function permuteRef(x: ArrayLike<number>, shape: readonly number[], dims: readonly number[]): { out: Float64Array; shape: number[] } {
  const outShape = dims.map((d) => shape[d]);
  const strides = rowMajorStrides(shape);
  const out = new Float64Array(x.length);
  for (let i = 0; i < out.length; i++) {
    const index = unravel(i, outShape);
    out[i] = x[index.reduce((s, v, j) => s + v * strides[dims[j]], 0)];
  }
  return { out, shape: outShape };
}

/**
 * The patch embedding as a direct convolution with kernel P and stride P: images
 * [B, C, H, W], weight [E, C, P, P], bias [E] or null → [B, (H/P)(W/P), E], patches row-major.
 */
export function patchEmbedRef(images: ArrayLike<number>, [B, C, H, W]: readonly number[], weight: ArrayLike<number>, E: number, bias: ArrayLike<number> | null, P: number): Float64Array {
  const gh = H / P;
  const gw = W / P;
  const out = new Float64Array(B * gh * gw * E);
  for (let b = 0; b < B; b++)
    for (let py = 0; py < gh; py++)
      for (let px = 0; px < gw; px++)
        for (let e = 0; e < E; e++) {
          let s = bias ? bias[e] : 0;
          for (let c = 0; c < C; c++)
            for (let ky = 0; ky < P; ky++)
              for (let kx = 0; kx < P; kx++) {
                s += images[((b * C + c) * H + py * P + ky) * W + px * P + kx] * weight[((e * C + c) * P + ky) * P + kx];
              }
          out[((b * gh + py) * gw + px) * E + e] = s;
        }
  return out;
}

// ---- backward references (issue 25): float64, the chain rule written out ---------------

/** d act(x) / dx in float64; at a kink, the side x ≤ 0 (ReLU's 0 at 0, as PyTorch's). */
export function activationGradRef(name: string, x: number, p: ActivationParams = {}): number {
  switch (name) {
    case 'none': return 1;
    case 'relu': return x > 0 ? 1 : 0;
    case 'gelu': return normalCdf(x) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    case 'gelu_tanh': {
      const k = Math.sqrt(2 / Math.PI);
      const t = Math.tanh(k * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
    }
    case 'leaky_relu': return x > 0 ? 1 : (p.slope ?? 0.01);
    case 'squared_relu': return x > 0 ? 2 * x : 0;
    case 'smelu': {
      const beta = p.beta ?? 2;
      if (x >= beta) return 1;
      if (x <= -beta) return 0;
      return (x + beta) / (2 * beta);
    }
    case 'star_relu': return x > 0 ? 2 * (p.scale ?? 0.8944) * x : 0;
    default: throw new Error(`activationGradRef: unknown activation ${name}`);
  }
}

/** out[c] = Σ over rows of x[r, c], x as rows of `cols`. */
export function sumRowsRef(x: ArrayLike<number>, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < x.length; i++) out[i % cols] += x[i];
  return out;
}

/** The gradients of biasActivationRef from dy: dx = dy · act′(x + bias), dbias = Σ_rows dx. */
export function biasActivationBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, cols: number, bias: ArrayLike<number> | null, name: string, p: ActivationParams = {}): { dx: Float64Array; dbias: Float64Array } {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = dy[i] * activationGradRef(name, x[i] + (bias ? bias[i % cols] : 0), p);
  return { dx, dbias: sumRowsRef(dx, cols) };
}

/** The gradients of normRef from dy: dx, dweight = Σ_rows dy · x̂, dbias = Σ_rows dy. */
export function normBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, cols: number, weight: ArrayLike<number> | null, eps: number, rms: boolean): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const dx = new Float64Array(x.length);
  const dweight = new Float64Array(cols);
  const dbias = new Float64Array(cols);
  const xhat = new Float64Array(cols);
  for (let o = 0; o < x.length; o += cols) {
    const { mean, rstd } = rowStats(x, o, cols, eps, rms);
    // out = x̂ · w + b with x̂ = (x − mean) · rstd: dL/dx̂ = g = dy · w, and
    // dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)) (layer), rstd · (g − x̂ · mean(g · x̂)) (rms).
    let meanG = 0;
    let meanGx = 0;
    for (let c = 0; c < cols; c++) {
      xhat[c] = (x[o + c] - mean) * rstd;
      const g = dy[o + c] * (weight ? weight[c] : 1);
      meanG += g;
      meanGx += g * xhat[c];
      dweight[c] += dy[o + c] * xhat[c];
      dbias[c] += dy[o + c];
    }
    meanG = rms ? 0 : meanG / cols;
    meanGx /= cols;
    for (let c = 0; c < cols; c++) dx[o + c] = rstd * (dy[o + c] * (weight ? weight[c] : 1) - meanG - xhat[c] * meanGx);
  }
  return { dx, dweight, dbias };
}

/** The gradient of softmaxRef from its output y and dy: dx = scale · y · (dy − Σ dy · y), 0 where dropped. */
export function softmaxBackwardRef(dy: ArrayLike<number>, y: ArrayLike<number>, cols: number, scale: number, keep: ((i: number) => boolean) | null): Float64Array {
  const dx = new Float64Array(y.length);
  for (let o = 0; o < y.length; o += cols) {
    let dot = 0;
    for (let c = 0; c < cols; c++) if (!keep || keep(o + c)) dot += dy[o + c] * y[o + c];
    for (let c = 0; c < cols; c++) dx[o + c] = !keep || keep(o + c) ? scale * y[o + c] * (dy[o + c] - dot) : 0;
  }
  return dx;
}

/**
 * The vector-Jacobian product dyᵀ · ∂f/∂x by central differences in float64, f a reference
 * forward of x (for checking the backward references themselves).
 */
export function finiteDifferenceVjp(f: (x: Float64Array) => Float64Array, x: ArrayLike<number>, dy: ArrayLike<number>, h = 1e-6): Float64Array {
  const xs = Float64Array.from(x);
  const grad = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const keep = xs[i];
    xs[i] = keep + h;
    const up = f(xs);
    xs[i] = keep - h;
    const down = f(xs);
    xs[i] = keep;
    let s = 0;
    for (let j = 0; j < up.length; j++) s += dy[j] * (up[j] - down[j]);
    grad[i] = s / (2 * h);
  }
  return grad;
}
