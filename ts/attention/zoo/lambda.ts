// lambda (Bello 2021, "LambdaNetworks: Modeling long-range interactions without attention",
// with xFormers' LambdaLayer's layout: per head, keys and queries of depth D): each query is
// applied to a content lambda shared by all tokens and a position lambda of its own,
//   y_n = q_nᵀ (λc + λp_n),  λc = σ(K)ᵀ V,  λp_n = Σ_m E_nm v_mᵀ,
// σ a softmax over the sequence (per key channel), E_nm = R[m − n + c] a learned relative
// position embedding of depth D, R [r, D] with c = (r − 1)/2, zero for |m − n| > c (the
// paper's local positional context; r = 2N − 1 reaches every pair). The position term is
// computed as P V with P[n, m] = q_n · E_nm, P read from Q Rᵀ [N, r] by the skew (relative to
// absolute) reshape of Transformer-XL: no [N, N, D] tensor. No softmax over keys at all:
// nothing to scale. xFormers sums its position embeddings over m instead (einsum "mnk,bnv");
// this follows the paper.
import { rangeError } from '../../errors';
import { add, concat, matmul, slice, softmax } from '../../ops';
import { Tensor, tidy, zeros } from '../../tensor';
import type { AttentionConfig, InitOptions } from '../../nn/layers';
import { AttentionModule } from '../module';
import { MechanismGeometry, registerAttention } from '../registry';
import { checkOptionNames, headsFirst, integerOption, seededParameter, tokensFirst } from './lowrank_common';

const NAME = 'lambda';

/** P [B, H, N, N] with P[n, m] = S[n, m − n + c] (0 outside [0, r)), from S [B, H, N, r]: the skew reshape. */
export function relativeToAbsolute(S: Tensor): Tensor {
  const [B, H, N, r] = S.shape;
  const c = (r - 1) / 2;
  const padded = concat([S, zeros([B, H, N, N], { dtype: S.dtype, device: S.device })], 3); // rows of r + N
  const skewed = slice(padded.reshape([B, H, N * (r + N)]), 2, 0, N * (r + N - 1)).reshape([B, H, N, r + N - 1]); // T[n, t] = S[n, t − n]
  return slice(skewed, 3, c, c + N);
}

/** q, k, v [B, N, H, D] and R [r, D] (r odd) -> [B, N, H, D]: the lambda layer (see the file's comment). Records. */
export function lambdaHeads(q: Tensor, k: Tensor, v: Tensor, R: Tensor): Tensor {
  return tidy(() => {
    const [qh, kh, vh] = [q, k, v].map(headsFirst);
    const content = matmul(softmax(kh.transpose(-1, -2)), vh); // λc = σ(K)ᵀ V [B, H, D, D]
    const P = relativeToAbsolute(matmul(qh, R, { transposeB: true })); // [B, H, N, N]
    return tokensFirst(add(matmul(qh, content), matmul(P, vh)));
  });
}

export class LambdaAttention extends AttentionModule {
  readonly input = 'qkv';
  /** r: the relative positions with an embedding, −c … c. */
  readonly positions: number;

  constructor(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, init: InitOptions) {
    super(geometry);
    checkOptionNames(fn, NAME, options, ['position_embedding_size']);
    if (options.scale !== undefined) throw rangeError(fn, `${NAME} has no softmax over the scores: it takes no option 'scale'`);
    const tokens = geometry.tokens;
    if (tokens === undefined && options.position_embedding_size === undefined) {
      throw rangeError(fn, `mechanism '${NAME}' needs the sequence length (geometry.tokens; a ViT passes its own) or option position_embedding_size`);
    }
    this.positions = integerOption(fn, NAME, options, 'position_embedding_size', 2 * (tokens ?? 1) - 1);
    if (this.positions % 2 === 0) throw rangeError(fn, `${NAME} option position_embedding_size must be odd (offsets −c … c), got ${this.positions}`);
    const D = geometry.dim / geometry.heads;
    this.param('rel_pos_emb', seededParameter([this.positions, D], 1 / Math.sqrt(D), init));
  }

  override forwardHeads(q: Tensor, k: Tensor, v: Tensor, _options: AttentionConfig): Tensor {
    return lambdaHeads(q, k, v, this.get('rel_pos_emb'));
  }
}

registerAttention(NAME, {
  createModule: (fn, options, geometry, init) => new LambdaAttention(fn, options, geometry, init),
  notSupportedReasons: () => [],
  forward: () => {
    throw new Error(`attention: mechanism '${NAME}' has learned relative position embeddings: it works as a module only (buildViT or MultiHeadAttention with attention: { mechanism: '${NAME}' })`);
  },
});
