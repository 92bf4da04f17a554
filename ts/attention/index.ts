export { attention, splitQkv, broadcastView } from './attention';
export type { AttentionOptions } from './attention';
export { registerAttention, attentionMechanisms } from './registry';
export type { AttentionMechanism, AttentionInputs } from './registry';
export * as patterns from './patterns';
export type { Pattern, PatternLike, ProbabilityMatrix } from './patterns';
export {
  SparseMask, BlockSparseLayout, buildSparseSchedule, SPARSE_SEGMENT, SPARSE_LEAD_FACTOR, SPARSE_LEAD_MIN, SPARSE_BLOCK_MIN_DENSITY, SPARSE_BLOCK_MIN_FILL, BLOCK_SIZES,
} from './sparse';
export type {
  SparseSchedule, SparseExplanation, SparseMaskOptions, BlockSparseLayoutOptions, SparsePath, DensePattern, DenseInput, QueryLike,
} from './sparse';
