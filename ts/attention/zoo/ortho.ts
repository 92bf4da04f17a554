// ortho (Orthoformer, Patrick et al. 2021, "Keeping Your Eye on the Ball", as xFormers'
// OrthoFormerAttention with landmark_selection 'orthogonal'): m landmarks chosen among a
// subsample of the queries, greedily the most orthogonal to those chosen so far, then
//   softmax(Q Lᵀ s) · (softmax(L Kᵀ s) V).
// The choice is discrete, made on the host in float64 from q's values (on CUDA a copy of q
// back per call); the landmarks are the chosen rows of q gathered by a one-hot [m, N] matrix
// product, so q's gradient flows through them (xFormers selects them under no_grad).
// m ≥ N: exact attention (as xFormers at m = N).
import { matmul, softmax } from '../../ops';
import { Random } from '../../random';
import { Tensor, tensor, tidy } from '../../tensor';
import type { AttentionConfig, InitOptions } from '../../nn/layers';
import { attention } from '../attention';
import { AttentionModule } from '../module';
import type { MechanismGeometry } from '../registry';
import {
  checkOptionNames, headsFirst, integerOption, LandmarkSettings, landmarkSettings, numberOption, registerWithFunction, tokensFirst,
} from './lowrank_common';

const NAME = 'ortho';
const OPTIONS = ['num_landmarks', 'subsample_fraction', 'seed'];

/** m defaults to 32 (xFormers'). */
export interface OrthoSettings extends LandmarkSettings {
  /** The share of the N queries drawn (with replacement, at least m) to choose from; 1: all, in order. Default 1. */
  fraction: number;
  seed: number;
}

function settings(fn: string, options: Record<string, unknown>, headDim: number): OrthoSettings {
  const fraction = numberOption(fn, NAME, options, 'subsample_fraction', 1, 0, 1);
  return { ...landmarkSettings(fn, NAME, options, headDim, 32), fraction, seed: integerOption(fn, NAME, options, 'seed', 0, 0) };
}

/** The random choices of one call, per (batch, head): the candidate queries and the first landmark among them. */
export interface OrthoDraw {
  /** Indices into the N queries (all of them, in order, when the fraction is 1). */
  samples: Int32Array[];
  /** The first landmark: an index into samples. */
  first: number[];
}

/** Draws the candidates (⌊fraction·N⌋ but at least m, with replacement; all N when fraction is 1) and the first landmark of each of `heads` (batch, head) pairs. */
export function drawOrtho(rng: Random, heads: number, N: number, m: number, fraction: number): OrthoDraw {
  const count = fraction < 1 ? Math.max(Math.floor(fraction * N), m) : N;
  const samples: Int32Array[] = [];
  const first: number[] = [];
  const below = (n: number) => Math.min(n - 1, Math.floor(rng.uniform() * n));
  for (let i = 0; i < heads; i++) {
    samples.push(fraction < 1 ? Int32Array.from({ length: count }, () => below(N)) : Int32Array.from({ length: N }, (_, n) => n));
    first.push(below(count));
  }
  return { samples, first };
}

/**
 * The chosen queries of q [B, N, H, D] (host values), per (batch, head) in sample order: the first
 * of the draw, then repeatedly the candidate whose largest |cosine| to those chosen is smallest
 * (the first such). Returns, per (b·H + h), the m chosen query indices.
 */
export function orthogonalLandmarks(q: ArrayLike<number>, shape: readonly number[], draw: OrthoDraw, m: number): Int32Array[] {
  const [, N, H, D] = shape;
  return draw.samples.map((samples, bh) => {
    const b = Math.floor(bh / H);
    const h = bh % H;
    const count = samples.length;
    const unit = new Float64Array(count * D);
    for (let i = 0; i < count; i++) {
      const base = ((b * N + samples[i]) * H + h) * D;
      let norm = 0;
      for (let d = 0; d < D; d++) norm += q[base + d] ** 2;
      const inv = 1 / Math.max(Math.sqrt(norm), 1e-12);
      for (let d = 0; d < D; d++) unit[i * D + d] = q[base + d] * inv;
    }
    const chosen = new Uint8Array(count);
    const worst = new Float64Array(count); // the largest |cos| to a chosen landmark
    let last = draw.first[bh];
    chosen[last] = 1;
    for (let picked = 1; picked < m; picked++) {
      let best = -1;
      for (let i = 0; i < count; i++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += unit[i * D + d] * unit[last * D + d];
        worst[i] = Math.max(worst[i], Math.abs(dot));
        if (!chosen[i] && (best < 0 || worst[i] < worst[best])) best = i;
      }
      chosen[best] = 1;
      last = best;
    }
    const out = new Int32Array(m);
    let j = 0;
    for (let i = 0; i < count; i++) if (chosen[i]) out[j++] = samples[i];
    return out;
  });
}

/** One-hot [B, H, m, N] rows picking the landmarks, in q's dtype on q's device. */
export function landmarkSelector(indices: Int32Array[], B: number, H: number, N: number, like: Tensor): Tensor {
  const m = indices[0].length;
  const v = new Float32Array(B * H * m * N);
  indices.forEach((rows, bh) => rows.forEach((n, l) => { v[(bh * m + l) * N + n] = 1; }));
  return tensor(v, [B, H, m, N], { dtype: like.dtype, device: like.device });
}

/** q, k, v [B, N, H, D] and the selector [B, H, m, N] -> softmax(Q Lᵀ s) (softmax(L Kᵀ s) V), L = selector · Q; [B, N, H, D]. Records. */
export function orthoHeads(q: Tensor, k: Tensor, v: Tensor, selector: Tensor, scale: number): Tensor {
  return tidy(() => {
    const [qh, kh, vh] = [q, k, v].map(headsFirst);
    const L = matmul(selector, qh); // [B, H, m, D]
    const kernel1 = softmax(matmul(qh, L, { transposeB: true }), { scale });
    const kernel2 = softmax(matmul(L, kh, { transposeB: true }), { scale });
    return tokensFirst(matmul(kernel1, matmul(kernel2, vh)));
  });
}

/** The whole mechanism with the draw from `rng`. */
export function orthoAttention(q: Tensor, k: Tensor, v: Tensor, s: OrthoSettings, rng: Random): Tensor {
  const [B, N, H] = q.shape;
  if (s.landmarks >= N) return attention(q, k, v, { scale: s.scale });
  const indices = orthogonalLandmarks(q.dataSync() as Float32Array, q.shape, drawOrtho(rng, B * H, N, s.landmarks, s.fraction), s.landmarks);
  const selector = landmarkSelector(indices, B, H, N, q);
  try {
    return orthoHeads(q, k, v, selector, s.scale);
  } finally {
    selector.dispose();
  }
}

export class OrthoAttention extends AttentionModule {
  readonly input = 'qkv';
  readonly settings: OrthoSettings;
  /** Training calls so far: each draws its own subsample and first landmark; eval uses draw 0. */
  calls = 0;

  constructor(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, _init: InitOptions) {
    super(geometry);
    checkOptionNames(fn, NAME, options, OPTIONS);
    this.settings = settings(fn, options, geometry.dim / geometry.heads);
  }

  override forwardHeads(q: Tensor, k: Tensor, v: Tensor, _options: AttentionConfig): Tensor {
    const draw = this.training ? ++this.calls : 0;
    return orthoAttention(q, k, v, this.settings, new Random(this.settings.seed * 1000003 + draw));
  }
}

registerWithFunction(NAME, {
  options: OPTIONS,
  settings,
  createModule: (fn, options, geometry, init) => new OrthoAttention(fn, options, geometry, init),
  run: (inputs, s) => orthoAttention(inputs.q, inputs.k, inputs.v, { ...s, scale: inputs.scale }, new Random(s.seed * 1000003)),
});
