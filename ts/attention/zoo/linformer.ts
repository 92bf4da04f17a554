// linformer (Wang et al. 2020, "Linformer: Self-Attention with Linear Complexity", as
// xFormers' LinformerAttention): keys and values projected along the sequence to k rows by
// learned E and F [k, N], shared by every head, then exact attention of the N queries over
// those k rows: softmax(Q (E K)ᵀ · scale) (F V). A call with fewer tokens than the module
// was made for reads the first columns of E and F (xFormers pads K and V with zeros: the same).
import { matmul, slice } from '../../ops';
import { Tensor, tidy } from '../../tensor';
import type { AttentionConfig, InitOptions } from '../../nn/layers';
import { attention } from '../attention';
import { AttentionModule } from '../module';
import { MechanismGeometry, registerAttention } from '../registry';
import { checkOptionNames, checkTokens, headsFirst, integerOption, requireTokens, scaleOption, seededParameter } from './lowrank_common';

const NAME = 'linformer';

export class LinformerAttention extends AttentionModule {
  readonly input = 'qkv';
  readonly k: number;
  readonly scale: number;

  constructor(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, init: InitOptions) {
    super(geometry);
    checkOptionNames(fn, NAME, options, ['k']);
    const tokens = requireTokens(fn, NAME, geometry);
    this.k = integerOption(fn, NAME, options, 'k', Math.max(1, Math.floor(tokens / 4)));
    this.scale = scaleOption(fn, NAME, options, geometry.dim / geometry.heads);
    // nn.Linear(N, k)'s scale: each projected row a sum over N tokens.
    this.param('E', seededParameter([this.k, tokens], 1 / Math.sqrt(tokens), init));
    this.param('F', seededParameter([this.k, tokens], 1 / Math.sqrt(tokens), init));
  }

  override forwardHeads(q: Tensor, k: Tensor, v: Tensor, _options: AttentionConfig): Tensor {
    checkTokens('LinformerAttention.forwardHeads', NAME, k.shape[1], this.geometry.tokens!);
    return linformerHeads(q, k, v, this.get('E'), this.get('F'), this.scale);
  }
}

/**
 * q, k, v [B, N, H, D], E and F [k, ≥ N] -> softmax(Q (E K)ᵀ · scale) (F V) per batch and head,
 * [B, N, H, D], from the first N columns of E and F. Records through matmul and attention.
 */
export function linformerHeads(q: Tensor, k: Tensor, v: Tensor, E: Tensor, F: Tensor, scale: number): Tensor {
  const n = k.shape[1];
  const project = (p: Tensor, x: Tensor) => {
    const used = n === p.shape[1] ? p : slice(p, 1, 0, n);
    return headsFirst(matmul(used, headsFirst(x))); // [k, N] @ [B, H, N, D] -> [B, H, k, D], viewed [B, k, H, D]
  };
  return tidy(() => attention(q, project(E, k), project(F, v), { scale }));
}

registerAttention(NAME, {
  createModule: (fn, options, geometry, init) => new LinformerAttention(fn, options, geometry, init),
  notSupportedReasons: () => [],
  forward: () => {
    throw new Error(`attention: mechanism '${NAME}' has learned projections E and F: it works as a module only (buildViT or MultiHeadAttention with attention: { mechanism: '${NAME}', k })`);
  },
});
