// nodeformers: xFormers-style Transformer building blocks for Node.js.
export { DTYPES, FLOAT_DTYPES } from './dtype';
export type { DType, FloatDType, Device, DeviceLike, DataFor } from './dtype';
export { Tensor, tensor, empty, zeros, ones, full, randn, rand, tidy, keep } from './tensor';
export type { TensorOptions, RandomOptions } from './tensor';
export { backends, cuda } from './cuda';
export { cpu } from './cpu';
export { captureGraph, CapturedForward, CudaGraph } from './graph';
export type { CaptureOptions } from './graph';
export type { CudaMemory, CudaDeviceInfo } from './cuda';
export { Kernel, loadKernel, loadTritonKernel } from './kernels';
export type {
  CompileError, CompileOptions, Dim3, FixedLaunch, KernelArg, KernelAttributes, KernelOrigin, LaunchConfig, LoadKernelOptions,
  TritonKernelOptions,
} from './kernels';
export { patterns } from './attention';
export type { Pattern, PatternLike, ProbabilityMatrix } from './attention';
export { attnBias, AttentionBias } from './attention';
export type { BlockDiagonalOptions, CausalAlignment } from './attention';
export {
  attention, splitQkv, registerAttention, attentionMechanisms, builtInAttentionMechanisms, AttentionModule,
  SparseMask, BlockSparseLayout, SPARSE_BLOCK_MIN_DENSITY, SPARSE_BLOCK_MIN_FILL, BLOCK_SIZES,
} from './attention';
export type {
  AttentionOptions, AttentionMechanism, AttentionInputs, AttentionDropout, AttentionPrecision, BlockAttention, BlockPlanRequest,
  AttentionNeeds, AttentionGrads, AttentionTape, SparseExplanation, SparseMaskOptions, BlockSparseLayoutOptions, SparsePath, DensePattern,
  DenseInput, QueryLike, MechanismGeometry, TokenGrid,
} from './attention';
export { readSafetensors, parseSafetensors, saveSafetensors, serializeSafetensors, entryToTensor, entryValues } from './io/safetensors';
export type { SafetensorsFile, SafetensorsEntry, SafetensorsDType } from './io/safetensors';
export * from './ops';
export { RandomGenerator, defaultGenerator, manualSeed, DEFAULT_SEED } from './generator';
export type { GeneratorState } from './generator';
export { backward, zeroGrad, isGradEnabled, noGrad, customOp, gradcheck } from './autograd';
export type { CustomOpContext, CustomOpDefinition, GradcheckOptions } from './autograd';
export * from './nn';
export * from './optim';
export { VisionTransformer, buildViT, loadTimmViT, sweep } from './models/vit';
export { CapturedDataParallel, chunkSizes, dataParallel, DataParallel } from './models/parallel';
export type { ViTConfig, BuildOptions } from './models/vit';
export {
  benchmark, Measurement, compare, Comparison, toMarkdown, toCSV, runSweep, plotMeasurements, hostBenchmark,
  toJSON as measurementsToJSON, fromJSON as measurementsFromJSON,
} from './bench';
export type {
  BenchmarkOptions, MeasurementJSON, MeasurementParams, CompareOptions, SweepOptions, SweepResult, SkippedCase, PlotOptions,
  HostBenchmarkOptions, HostMeasurement,
} from './bench';
// From a name or a directory to answers (issue 27): models by name, pretrained directories, images in.
export { createModel, listModels } from './models/registry';
export type { CreateModelOptions } from './models/registry';
export { loadPretrained } from './models/pretrained';
export type { LoadPretrainedOptions, Pretrained } from './models/pretrained';
export { imagesToTensor, decodeImage, evalGeometry, INTERPOLATIONS } from './image/preprocess';
export type { PreprocessConfig, Interpolation, ImageInput, ImagesToTensorOptions, RgbImage, EvalGeometry, Resampler } from './image/preprocess';
// A server's own batching: one image's row at a time (examples/server).
export { preprocessImage } from './image/preprocess';
export type { PreprocessImageOptions } from './image/preprocess';
export { classify, defaultPreprocess } from './models/classify';
export type { Classification, ClassifyOptions } from './models/classify';
export { inspectTensor } from './tensor_inspect';
