export { attention, splitQkv, broadcastView } from './attention';
export type { AttentionOptions } from './attention';
import { attentionMechanisms } from './registry';
export { registerAttention, attentionMechanisms } from './registry';
export { AttentionModule } from './module';
export type {
  MechanismGeometry, TokenGrid, AttentionMechanism, AttentionInputs, AttentionDropout, AttentionPrecision, BlockAttention, BlockPlanRequest, AttentionNeeds, AttentionGrads, AttentionTape,
} from './registry';
export * as patterns from './patterns';
export * as attnBias from './attn_bias';
export { AttentionBias } from './attn_bias';
export type { BlockDiagonalOptions, CausalAlignment } from './attn_bias';
export type { Pattern, PatternLike, ProbabilityMatrix } from './patterns';
export { SparseMask, SPARSE_BLOCK_MIN_DENSITY, SPARSE_BLOCK_MIN_FILL } from './sparse_mask';
export type { SparseExplanation, SparseMaskOptions, SparsePath, QueryLike } from './sparse_mask';
export { BlockSparseLayout, BLOCK_SIZES } from './block_layout';
export type { BlockSparseLayoutOptions } from './block_layout';
export type { DensePattern, DenseInput } from './mask_input';
import './zoo';

// Taken once the library's own mechanisms are registered (attention.ts and the zoo), before any caller's.
const BUILT_IN = Object.freeze(attentionMechanisms());

/** The mechanisms this library registers, in order; those registered later with registerAttention are not among them. */
export function builtInAttentionMechanisms(): readonly string[] {
  return BUILT_IN;
}
