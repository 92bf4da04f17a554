// The attention registry: a name maps to a mechanism, so a model names its mechanism in
// plain configuration data and swapping it changes nothing else. Each mechanism says why
// it cannot serve given inputs (xFormers' not_supported_reasons); attention() picks the
// named one and, when it cannot serve, throws an Error listing every reason. A mechanism
// may also offer a plan for the native encoder block (blockPlan), which runs the whole
// block in one call; the block runs op by op where it offers none.
import type { Device, FloatDType } from '../dtype';
import type { NativeSparsePlan } from '../native';
import type { InitOptions } from '../nn/layers';
import type { Tensor } from '../tensor';
import type { AttentionBias } from './attn_bias';
import type { AttentionModule } from './module';

/**
 * Float32 matmul precision (PyTorch's names): 'highest' computes in float32; 'high' lets a
 * CUDA kernel use 3xTF32 tensor-core products. Other dtypes are not affected.
 */
export type AttentionPrecision = 'highest' | 'high';

/** Everything a mechanism sees: checked tensors and resolved options. */
export interface AttentionInputs {
  /** [B, Nq, H, D] */
  q: Tensor;
  /** [B, Nk, H, D], or [B, Nk, Hkv, D] (grouped-query: H a multiple of Hkv) for a mechanism with supportsGroupedKV. */
  k: Tensor;
  /** As k. */
  v: Tensor;
  scale: number;
  /** Key j is attended by query i only when j <= i (top-left aligned). */
  causal: boolean;
  /**
   * The keys each query row allows, from options.attnBias or causal: 'bottom_right' (an
   * AttentionBias's rowRanges: row i allows keys [r[2i], r[2i + 1]), nondecreasing), or null;
   * attention() refuses them to a mechanism without supportsKeyRanges. attnBias: the bias they
   * came from.
   */
  keyRanges?: Int32Array | null;
  attnBias?: AttentionBias | null;
  /** uint8 (1 = attend), a view broadcast to [B, H, Nq, Nk]; or null. */
  mask: Tensor | null;
  /** float, a view broadcast to [B, H, Nq, Nk]; or null. */
  bias: Tensor | null;
  /** Float32 precision asked for; undefined: the kernel's default. */
  precision?: AttentionPrecision;
  /** Mechanism-specific options, passed through untouched (e.g. a sparse mask or layout). */
  extra: Record<string, unknown>;
  /**
   * Dropout on the probabilities (options.dropout > 0), or null: probability (b, h, i, j) is
   * zeroed where word offset + ((b·H + h)·Nq + i)·Nk + j of seed's Philox stream says so
   * (native/core/random_ops.h, group 1) and the others scaled by 1/(1 − p): dropout() over
   * the [B, H, Nq, Nk] probabilities. Only a mechanism with supportsDropout gets one.
   */
  dropout?: AttentionDropout | null;
}

/** Where an attention's dropout draws its mask from (a DropoutDraw of ts/ops/dropout_backward.ts, group 1). */
export interface AttentionDropout {
  p: number;
  seed: number;
  offset: number;
}

/** What the native encoder block computes its attention with: dense (memory_efficient), or the CSR kernel over a plan. */
export type BlockAttention = { kind: 'dense' } | { kind: 'sparse'; plan: NativeSparsePlan };

/** What an encoder block tells a mechanism when it asks for a block plan: self-attention over N tokens. */
export interface BlockPlanRequest {
  heads: number;
  /** N: q, k and v are [B, N, H, D]. */
  tokens: number;
  headDim: number;
  dtype: FloatDType;
  device: Device;
  /** The block's attention options as attention() would get them, less mechanism and scale. */
  options: Record<string, unknown>;
}

/** Which gradients the tape asks of an attention: those of the inputs that require grad. */
export interface AttentionNeeds { q: boolean; k: boolean; v: boolean; bias: boolean }

/** A mechanism's gradients (null where not asked). dbias is [B, H, Nq, Nk] of any float dtype: attention() sums it to the bias's shape and dtype. */
export interface AttentionGrads { dq: Tensor | null; dk: Tensor | null; dv: Tensor | null; dbias: Tensor | null }

/** What a training forward gives: its output, the tensors its gradient reads, and the gradient. */
export interface AttentionTape {
  out: Tensor;
  /**
   * What backward reads. The tape keeps its own views of them until backward has used them;
   * attention() disposes those the mechanism made (all but q, k, v, the mask, the bias and out).
   */
  saved: Tensor[];
  /** With recording off: the gradients from out's gradient g and the tape's views of `saved`, in order. New tensors. */
  backward(g: Tensor, saved: readonly Tensor[], needs: AttentionNeeds): AttentionGrads;
}

/** The patch grid of a model's tokens: `prefixTokens` leading tokens (a class token), then height x width patches, row-major. */
export interface TokenGrid {
  height: number;
  width: number;
  prefixTokens: number;
}

/** The layer a mechanism's module is made for (MultiHeadAttention passes its own). */
export interface MechanismGeometry {
  /** The embedding width E = heads · headDim. */
  dim: number;
  heads: number;
  /** N, when the model fixes it (a ViT: its patches and class token). */
  tokens?: number;
  /** The tokens' patch grid, when the model has one. */
  grid?: TokenGrid;
}

export interface AttentionMechanism {
  /**
   * Optional: a mechanism with parameters of its own, or one that needs the layer's geometry
   * or mixes the tokens itself, makes a module per layer. MultiHeadAttention makes it from
   * its configuration (the options, less `mechanism`) and calls it instead of attention().
   * Throws a TypeError or RangeError naming `fn` for malformed options.
   */
  createModule?(fn: string, options: Record<string, unknown>, geometry: MechanismGeometry, init: InitOptions): AttentionModule;
  /**
   * Optional: throws a TypeError or RangeError naming `fn` when the mechanism-specific
   * options (inputs.extra) are malformed; attention() calls it before notSupportedReasons().
   */
  checkInputs?(fn: string, inputs: AttentionInputs): void;
  /** Why this mechanism cannot serve these inputs; empty when it can. */
  notSupportedReasons(inputs: AttentionInputs): string[];
  /**
   * Whether forward() applies inputs.dropout to the probabilities. attention() refuses
   * options.dropout > 0 for a mechanism without it, rather than leave the dropout out.
   */
  supportsDropout?: boolean;
  /** Whether it reads inputs.keyRanges (options.attnBias); attention() refuses an attnBias for a mechanism without it. */
  supportsKeyRanges?: boolean;
  /** Whether it takes k and v with fewer heads than q (grouped-query attention); attention() refuses them otherwise. */
  supportsGroupedKV?: boolean;
  /**
   * Computes the attention: returns a contiguous [B, Nq, H, D] tensor in q's dtype. A
   * mechanism that only works as a module (createModule) throws here, saying so.
   */
  forward(inputs: AttentionInputs): Tensor;
  /**
   * Optional: forward() when q, k, v or the bias require grad (recording on), with what its
   * gradient needs; attention() records it on the tape. A mechanism without one must record
   * its own gradient in forward() (built from ops that record, or customOp), else attention()
   * refuses inputs that require grad.
   */
  forwardWithGrad?(inputs: AttentionInputs, needs: AttentionNeeds): AttentionTape;
  /**
   * Optional: what the native encoder block needs to compute this mechanism's attention
   * with these options, or null where it cannot (the block then runs op by op, and
   * forward() says what is wrong, if anything). Only the options it serves exactly.
   */
  blockPlan?(request: BlockPlanRequest): BlockAttention | null;
}

const mechanisms = new Map<string, AttentionMechanism>();

/** Registers (or replaces) a mechanism under `name`. */
export function registerAttention(name: string, mechanism: AttentionMechanism): void {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('registerAttention: expected name to be a non-empty string');
  if (!mechanism || typeof mechanism.forward !== 'function' || typeof mechanism.notSupportedReasons !== 'function') {
    throw new TypeError('registerAttention: expected mechanism to have forward() and notSupportedReasons()');
  }
  mechanisms.set(name, mechanism);
}

/** The registered mechanism names. */
export function attentionMechanisms(): string[] {
  return [...mechanisms.keys()];
}

export function getAttention(name: string): AttentionMechanism | undefined {
  return mechanisms.get(name);
}
