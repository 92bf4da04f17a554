// What the training benchmarks share: a model's parameters made trainable, the library's
// training exports that may not be in this build yet (AdamW, GradScaler, crossEntropy: looked
// up when the suite runs, so that it reports "not available" instead of failing to load),
// and the note a case that cannot run leaves in the results.
import type { Module } from '../../nn/module';
import type { Tensor } from '../../tensor';

/** The parts of the training section: ViT forward + backward (with the scaling case), a training step, the attention backward sweep. */
export const TRAINING_PARTS = ['fb', 'step', 'attention'] as const;
export type TrainingPart = (typeof TRAINING_PARTS)[number];

/** Each part's `params.suite`, which tells its measurements from the forward sections' in a results file. */
export const SUITE_OF: Record<TrainingPart, string> = { fb: 'training-fb', step: 'training-step', attention: 'attention-backward' };

/** The model's parameter tensors, whether parameters() gives a Map by name or a list. */
export function parameterTensors(model: Module): Tensor[] {
  const ps = model.parameters() as unknown;
  return ps instanceof Map ? [...(ps as Map<string, Tensor>).values()] : [...(ps as Iterable<Tensor>)];
}

/** Puts the model in training mode, every parameter requiring grad (where train() did not already); returns them. */
export function makeTrainable(model: Module): Tensor[] {
  model.train();
  const params = parameterTensors(model);
  for (const p of params) if (!p.requiresGrad) p.requiresGrad_(true);
  return params;
}

// Where an export of the training kit may live: the package index first (the public API),
// then the modules DESIGN.md places the optimizers in.
const CANDIDATE_MODULES = ['../../index', '../../optim', '../../nn/optim'];

/** A named export of the library, or null when no module of this build has it. */
export function optionalExport<T>(name: string): T | null {
  for (const id of CANDIDATE_MODULES) {
    let mod: Record<string, unknown>;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(id) as Record<string, unknown>;
    } catch (e) {
      const err = e as { code?: string; message?: string };
      if (err?.code === 'MODULE_NOT_FOUND' && String(err.message).includes(id.replace('../../', ''))) continue;
      throw e;
    }
    if (mod[name] !== undefined) return mod[name] as T;
  }
  return null;
}

/**
 * Why a case did not run, for the results' skipped list: out of memory, a gradient or kernel
 * this build does not have yet ("not available"), or any other failure ("failed"), so that
 * one case cannot end a device run that measures everything else.
 */
export function skipNote(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const message = String(err?.message ?? e).split('\n')[0];
  if (err?.code === 'ERR_CUDA_OOM') return `out of memory: ${message}`;
  if (/has no gradient yet|not built yet|not available|does not require grad/.test(message)) return `not available: ${message}`;
  return `failed: ${message}`;
}
