// Attention patterns: which keys each query may attend to, as dense 0/1 matrices on the host,
// after xFormers' xformers/components/attention/attention_patterns.py and its sparsity configs.
// Every generator is plain TypeScript (no native code) and every random one takes a seed, so
// the same call gives the same pattern on every machine.
export { Pattern, union, intersection, withClassToken } from './pattern';
export type { PatternLike, ProbabilityMatrix } from './pattern';
export { local1d, local2d, localNd, axial2d, globalTokens, causal, swin, dilated } from './local';
export { random, gaussian2d, randomFromProbability, gaussianNeighbours, vitNotebook } from './random';
export { layoutToPattern, bigBird } from './layouts';
