// compositional (Mittal et al. 2021, "Compositional Attention: Disentangling Search and
// Retrieval", as xFormers' CompositionalAttention): S searches (the heads' softmax(Q_s K_sᵀ s))
// and R retrievals (value projections V_r) are composed freely: every search retrieves with
// every value, O_sr = A_s V_r, and each search picks its retrievals per token by a rule
// softmax over r of a score of (O_sr, q̄_s) with q̄ = x W_q̄ split in S parts of d_sel:
//   qk_rule: score = q̄_s · (O_sr W_k̄ + b_k̄) / √d_sel;  else: score = [O_sr, q̄_s] · w + b;
//   out_s = Σ_r softmax_r(score) O_sr,  out = [out_1 … out_S] W_o + b_o.
// It has its own q, k, v projections, so it takes the layer's tokens (input 'tokens'); W_o is
// kept only when S·d_v differs from E (else the layer's output projection serves alone).
import { rangeError } from '../../errors';
import { add, linear, matmul, mean, mul, slice, softmax } from '../../ops';
import { Tensor, tidy } from '../../tensor';
import { Linear } from '../../nn/layers';
import type { AttentionConfig, InitOptions } from '../../nn/layers';
import { AttentionModule } from '../module';
import { MechanismGeometry, registerAttention } from '../registry';
import { booleanOption, checkOptionNames, headsFirst, integerOption, scaleOption } from './lowrank_common';

const NAME = 'compositional';
const OPTIONS = ['num_rules', 'qk_rule', 'dim_selection', 'dim_attn'];

export interface CompositionalSettings {
  /** S: the searches (the layer's heads). */
  searches: number;
  /** R: the retrievals. Default S. */
  rules: number;
  /** d_sel: the rule selection's query (and key) width. Default E / S. */
  selection: number;
  /** d_v = dim_attn / R: each retrieval's width. dim_attn defaults to E. */
  valueDim: number;
  /** Dot-product rule scores (true) or a linear score of [O_sr, q̄_s] (false, xFormers' default). */
  qkRule: boolean;
  /** Multiplies Q_s K_sᵀ: default 1/√(E/S). */
  scale: number;
}

/** A linear layer's weight and bias. */
export interface Affine { weight: Tensor; bias: Tensor | null }

export interface CompositionalWeights {
  q: Affine; // [E, E]
  k: Affine; // [E, E]
  v: Affine; // [R·d_v, E]
  /** q̄: [S·d_sel, E]. */
  selectionQuery: Affine;
  /** qk_rule: k̄ [d_sel, d_v]. */
  selectionKey: Affine | null;
  /** Not qk_rule: the score [1, d_v + d_sel]. */
  score: Affine | null;
  /** W_o [E, S·d_v], or null when S·d_v = E. */
  out: Affine | null;
}

/** [B, N, G·w] -> [B, G, N, w] (a view). */
function groups(x: Tensor, g: number): Tensor {
  const [B, N, C] = x.shape;
  return headsFirst(x.reshape([B, N, g, C / g]));
}

/** x [B, N, E] -> [B, N, E]: compositional attention (see the file's comment). Records. */
export function compositionalTokens(x: Tensor, w: CompositionalWeights, s: CompositionalSettings): Tensor {
  return tidy(() => {
    const [B, N] = x.shape;
    const { searches: S, rules: R, selection: ds, valueDim: dv } = s;
    const q = groups(linear(x, w.q.weight, w.q.bias), S); // [B, S, N, dh]
    const k = groups(linear(x, w.k.weight, w.k.bias), S);
    const v = groups(linear(x, w.v.weight, w.v.bias), R); // [B, R, N, dv]
    const search = softmax(matmul(q, k, { transposeB: true }), { scale: s.scale }); // [B, S, N, N]
    const retrieved = matmul(search.reshape([B, S, 1, N, N]), v.reshape([B, 1, R, N, dv])); // O [B, S, R, N, dv]
    const selQ = groups(linear(x, w.selectionQuery.weight, w.selectionQuery.bias), S).reshape([B, S, 1, N, ds]);
    let score: Tensor; // [B, S, R, N]
    if (s.qkRule) {
      const selK = linear(retrieved, w.selectionKey!.weight, w.selectionKey!.bias); // [B, S, R, N, ds]
      score = mul(mean(mul(selK, selQ), -1), Math.sqrt(ds)); // Σ_d / √ds
    } else {
      // [O, q̄] · w + b, with w split: q̄'s part broadcast over the rules.
      const wo = slice(w.score!.weight, 1, 0, dv);
      const wq = slice(w.score!.weight, 1, dv, dv + ds);
      score = add(linear(retrieved, wo, w.score!.bias), linear(selQ, wq)).reshape([B, S, R, N]);
    }
    const rule = softmax(score.permute([0, 1, 3, 2])).permute([0, 1, 3, 2]).reshape([B, S, R, N, 1]); // over the rules
    const composed = mul(mean(mul(retrieved, rule), 2), R); // Σ_r [B, S, N, dv]
    const merged = headsFirst(composed).reshape([B, N, S * dv]);
    return w.out === null ? merged.contiguous() : linear(merged, w.out.weight, w.out.bias);
  });
}

function settings(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry): CompositionalSettings {
  const { dim: E, heads: S } = geometry;
  const rules = integerOption(fn, NAME, options, 'num_rules', S);
  const attn = integerOption(fn, NAME, options, 'dim_attn', E);
  if (attn % rules !== 0) throw rangeError(fn, `${NAME} option dim_attn (${attn}) must be a multiple of num_rules (${rules})`);
  return {
    searches: S,
    rules,
    selection: integerOption(fn, NAME, options, 'dim_selection', E / S),
    valueDim: attn / rules,
    qkRule: booleanOption(fn, NAME, options, 'qk_rule', false),
    scale: scaleOption(fn, NAME, options, E / S),
  };
}

export class CompositionalAttention extends AttentionModule {
  readonly input = 'tokens';
  readonly settings: CompositionalSettings;

  constructor(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, init: InitOptions) {
    super(geometry);
    checkOptionNames(fn, NAME, options, OPTIONS);
    const s = (this.settings = settings(fn, options, geometry));
    const E = geometry.dim;
    const layer = (name: string, inputs: number, outputs: number) => this.child(name, new Linear(inputs, outputs, { ...init, bias: true }));
    layer('q_proj', E, E);
    layer('k_proj', E, E);
    layer('v_proj', E, s.rules * s.valueDim);
    layer('value_q', E, s.searches * s.selection);
    if (s.qkRule) layer('value_k', s.valueDim, s.selection);
    else layer('score', s.valueDim + s.selection, 1);
    if (s.searches * s.valueDim !== E) layer('out_proj', s.searches * s.valueDim, E);
  }

  /** The weights as compositionalTokens takes them. */
  weights(): CompositionalWeights {
    const affine = (name: string): Affine | null => {
      const l = this.children.get(name) as Linear | undefined;
      return l ? { weight: l.weight, bias: l.bias } : null;
    };
    return {
      q: affine('q_proj')!, k: affine('k_proj')!, v: affine('v_proj')!, selectionQuery: affine('value_q')!,
      selectionKey: affine('value_k'), score: affine('score'), out: affine('out_proj'),
    };
  }

  override forwardTokens(x: Tensor, _options: AttentionConfig): Tensor {
    return compositionalTokens(x, this.weights(), this.settings);
  }
}

registerAttention(NAME, {
  createModule: (fn, options, geometry, init) => new CompositionalAttention(fn, options, geometry, init),
  notSupportedReasons: () => [],
  forward: () => {
    throw new Error(`attention: mechanism '${NAME}' has its own q, k, v projections and rule selection: it works as a module only, on the tokens (buildViT or MultiHeadAttention with attention: { mechanism: '${NAME}' })`);
  },
});
