// Training: optimizers (one fused native step per device and dtype), loss scaling for float16,
// learning-rate schedules, and checkpoints.
export { Optimizer } from './optimizer';
export type { OptimizerOptions, OptimizerStateDict, OptimizerMeta } from './optimizer';
export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { AdamW } from './adamw';
export type { AdamWOptions } from './adamw';
export type { ParamGroup, ParamGroupInput, NamedParameter, ParametersLike, OptimizerParams } from './params';
export { GradScaler } from './grad_scaler';
export type { GradScalerOptions, GradScalerState } from './grad_scaler';
export { LRScheduler, CosineWithWarmup, StepLR, LinearLR } from './schedules';
export type { LRSchedulerState, CosineWithWarmupOptions, StepLROptions, LinearLROptions } from './schedules';
export { saveCheckpoint, loadCheckpoint } from './checkpoint';
export type { CheckpointParts } from './checkpoint';
