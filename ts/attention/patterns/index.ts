// Attention patterns: which keys each query may attend to, as dense 0/1 matrices on the host,
// after xFormers' xformers/components/attention/attention_patterns.py and its sparsity configs,
// and the biases and layouts made from them. Every generator is plain TypeScript (no native
// code) and every random one takes a seed, so the same call gives the same pattern on every
// machine.
export { Pattern, union, intersection, withClassToken } from './pattern';
export type { PatternLike, ProbabilityMatrix } from './pattern';
export { local1d, local2d, localNd, axial2d, globalTokens, causal, swin, dilated, dilated2d } from './local';
export { localNdDistance, horizontalAxial2dDistance, verticalAxial2dDistance } from './distances';
export type { DistanceMatrix } from './distances';
export { random, gaussian2d, randomFromProbability, gaussianNeighbours, vitNotebook } from './random';
export { layoutToPattern, bigBird } from './layouts';
export { fixedLayout, variableLayout, longformerLayout } from './block_layouts';
export type { LayoutDirection, FixedLayoutOptions, VariableLayoutOptions, LongformerLayoutOptions } from './block_layouts';
export { blockSparsify } from './block_sparsify';
export type { BlockSparsifyOptions } from './block_sparsify';
export { alibi, alibiSlopes } from './alibi';
