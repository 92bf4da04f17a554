// favor (Performer's FAVOR+, Choromanski et al. 2021, as xFormers' FavorAttention): the softmax
// kernel exp(q·k / √D) estimated by random features, so attention costs O(N·m·D):
//   out_i = φ(q_i)ᵀ Σ_n φ(k_n) v_nᵀ / φ(q_i)ᵀ Σ_n φ(k_n)
// kernel 'softmax': the positive features φ(x) = exp(W x − ‖x‖²/2) / √m, x = input·D^(-1/4);
// kernel 'relu': φ(x) = relu(W x) + 0.001 (Performer's generalized kernel and its epsilon).
// Positive features are computed as softmaxes: a factor common to one query's features, or to
// all keys of one (batch, head), cancels in the ratio, so φ(q) = softmax over the features of
// W q and φ(k) = softmax over every (key, feature) of W k − ‖k‖²/2 (the max-subtraction of
// Performer's own stabilized map, with no exp op). 16-bit inputs compute in float32 (as
// xFormers). W (favor_features.ts) is redrawn every feature_redraw_interval calls in
// training, fixed in eval; as a function of q, k, v the features come from the seed alone.
import { checkOneOf, rangeError } from '../../errors';
import { add, div, matmul, mean, mul, relu, softmax, sub } from '../../ops';
import { keep, Tensor, tensor, tidy } from '../../tensor';
import type { Device } from '../../dtype';
import type { AttentionConfig, InitOptions } from '../../nn/layers';
import { AttentionModule } from '../module';
import type { MechanismGeometry } from '../registry';
import { favorFeatures } from './favor_features';
import { booleanOption, checkOptionNames, headsFirst, integerOption, registerWithFunction, tokensFirst } from './lowrank_common';

const NAME = 'favor';
const OPTIONS = ['dim_features', 'kernel', 'feature_redraw_interval', 'seed', 'orthogonal'];
export const FAVOR_KERNELS = ['softmax', 'relu'] as const;
export type FavorKernel = (typeof FAVOR_KERNELS)[number];
/** Performer's kernel_epsilon for the generalized (relu) kernel: keeps every denominator positive. */
export const RELU_EPSILON = 1e-3;

export interface FavorSettings {
  /** m: the random features. Default ⌈D(1 + log₂ D)⌉ rounded down to even (xFormers'), at least 2. */
  features: number;
  kernel: FavorKernel;
  /** Redraw the features after this many training calls; null: never. Default 1000 (Performer's). */
  redrawInterval: number | null;
  seed: number;
  /** Orthogonal blocks of features (FAVOR+); false: independent Gaussian rows. Default true. */
  orthogonal: boolean;
}

function settings(fn: string, options: Record<string, unknown>, headDim: number): FavorSettings {
  const fallback = Math.max(2, 2 * Math.floor(Math.ceil(headDim * (1 + Math.log2(Math.max(headDim, 1)))) / 2));
  const interval = options.feature_redraw_interval;
  return {
    features: integerOption(fn, NAME, options, 'dim_features', fallback),
    kernel: options.kernel === undefined ? 'softmax' : checkOneOf(fn, `${NAME} option kernel`, options.kernel, FAVOR_KERNELS),
    redrawInterval: interval === undefined ? 1000 : interval === null ? null : integerOption(fn, NAME, options, 'feature_redraw_interval', 1000),
    seed: integerOption(fn, NAME, options, 'seed', 0, 0),
    orthogonal: booleanOption(fn, NAME, options, 'orthogonal', true),
  };
}

/** The features [m, D] of draw `draw`, scaled by D^(-1/4) (the kernel's input scaling folded in), float32 on `device`. */
export function featureTensor(s: FavorSettings, D: number, draw: number, device: Device): Tensor {
  const w = favorFeatures(s.features, D, s.seed * 1000003 + draw, s.orthogonal);
  const scale = D ** -0.25;
  return tensor(Float32Array.from(w, (x) => x * scale), [s.features, D], { device });
}

/**
 * q, k, v [B, N, H, D] and the scaled features w [m, D] (featureTensor) -> [B, N, H, D]: FAVOR
 * attention with `kernel` (see the file's comment). Records its gradient (w is a constant).
 */
export function favorHeads(q: Tensor, k: Tensor, v: Tensor, w: Tensor, kernel: FavorKernel): Tensor {
  return tidy(() => {
    const dtype = q.dtype;
    const f32 = (t: Tensor) => (t.dtype === 'float32' ? t : t.cast('float32'));
    const [qh, kh, vh] = [q, k, v].map((t) => f32(headsFirst(t)));
    const [B, H, N, D] = kh.shape;
    const m = w.shape[0];
    const zq = matmul(qh, w, { transposeB: true }); // [B, H, N, m]
    const zk = matmul(kh, w, { transposeB: true });
    let phiQ: Tensor;
    let phiK: Tensor;
    if (kernel === 'softmax') {
      phiQ = softmax(zq);
      const halfNorm = mul(mean(mul(kh, kh), -1, { keepDim: true }), D / Math.sqrt(D) / 2); // ‖k·D^(-1/4)‖²/2
      phiK = softmax(sub(zk, halfNorm).reshape([B, H, N * m])).reshape([B, H, N, m]);
    } else {
      phiQ = add(relu(zq), RELU_EPSILON);
      phiK = add(relu(zk), RELU_EPSILON);
    }
    const kv = matmul(phiK, vh, { transposeA: true }); // [B, H, m, D]
    const keySum = mul(mean(phiK, 2, { keepDim: true }), N); // [B, H, 1, m]
    const out = div(matmul(phiQ, kv), matmul(phiQ, keySum, { transposeB: true }));
    const o = tokensFirst(out);
    return dtype === 'float32' ? o : o.cast(dtype);
  });
}

export class FavorAttention extends AttentionModule {
  readonly input = 'qkv';
  readonly settings: FavorSettings;
  /** Features drawn so far (the current draw is draws − 1). */
  draws = 0;
  /** Training calls with the current features. */
  private calls = 0;
  private features: Tensor | null = null;

  constructor(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, _init: InitOptions) {
    super(geometry);
    checkOptionNames(fn, NAME, options, OPTIONS);
    if (options.scale !== undefined) throw rangeError(fn, `${NAME} estimates softmax(q·k/√D): it takes no option 'scale'`);
    this.settings = settings(fn, options, geometry.dim / geometry.heads);
  }

  /** The features for this call: redrawn after feature_redraw_interval training calls, or when q moved to another device. */
  private currentFeatures(device: Device): Tensor {
    if (this.training) {
      this.calls++;
      const interval = this.settings.redrawInterval;
      if (interval !== null && this.calls > interval) this.redraw(device);
    }
    if (this.features === null || this.features.device !== device) this.redraw(device);
    return this.features!;
  }

  private redraw(device: Device): void {
    this.features?.dispose();
    // Kept: made inside the layer's tidy(), held across calls.
    this.features = keep(featureTensor(this.settings, this.geometry.dim / this.geometry.heads, this.draws++, device));
    this.calls = this.training ? 1 : 0;
  }

  override forwardHeads(q: Tensor, k: Tensor, v: Tensor, _options: AttentionConfig): Tensor {
    return favorHeads(q, k, v, this.currentFeatures(q.device), this.settings.kernel);
  }

  override dispose(): void {
    this.features?.dispose();
    this.features = null;
    super.dispose();
  }
}

registerWithFunction(NAME, {
  options: OPTIONS,
  settings,
  createModule: (fn, options, geometry, init) => new FavorAttention(fn, options, geometry, init),
  crossAttention: true,
  reasons: (inputs) => (Math.abs(inputs.scale * Math.sqrt(inputs.q.shape[3]) - 1) > 1e-6 ? [`${NAME} estimates softmax(q·k/√D): options.scale must be 1/√D`] : []),
  run(inputs, s) {
    const w = featureTensor(s, inputs.q.shape[3], 0, inputs.q.device);
    try {
      return favorHeads(inputs.q, inputs.k, inputs.v, w, s.kernel);
    } finally {
      w.dispose();
    }
  },
});
