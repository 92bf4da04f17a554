// The module form of an attention mechanism (AttentionMechanism.createModule): one per layer,
// holding the mechanism's parameters (named under the layer's "attention."), made for the
// layer's geometry. Its input says what MultiHeadAttention hands it:
//   'qkv'     q, k, v [B, N, H, D] from the layer's qkv projection; returns [B, N, H, D]
//   'tokens'  the layer's input x [B, N, E] itself, with no qkv projection (the mechanism mixes
//             the tokens, as PoolFormer, FNet and VAN do); returns [B, N, E]
// Either way the layer's output projection follows. Its forward records its own gradient
// (ops that record, or customOp), as every Module's does.
import { Module } from '../nn/module';
import type { Tensor } from '../tensor';
import type { AttentionConfig } from '../nn/layers';
import type { MechanismGeometry } from './registry';

export abstract class AttentionModule extends Module {
  abstract readonly input: 'qkv' | 'tokens';

  constructor(readonly geometry: MechanismGeometry) {
    super();
  }

  /**
   * input 'qkv': q, k, v [B, N, H, D] -> [B, N, H, D]. `options` are the layer's attention
   * options for this call (dropout, scale, a mask) less the mechanism's own.
   */
  forwardHeads(q: Tensor, k: Tensor, v: Tensor, options: AttentionConfig): Tensor {
    void q; void k; void v; void options;
    throw new Error(`${this.constructor.name}.forwardHeads: this mechanism takes the tokens, not q, k, v`);
  }

  /** input 'tokens': x [B, N, E] -> [B, N, E]. */
  forwardTokens(x: Tensor, options: AttentionConfig): Tensor {
    void x; void options;
    throw new Error(`${this.constructor.name}.forwardTokens: this mechanism takes q, k, v, not the tokens`);
  }
}
