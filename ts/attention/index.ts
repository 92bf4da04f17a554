export { attention, splitQkv, broadcastView } from './attention';
export type { AttentionOptions } from './attention';
export { registerAttention, attentionMechanisms } from './registry';
export type { AttentionMechanism, AttentionInputs } from './registry';
export * as patterns from './patterns';
export type { Pattern, PatternLike, ProbabilityMatrix } from './patterns';
