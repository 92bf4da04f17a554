// nystrom (Xiong et al. 2021, "Nyströmformer", as xFormers' NystromAttention): the N x N
// softmax approximated through m landmarks, the segment means of the queries and keys:
//   softmax(Q K̃ᵀ s) · pinv(softmax(Q̃ K̃ᵀ s)) · softmax(Q̃ Kᵀ s) V
// with the pseudo-inverse by the paper's Newton–Schulz-type iteration (Razavi et al.),
//   Z₀ = Kᵀ / max_j Σ_i K_ij,  Z ← ¼ Z (13I − KZ (15I − KZ (7I − KZ))),
// and an optional depthwise convolution of V along the sequence added as a skip (learned,
// one kernel per head: the module form). N not a multiple of m: as xFormers' AvgPool, the
// first m − (N mod m) landmarks average ⌊N/m⌋ tokens and the last N mod m average one more
// (no padding). m ≥ N: exact attention (as xFormers).
import { rangeError } from '../../errors';
import { add, concat, div, matmul, mean, mul, relu, slice, softmax, sub } from '../../ops';
import { Tensor, tensor, tidy, zeros } from '../../tensor';
import type { AttentionConfig, InitOptions } from '../../nn/layers';
import { attention } from '../attention';
import { AttentionModule } from '../module';
import type { MechanismGeometry } from '../registry';
import {
  checkOptionNames, headsFirst, integerOption, LandmarkSettings, landmarkSettings, registerWithFunction, seededParameter, tokensFirst,
} from './lowrank_common';

const NAME = 'nystrom';
const OPTIONS = ['num_landmarks', 'pinverse_iterations', 'conv_kernel_size'];

/** m defaults to 64. */
export interface NystromSettings extends LandmarkSettings {
  /** Newton–Schulz iterations of the pseudo-inverse. Default 6 (the paper's, xFormers'). */
  iterations: number;
}

function settings(fn: string, options: Record<string, unknown>, headDim: number): NystromSettings {
  return { ...landmarkSettings(fn, NAME, options, headDim, 64), iterations: integerOption(fn, NAME, options, 'pinverse_iterations', 6, 0) };
}

/** [B, H, N, D] -> [B, H, m, D]: means of m consecutive segments (⌊N/m⌋ tokens, the last N mod m of one more). */
export function segmentMeans(x: Tensor, m: number): Tensor {
  const [B, H, N, D] = x.shape;
  const s = Math.floor(N / m);
  const longer = N % m;
  const even = m - longer;
  const part = (start: number, count: number, size: number) =>
    mean(slice(x, 2, start, start + count * size).reshape([B, H, count, size, D]), 3);
  if (longer === 0) return part(0, m, s);
  return concat([part(0, even, s), part(even * s, longer, s + 1)], 2);
}

/** The largest entry along the last dim, kept as size 1: a tree of max(a, b) = b + relu(a − b) (recorded; ties give b the gradient). */
export function maxLast(x: Tensor): Tensor {
  let t = x;
  while (t.shape[t.rank - 1] > 1) {
    const n = t.shape[t.rank - 1];
    const half = Math.floor(n / 2);
    const a = slice(t, -1, 0, half);
    const b = slice(t, -1, half, 2 * half);
    const m = add(b, relu(sub(a, b)));
    t = n % 2 === 0 ? m : concat([m, slice(t, -1, n - 1, n)], -1);
  }
  return t;
}

/**
 * The iterative Moore–Penrose pseudo-inverse of k [..., m, m] (a row-stochastic softmax), as
 * the paper: Z₀ = kᵀ / ‖k‖₁ (the largest column sum, per matrix), then `iterations` steps of
 * Z ← ¼ Z (13I − kZ (15I − kZ (7I − kZ))). 16-bit inputs iterate in float32.
 */
export function iterativePinv(k: Tensor, iterations: number): Tensor {
  return tidy(() => {
    const m = k.shape[k.rank - 1];
    const k32 = k.dtype === 'float32' ? k : k.cast('float32');
    const colSums = mul(mean(k32, -2), m); // [..., m]
    const norm1 = maxLast(colSums).reshape([...k.shape.slice(0, -2), 1, 1]);
    let z = div(k32.transpose(-1, -2), norm1);
    const eye = (c: number) => {
      const v = new Float32Array(m * m);
      for (let i = 0; i < m; i++) v[i * m + i] = c;
      return tensor(v, [m, m], { device: k.device });
    };
    const [i7, i15, i13] = [eye(7), eye(15), eye(13)];
    for (let it = 0; it < iterations; it++) {
      const kz = matmul(k32, z);
      const inner = matmul(kz, sub(i15, matmul(kz, sub(i7, kz))));
      z = matmul(mul(z, 0.25), sub(i13, inner));
    }
    return k.dtype === 'float32' ? z : z.cast(k.dtype);
  });
}

/** The depthwise convolution of vh [B, H, N, D] along N with w [H, kernel] (odd kernel, zero padding, centred): Σ_t w[h, t] · v[n + t − kernel/2]. */
export function sequenceConv(vh: Tensor, w: Tensor): Tensor {
  const [B, H, N, D] = vh.shape;
  const kernel = w.shape[1];
  const c = (kernel - 1) / 2;
  const pad = (rows: number) => zeros([B, H, rows, D], { dtype: vh.dtype, device: vh.device });
  let out: Tensor | null = null;
  for (let t = 0; t < kernel; t++) {
    const shift = t - c; // out[n] reads v[n + shift]
    if (Math.abs(shift) >= N) continue;
    let shifted: Tensor;
    if (shift === 0) shifted = vh;
    else if (shift > 0) shifted = concat([slice(vh, 2, shift, N), pad(shift)], 2);
    else shifted = concat([pad(-shift), slice(vh, 2, 0, N + shift)], 2);
    const term = mul(shifted, slice(w, 1, t, t + 1).reshape([H, 1, 1]));
    out = out === null ? term : add(out, term);
  }
  return out ?? mul(vh, 0);
}

/**
 * q, k, v [B, N, H, D] -> [B, N, H, D]: Nyström attention with `s` (see the file's comment),
 * plus the convolution skip of V by convWeight [H, kernel] where given. Records its gradient.
 */
export function nystromHeads(q: Tensor, k: Tensor, v: Tensor, s: NystromSettings, convWeight: Tensor | null = null): Tensor {
  return tidy(() => {
    const N = k.shape[1];
    const vh = headsFirst(v);
    let xh: Tensor;
    if (s.landmarks >= N) {
      xh = headsFirst(attention(q, k, v, { scale: s.scale }));
    } else {
      const qh = headsFirst(q);
      const kh = headsFirst(k);
      const ql = segmentMeans(qh, s.landmarks);
      const kl = segmentMeans(kh, s.landmarks);
      const kernel1 = softmax(matmul(qh, kl, { transposeB: true }), { scale: s.scale }); // [B, H, N, m]
      const kernel2 = softmax(matmul(ql, kl, { transposeB: true }), { scale: s.scale }); // [B, H, m, m]
      const kernel3 = matmul(softmax(matmul(ql, kh, { transposeB: true }), { scale: s.scale }), vh); // [B, H, m, D]
      xh = matmul(kernel1, matmul(iterativePinv(kernel2, s.iterations), kernel3));
    }
    if (convWeight !== null) xh = add(xh, sequenceConv(vh, convWeight));
    return tokensFirst(xh);
  });
}

export class NystromAttention extends AttentionModule {
  readonly input = 'qkv';
  readonly settings: NystromSettings;
  /** The convolution skip's kernel size, or null without one. */
  readonly convKernelSize: number | null;

  constructor(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, init: InitOptions) {
    super(geometry);
    checkOptionNames(fn, NAME, options, OPTIONS);
    this.settings = settings(fn, options, geometry.dim / geometry.heads);
    const size = options.conv_kernel_size;
    this.convKernelSize = size === undefined || size === null ? null : integerOption(fn, NAME, options, 'conv_kernel_size', 1);
    if (this.convKernelSize !== null && this.convKernelSize % 2 === 0) {
      throw rangeError(fn, `${NAME} option conv_kernel_size must be odd (a centred kernel keeps N), got ${this.convKernelSize}`);
    }
    if (this.convKernelSize !== null) this.param('conv_weight', seededParameter([geometry.heads, this.convKernelSize], 1 / Math.sqrt(this.convKernelSize), init));
  }

  override forwardHeads(q: Tensor, k: Tensor, v: Tensor, _options: AttentionConfig): Tensor {
    return nystromHeads(q, k, v, this.settings, this.convKernelSize === null ? null : this.get('conv_weight'));
  }
}

registerWithFunction(NAME, {
  options: OPTIONS,
  settings,
  createModule: (fn, options, geometry, init) => new NystromAttention(fn, options, geometry, init),
  checkExtra(fn, extra) {
    if (extra.conv_kernel_size !== undefined && extra.conv_kernel_size !== null) {
      throw rangeError(fn, `${NAME} option conv_kernel_size needs the module form (its kernel is learned): use the mechanism in a model (buildViT, MultiHeadAttention)`);
    }
  },
  run: (inputs, s) => nystromHeads(inputs.q, inputs.k, inputs.v, { ...s, scale: inputs.scale }),
});
