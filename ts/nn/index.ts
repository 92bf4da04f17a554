export { Module, ModuleList } from './module';
export { Linear, LayerNorm, MLP, MultiHeadAttention, EncoderBlock, PatchEmbed } from './layers';
export type { InitOptions, AttentionConfig } from './layers';
export { crossEntropy, mseLoss } from './losses';
export type { CrossEntropyOptions, LossReduction, MseLossOptions } from './losses';
export { clipGradNorm } from './clip_grad';
export type { ClipGradNormOptions } from './clip_grad';
