// nodeformers: xFormers-style Transformer building blocks for Node.js.
export { DTYPES, FLOAT_DTYPES } from './dtype';
export type { DType, FloatDType, Device, DeviceLike, DataFor } from './dtype';
export { Tensor, tensor, empty, zeros, ones, full, randn, rand, tidy, keep } from './tensor';
export type { TensorOptions, RandomOptions } from './tensor';
export { backends, cuda } from './cuda';
export type { CudaMemory, CudaDeviceInfo } from './cuda';
export { attention, splitQkv, registerAttention, attentionMechanisms } from './attention';
export type { AttentionOptions, AttentionMechanism, AttentionInputs } from './attention';
export { readSafetensors, parseSafetensors, saveSafetensors, serializeSafetensors, entryToTensor, entryValues } from './io/safetensors';
export type { SafetensorsFile, SafetensorsEntry, SafetensorsDType } from './io/safetensors';
export * from './ops';
export * from './nn';
export { VisionTransformer, buildViT, loadTimmViT, sweep } from './models/vit';
export type { ViTConfig, BuildOptions } from './models/vit';
export {
  benchmark, Measurement, compare, Comparison, toMarkdown, toCSV, runSweep, plotMeasurements, hostBenchmark,
  toJSON as measurementsToJSON, fromJSON as measurementsFromJSON,
} from './bench';
export type {
  BenchmarkOptions, MeasurementJSON, MeasurementParams, CompareOptions, SweepOptions, SweepResult, SkippedCase, PlotOptions,
  HostBenchmarkOptions, HostMeasurement,
} from './bench';
