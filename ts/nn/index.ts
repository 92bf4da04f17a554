export { Module, ModuleList } from './module';
export { Linear, LayerNorm, MLP, MultiHeadAttention, EncoderBlock, PatchEmbed } from './layers';
export type { InitOptions, AttentionConfig } from './layers';
