// The typed functional ops: every argument is checked here, before native code runs.
export {
  activation, biasActivation, relu, gelu, geluTanh, leakyRelu, squaredRelu, smelu, starRelu, ACTIVATIONS, ACTIVATION_DEFAULTS,
} from './activation';
export type { ActivationName, ActivationConfig, ActivationSpec } from './activation';
export { linear, matmul } from './linear';
export type { LinearOptions, MatmulOptions } from './linear';
export { layerNorm, rmsNorm } from './norm';
export { softmax } from './softmax';
export type { SoftmaxOptions } from './softmax';
export { add, sub, mul, residualAdd, concat, slice, permute, transpose, mean } from './elementwise';
export { div } from './elementwise';
export type { BinaryOptions, MeanOptions } from './elementwise';
export { patchEmbed } from './patch';
export { depthwiseConv2d } from './depthwise_conv';
export type { DepthwiseConv2dOptions } from './depthwise_conv';
export { avgPool2d } from './avg_pool';
export type { AvgPool2dOptions } from './avg_pool';
export { fourierMix } from './fourier_mix';
export { dropout, dropPath } from './dropout';
export type { DropoutOptions } from './dropout';
export type { OutOptions } from './checks';
export { topk, argmax } from './topk';
export type { TopK } from './topk';
