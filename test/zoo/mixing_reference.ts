// float64 references of the token-mixing ops and mechanisms (issue 26), written plainly from
// PyTorch's definitions (Conv2d with groups = C, AvgPool2d) and the papers (PoolFormer, VAN,
// FNet), channels last: an image [B, H, W, C] is x[((b·H + y)·W + x)·C + c]. The gradients are
// the scatter form (each output spreads its gradient over what it read), the adjoint of the
// forward loop as written, not the kernels' gathers.

/** A window as the ops resolve it: [height, width] each. */
export interface WindowRef {
  kernel: [number, number];
  padding: [number, number];
  dilation: [number, number];
  stride: [number, number];
}

/** [Ho, Wo] of the window over an [H, W] image. */
export function outputSize(H: number, W: number, w: WindowRef): [number, number] {
  const extent = (n: number, a: 0 | 1) => Math.floor((n + 2 * w.padding[a] - w.dilation[a] * (w.kernel[a] - 1) - 1) / w.stride[a]) + 1;
  return [extent(H, 0), extent(W, 1)];
}

/**
 * Calls fn(outIndex, inIndex, tap) for every output pixel (b, yo, xo), tap (i, j) inside the
 * image, and channel c, with the flat indices of the output and input elements.
 */
function forEachTap(shape: readonly number[], w: WindowRef, fn: (out: number, inp: number, tap: number, c: number, yo: number, xo: number) => void): void {
  const [B, H, W, C] = shape;
  const [Ho, Wo] = outputSize(H, W, w);
  for (let b = 0; b < B; b++)
    for (let yo = 0; yo < Ho; yo++)
      for (let xo = 0; xo < Wo; xo++)
        for (let i = 0; i < w.kernel[0]; i++)
          for (let j = 0; j < w.kernel[1]; j++) {
            const y = yo * w.stride[0] - w.padding[0] + i * w.dilation[0];
            const x = xo * w.stride[1] - w.padding[1] + j * w.dilation[1];
            if (y < 0 || y >= H || x < 0 || x >= W) continue;
            for (let c = 0; c < C; c++) fn(((b * Ho + yo) * Wo + xo) * C + c, ((b * H + y) * W + x) * C + c, i * w.kernel[1] + j, c, yo, xo);
          }
}

/** depthwiseConv2d: out[b, yo, xo, c] = bias[c] + Σ weight[c, 0, i, j] · x[b, y, x, c]. */
export function depthwiseConv2dRef(x: ArrayLike<number>, shape: readonly number[], weight: ArrayLike<number>, bias: ArrayLike<number> | null, w: WindowRef): Float64Array {
  const [B, H, W, C] = shape;
  const [Ho, Wo] = outputSize(H, W, w);
  const K = w.kernel[0] * w.kernel[1];
  const out = new Float64Array(B * Ho * Wo * C);
  if (bias) for (let o = 0; o < out.length; o++) out[o] = bias[o % C];
  forEachTap(shape, w, (o, i, tap, c) => { out[o] += weight[c * K + tap] * x[i]; });
  return out;
}

/** The gradients of depthwiseConv2dRef from dy: dx, dweight [C, 1, kh, kw], dbias [C]. */
export function depthwiseConv2dBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, shape: readonly number[], weight: ArrayLike<number>, w: WindowRef) {
  const C = shape[3];
  const K = w.kernel[0] * w.kernel[1];
  const dx = new Float64Array(x.length);
  const dweight = new Float64Array(C * K);
  const dbias = new Float64Array(C);
  for (let o = 0; o < dy.length; o++) dbias[o % C] += dy[o];
  forEachTap(shape, w, (o, i, tap, c) => {
    dx[i] += dy[o] * weight[c * K + tap];
    dweight[c * K + tap] += dy[o] * x[i];
  });
  return { dx, dweight, dbias };
}

/** The divisor of each output pixel [Ho·Wo] of an average pooling (dilation 1). */
function poolCounts(H: number, W: number, w: WindowRef, countIncludePad: boolean): Float64Array {
  const [Ho, Wo] = outputSize(H, W, w);
  const counts = new Float64Array(Ho * Wo);
  for (let yo = 0; yo < Ho; yo++)
    for (let xo = 0; xo < Wo; xo++) {
      let n = 0;
      for (let i = 0; i < w.kernel[0]; i++)
        for (let j = 0; j < w.kernel[1]; j++) {
          const y = yo * w.stride[0] - w.padding[0] + i, x = xo * w.stride[1] - w.padding[1] + j;
          if (countIncludePad || (y >= 0 && y < H && x >= 0 && x < W)) n++;
        }
      counts[yo * Wo + xo] = n;
    }
  return counts;
}

/** avgPool2d: the mean over each window (count_include_pad as PyTorch's). */
export function avgPool2dRef(x: ArrayLike<number>, shape: readonly number[], w: WindowRef, countIncludePad: boolean): Float64Array {
  const [B, H, W, C] = shape;
  const [Ho, Wo] = outputSize(H, W, w);
  const counts = poolCounts(H, W, w, countIncludePad);
  const out = new Float64Array(B * Ho * Wo * C);
  forEachTap(shape, w, (o, i, _tap, _c, yo, xo) => { out[o] += x[i] / counts[yo * Wo + xo]; });
  return out;
}

/** The gradient of avgPool2dRef from dy. */
export function avgPool2dBackwardRef(dy: ArrayLike<number>, shape: readonly number[], w: WindowRef, countIncludePad: boolean): Float64Array {
  const [B, H, W, C] = shape;
  const [, Wo] = outputSize(H, W, w);
  const counts = poolCounts(H, W, w, countIncludePad);
  const dx = new Float64Array(B * H * W * C);
  forEachTap(shape, w, (o, i, _tap, _c, yo, xo) => { dx[i] += dy[o] / counts[yo * Wo + xo]; });
  return dx;
}

/** FNet's mix of each [N, E] slice: y[n, e] = Σ_{j,k} x[j, k]·cos(2π(nj/N + ek/E)), the DFT written out (cos of a sum, from tables of each angle). */
export function fourierMixRef(x: ArrayLike<number>, B: number, N: number, E: number): Float64Array {
  const table = (n: number, f: (a: number) => number) => Float64Array.from({ length: n }, (_, m) => f((2 * Math.PI * m) / n));
  const [cN, sN, cE, sE] = [table(N, Math.cos), table(N, Math.sin), table(E, Math.cos), table(E, Math.sin)];
  const out = new Float64Array(B * N * E);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let e = 0; e < E; e++) {
        let s = 0;
        for (let j = 0; j < N; j++) {
          const base = (b * N + j) * E;
          const a = (n * j) % N;
          for (let k = 0; k < E; k++) {
            const c = (e * k) % E;
            s += x[base + k] * (cN[a] * cE[c] - sN[a] * sE[c]);
          }
        }
        out[(b * N + n) * E + e] = s;
      }
  return out;
}

/** The patch grid of the tokens: P prefix tokens, then H x W patches. */
export interface GridRef { height: number; width: number; prefixTokens: number }

/** The patches of tokens [B, N, E] as an image [B, H, W, E] (the prefix dropped). */
function patchImage(x: ArrayLike<number>, B: number, E: number, g: GridRef): Float64Array {
  const HW = g.height * g.width, N = g.prefixTokens + HW;
  const out = new Float64Array(B * HW * E);
  for (let b = 0; b < B; b++) for (let t = 0; t < HW * E; t++) out[b * HW * E + t] = x[(b * N + g.prefixTokens) * E + t];
  return out;
}

/** The mean over the patches of an image [B, H·W, E]: [B, E]. */
function patchMean(image: ArrayLike<number>, B: number, HW: number, E: number): Float64Array {
  const m = new Float64Array(B * E);
  for (let b = 0; b < B; b++) for (let t = 0; t < HW; t++) for (let e = 0; e < E; e++) m[b * E + e] += image[(b * HW + t) * E + e] / HW;
  return m;
}

/** Tokens [B, N, E] from the prefix tokens' rows (prefix(b, p, e)) and the patches' [B, H·W, E]. */
function assemble(B: number, E: number, g: GridRef, prefix: (b: number, p: number, e: number) => number, patches: ArrayLike<number>): Float64Array {
  const HW = g.height * g.width, N = g.prefixTokens + HW;
  const out = new Float64Array(B * N * E);
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < g.prefixTokens; p++) for (let e = 0; e < E; e++) out[(b * N + p) * E + e] = prefix(b, p, e);
    for (let t = 0; t < HW * E; t++) out[(b * N + g.prefixTokens) * E + t] = patches[b * HW * E + t];
  }
  return out;
}

/** PoolFormer: each patch = avgpool(k, stride 1, pad k//2, count_include_pad false) − itself; a prefix token = mean of the patches − itself. */
export function poolingRef(x: ArrayLike<number>, B: number, E: number, g: GridRef, poolSize: number): Float64Array {
  const HW = g.height * g.width, N = g.prefixTokens + HW;
  const image = patchImage(x, B, E, g);
  const half = (poolSize - 1) / 2;
  const w: WindowRef = { kernel: [poolSize, poolSize], padding: [half, half], dilation: [1, 1], stride: [1, 1] };
  const pooled = avgPool2dRef(image, [B, g.height, g.width, E], w, false);
  const mixed = pooled.map((v, i) => v - image[i]);
  const m = patchMean(image, B, HW, E);
  return assemble(B, E, g, (b, p, e) => m[b * E + e] - x[(b * N + p) * E + e], mixed);
}

/** VAN's large-kernel attention parameters: depthwise [E, 1, k, k] weights and [E] biases, the pointwise [E, E] (out, in) and its bias. */
export interface VisualParamsRef {
  w0: ArrayLike<number>; b0: ArrayLike<number>; k0: number;
  w1: ArrayLike<number>; b1: ArrayLike<number>; k1: number; dilation: number;
  w2: ArrayLike<number>; b2: ArrayLike<number>;
}

/** VAN: attn = pointwise(dwdilated(dw(x))), patch = x ⊙ attn; a prefix token ⊙ pointwise(mean of the patches' dwdilated(dw(x))). */
export function visualRef(x: ArrayLike<number>, B: number, E: number, g: GridRef, q: VisualParamsRef): Float64Array {
  const HW = g.height * g.width, N = g.prefixTokens + HW;
  const image = patchImage(x, B, E, g);
  const shape = [B, g.height, g.width, E];
  const same = (k: number, d: number): WindowRef => ({ kernel: [k, k], padding: [(d * (k - 1)) / 2, (d * (k - 1)) / 2], dilation: [d, d], stride: [1, 1] });
  const near = depthwiseConv2dRef(image, shape, q.w0, q.b0, same(q.k0, 1));
  const far = depthwiseConv2dRef(near, shape, q.w1, q.b1, same(q.k1, q.dilation));
  const pointwise = (v: ArrayLike<number>, row: number) => {
    const out = new Float64Array(E);
    for (let o = 0; o < E; o++) {
      let s = q.b2[o];
      for (let i = 0; i < E; i++) s += q.w2[o * E + i] * v[row * E + i];
      out[o] = s;
    }
    return out;
  };
  const patches = new Float64Array(B * HW * E);
  for (let r = 0; r < B * HW; r++) {
    const attn = pointwise(far, r);
    for (let e = 0; e < E; e++) patches[r * E + e] = image[r * E + e] * attn[e];
  }
  const m = patchMean(far, B, HW, E);
  const gates = Array.from({ length: B }, (_, b) => pointwise(m, b));
  return assemble(B, E, g, (b, p, e) => x[(b * N + p) * E + e] * gates[b][e], patches);
}
