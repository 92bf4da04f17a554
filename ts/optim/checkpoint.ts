// Training checkpoints: a directory of two safetensors files, written through ts/io.
//   model.safetensors     the model's parameters by their parameters() names (timm's), nothing
//                         else, so that timm loads it as it is (load_checkpoint, strict)
//   training.safetensors  the optimizer's state tensors ("optimizer." + their stateDict names),
//                         and in its metadata the optimizer's plain state, the GradScaler's
//                         and the schedule's state and the step, as JSON
// Both files carry one checkpoint id, so that a directory whose save was interrupted between
// the two files is refused on load rather than resumed from mismatched halves.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidParameterError, operationError, rangeError } from '../errors';
import { entryToTensor, readSafetensors, saveSafetensors, SafetensorsFile } from '../io/safetensors';
import { native } from '../native';
import { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { GradScaler, GradScalerState } from './grad_scaler';
import { Optimizer, OptimizerMeta } from './optimizer';
import { LRScheduler, LRSchedulerState } from './schedules';

export const MODEL_FILE = 'model.safetensors';
export const TRAINING_FILE = 'training.safetensors';
const ID_KEY = 'nodeformers.checkpoint';
const TRAINING_KEY = 'nodeformers.training';
const OPTIMIZER_PREFIX = 'optimizer.';

/** What a checkpoint holds; only the model is required. */
export interface CheckpointParts {
  model: Module;
  optimizer?: Optimizer;
  scaler?: GradScaler;
  scheduler?: LRScheduler;
  /** The training step it was taken at (for the caller to resume its loop from). */
  step?: number;
}

interface TrainingMeta {
  step?: number;
  optimizer?: OptimizerMeta;
  scaler?: GradScalerState;
  scheduler?: LRSchedulerState;
}

function checkParts(fn: string, dir: unknown, parts: unknown): CheckpointParts {
  if (typeof dir !== 'string' || dir === '') throw invalidParameterError(fn, 'dir', 'a directory path', dir);
  const p = parts as CheckpointParts;
  if (parts === null || typeof parts !== 'object' || !(p.model instanceof Module)) throw invalidParameterError(fn, 'parts.model', 'a Module', p?.model);
  if (p.optimizer !== undefined && !(p.optimizer instanceof Optimizer)) throw invalidParameterError(fn, 'parts.optimizer', 'an Optimizer', p.optimizer);
  if (p.scaler !== undefined && !(p.scaler instanceof GradScaler)) throw invalidParameterError(fn, 'parts.scaler', 'a GradScaler', p.scaler);
  if (p.scheduler !== undefined && !(p.scheduler instanceof LRScheduler)) throw invalidParameterError(fn, 'parts.scheduler', 'an LRScheduler', p.scheduler);
  return p;
}

/**
 * Saves a checkpoint into directory `dir` (made if missing): the model's weights in timm's
 * names (model.safetensors), and the optimizer, scaler, schedule and step given
 * (training.safetensors). Each file is replaced atomically.
 */
export async function saveCheckpoint(dir: string, parts: CheckpointParts): Promise<void> {
  const fn = 'saveCheckpoint';
  const { model, optimizer, scaler, scheduler, step } = checkParts(fn, dir, parts);
  if (step !== undefined && !(Number.isSafeInteger(step) && step >= 0)) throw rangeError(fn, `parts.step must be a non-negative integer, got ${step}`);
  const id = randomUUID();
  const state = optimizer?.stateDict();
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of state?.tensors ?? []) tensors.set(OPTIMIZER_PREFIX + name, t);
  const meta: TrainingMeta = { step, optimizer: state?.meta, scaler: scaler?.stateDict(), scheduler: scheduler?.stateDict() };
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    // The training half first: a save cut short leaves the old model file, whose id then differs.
    await saveSafetensors(path.join(dir, TRAINING_FILE), tensors, { [ID_KEY]: id, [TRAINING_KEY]: JSON.stringify(meta) });
    await saveSafetensors(path.join(dir, MODEL_FILE), model.parameters(), { format: 'pt', [ID_KEY]: id });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/**
 * Loads a checkpoint saved by saveCheckpoint into the parts given: the model's parameters are
 * overwritten in place (each converted to its parameter's dtype and device), so an optimizer
 * made over them stays valid; then the optimizer's, scaler's and schedule's states. Every
 * parameter must be in the file, with its shape, and nothing else. Returns the saved step.
 */
export async function loadCheckpoint(dir: string, parts: Omit<CheckpointParts, 'step'>): Promise<{ step: number | undefined }> {
  const fn = 'loadCheckpoint';
  const { model, optimizer, scaler, scheduler } = checkParts(fn, dir, parts);
  const [weights, training] = await Promise.all([readSafetensors(path.join(dir, MODEL_FILE)), readSafetensors(path.join(dir, TRAINING_FILE))]);
  if (weights.metadata[ID_KEY] === undefined || weights.metadata[ID_KEY] !== training.metadata[ID_KEY]) {
    throw operationError(fn, `'${dir}': ${MODEL_FILE} and ${TRAINING_FILE} are from different saves (one was interrupted?)`);
  }
  let meta: TrainingMeta;
  try {
    meta = JSON.parse(training.metadata[TRAINING_KEY] ?? '') as TrainingMeta;
  } catch (e) {
    throw operationError(fn, `'${dir}': ${TRAINING_FILE} has no readable training state`, e);
  }
  for (const [name, what] of [['optimizer', optimizer], ['scaler', scaler], ['scheduler', scheduler]] as const) {
    if (what !== undefined && meta[name] === undefined) throw operationError(fn, `'${dir}' holds no ${name} state`);
  }
  loadWeights(fn, dir, model, weights);
  if (optimizer !== undefined) {
    const tensors = new Map<string, Tensor>();
    try {
      for (const [name, entry] of training.tensors) {
        if (name.startsWith(OPTIMIZER_PREFIX)) tensors.set(name.slice(OPTIMIZER_PREFIX.length), entryToTensor(entry, { dtype: 'float32' }));
      }
      optimizer.loadStateDict({ tensors, meta: meta.optimizer as OptimizerMeta });
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }
  if (scaler !== undefined) scaler.loadStateDict(meta.scaler as GradScalerState);
  if (scheduler !== undefined) scheduler.loadStateDict(meta.scheduler as LRSchedulerState);
  return { step: meta.step };
}

/** Copies the file's weights into the model's parameters, in place, after checking that they fit. */
function loadWeights(fn: string, dir: string, model: Module, file: SafetensorsFile): void {
  const params = model.parameters();
  const problems: string[] = [];
  for (const [name, p] of params) {
    const e = file.tensors.get(name);
    if (e === undefined) problems.push(`missing '${name}'`);
    else if (e.shape.length !== p.rank || e.shape.some((d, i) => d !== p.shape[i])) {
      problems.push(`'${name}' is [${e.shape.join(', ')}] in the file, [${p.shape.join(', ')}] in the model`);
    }
  }
  for (const name of file.tensors.keys()) if (!params.has(name)) problems.push(`unexpected '${name}'`);
  if (problems.length > 0) throw operationError(fn, `'${dir}': the weights do not fit the model: ${problems.join('; ')}`);
  for (const [name, p] of params) {
    const src = entryToTensor(file.tensors.get(name)!, { dtype: p.dtype, device: p.device as 'cpu' | `cuda:${number}` });
    try {
      native().copy(p, src);
      p._bumpVersion();
    } finally {
      src.dispose();
    }
  }
}
