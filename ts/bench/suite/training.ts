// The notebook's "Forward + backward" rows and a training step (issue 25), beside timm on
// PyTorch in the same run (bench/peers/training.py):
//   fb    model(x).sum().backward() (the notebook's statement: here the backward of the logits
//         given a gradient of ones) for vanilla, sparse (the notebook mask) and memory_efficient,
//         in each dtype, with peak memory; on CUDA the scaling case (patch 2, 12545 tokens,
//         batch 8, float16, sparse against dense). Peers: timm eager SDPA, the mask through SDPA
//         (a dense boolean) and through FlexAttention's BlockMask, torch.compile.
//   step  one AdamW step with loss scaling (float16 on CUDA): zeroGrad, forward, cross-entropy,
//         backward, step; in images/s. Peers: fused AdamW under autocast float16 with a
//         GradScaler, eager and under torch.compile.
// The attention backward sweep is attention_backward.ts. A case whose gradient, kernel or
// optimizer is not in this build is skipped with the reason (training_kit.ts: skipNote).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SparseMask } from '../../attention';
import { Device, FloatDType } from '../../dtype';
import { buildViT, ViTConfig } from '../../models/vit';
import type { AttentionConfig } from '../../nn/layers';
import { mean } from '../../ops';
import { full, rand, Tensor, tensor } from '../../tensor';
import { zeroGrad } from '../../autograd';
import { benchmark, Measurement } from '../timer';
import { benchAttentionBackward } from './attention_backward';
import { peerMeasurement, PeerOutput, runPeer, writeCsr } from './peers';
import { makeTrainable, optionalExport, skipNote, SUITE_OF, TRAINING_PARTS, TrainingPart } from './training_kit';
import { NOTEBOOK_VIT, scalingViTMask, SEED_CASES, sparseViTAttention } from './vit';

export interface TrainingBenchOptions {
  device: Device;
  /** The forward + backward rows' dtypes (the training step runs float16 on CUDA, float32 on the CPU). */
  dtypes: FloatDType[];
  batch: number;
  minRunTime: number;
  /** Of 'vanilla', 'sparse', 'memory_efficient' (default all three). */
  mechanisms?: string[];
  /** Which parts to run (default all): 'fb', 'step', 'attention'. */
  parts?: readonly TrainingPart[];
  peers: boolean;
  /** Time timm under torch.compile too (slow to compile). */
  compile: boolean;
  /** On CUDA, the scaling case's forward + backward (default true). */
  scaling?: boolean;
  /** Fewer attention backward cases. */
  quick?: boolean;
  /** The model (default the notebook ViT); the sparse mask follows its patch grid. */
  config?: ViTConfig;
  log: (line: string) => void;
}

export interface TrainingBenchResult {
  /** Every row, ours and the peers', each with params.suite naming its part. */
  measurements: Measurement[];
  skipped: string[];
  torch: string | null;
  timm: string | null;
}

/** The peer every forward + backward table's ratios are taken against. */
export const FB_BASELINE = 'PyTorch timm eager SDPA';
/** The training step's peers: their names in bench/peers/training.py, with 'PyTorch ' before them. */
export const STEP_EAGER = 'PyTorch timm eager (fused AdamW, autocast float16, GradScaler)';
export const STEP_COMPILE = 'PyTorch timm torch.compile (fused AdamW, autocast float16, GradScaler)';

export const fbLabel = (dtype: FloatDType, batch: number, device: Device) => `ViT forward + backward, ${dtype}, batch ${batch}, ${device}`;
export const SCALING_BATCH = 8;
export const scalingLabel = (device: Device) => `Scaling forward + backward: ViT patch 2 (12545 tokens), float16, batch ${SCALING_BATCH}, ${device}`;
export const stepLabel = (dtype: FloatDType, batch: number, device: Device) =>
  `Training step: AdamW, ${dtype === 'float16' ? 'float16 with loss scaling' : dtype}, batch ${batch}, ${device}`;

/** What the seed-format lines print as the statement timed (the notebook's). */
const FB_STATEMENT = 'model(x).sum().backward()';

interface PeerCase { label: string; params: Record<string, string | number | boolean>; case: Record<string, unknown> }

export function benchTraining(o: TrainingBenchOptions): TrainingBenchResult {
  const result: TrainingBenchResult = { measurements: [], skipped: [], torch: null, timm: null };
  const parts = o.parts ?? TRAINING_PARTS;
  const gpu = o.device !== 'cpu';
  const config = o.config ?? NOTEBOOK_VIT;
  const peerCases: PeerCase[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-train-'));
  try {
    if (parts.includes('fb')) {
      fbRows(o, config, result, peerCases, dir);
      const wanted = o.mechanisms ?? SEED_CASES.map(([, m]) => m);
      if (gpu && (o.scaling ?? true) && wanted.includes('sparse')) scalingRows(o, result, peerCases, dir);
    }
    if (parts.includes('step')) stepRows(o, config, result, peerCases);
    if (o.peers && gpu && peerCases.length > 0) {
      const theirs = runPeer('training.py', peerCases.map((c) => ({ ...c.case, minRunTime: o.minRunTime })), o.log);
      if (theirs) addPeers(theirs, peerCases, o.device, result);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (parts.includes('attention')) {
    const a = benchAttentionBackward({ device: o.device, dtypes: o.dtypes, quick: o.quick ?? false, minRunTime: gpu ? o.minRunTime / 4 : o.minRunTime,
      peers: o.peers, log: o.log });
    result.measurements.push(...a.measurements);
    result.skipped.push(...a.skipped);
    result.torch ??= a.torch;
  }
  return result;
}

interface Row { label: string; subLabel: string; title: string; statement: string; params: Record<string, string | number | boolean> }

/** Times fn (one forward + backward, or a step) with its params, logging it in the seed's shape; a case that cannot run is a note in skipped. */
function timed(o: TrainingBenchOptions, result: TrainingBenchResult, fn: () => void, m: Row): Measurement | null {
  try {
    const r = benchmark(fn, { device: o.device, minRunTime: o.minRunTime, label: m.label, subLabel: m.subLabel, params: m.params });
    const p = m.params;
    o.log(`${m.title}\n${r.relabel({ label: m.statement, subLabel: '', description: `${p.mechanism}, ${p.dtype}, batch ${p.batch}` }).toString()}\n`);
    result.measurements.push(r);
    return r;
  } catch (e) {
    const note = skipNote(e);
    o.log(`${m.title}: skipped (${note})\n`);
    result.skipped.push(`${m.label} / ${m.subLabel}: ${note}`);
    return null;
  }
}

/** One forward + backward of the model, the logits' gradient all ones (= .sum().backward()). */
function forwardBackward(model: { forward(x: Tensor): Tensor }, images: Tensor, ones: Tensor): () => void {
  return () => {
    const out = model.forward(images);
    try {
      out.backward(ones);
    } finally {
      out.dispose();
    }
  };
}

function withModel(config: ViTConfig, device: Device, dtype: FloatDType, fn: (model: ReturnType<typeof buildViT>, params: Tensor[]) => void): void {
  const model = buildViT(config, { device, dtype, seed: 0 });
  try {
    fn(model, makeTrainable(model));
  } finally {
    model.dispose();
  }
}

function fbRows(o: TrainingBenchOptions, config: ViTConfig, result: TrainingBenchResult, peerCases: PeerCase[], dir: string): void {
  const wanted = o.mechanisms ?? SEED_CASES.map(([, m]) => m);
  const size = config.img_size ?? 224, patch = config.patch_size ?? 16;
  const sparse = wanted.includes('sparse') ? sparseViTAttention(o.device, 0, size / patch) : null;
  try {
    if (typeof sparse === 'string') result.skipped.push(`Sparse ViT forward + backward: ${sparse}`);
    const csr = sparse && typeof sparse !== 'string' ? writeCsr(dir, 'notebook', sparse.mask as SparseMask) : null;
    for (const dtype of o.dtypes) {
      const label = fbLabel(dtype, o.batch, o.device);
      const images = rand([o.batch, 3, size, size], { device: o.device, dtype, seed: 0 });
      const ones = full([o.batch, config.num_classes ?? 1000], 1, { device: o.device, dtype });
      try {
        for (const [title, mechanism] of SEED_CASES) {
          if (!wanted.includes(mechanism)) continue;
          const attention: AttentionConfig | string | null = mechanism === 'sparse' ? sparse : { mechanism };
          if (attention === null || typeof attention === 'string') continue;
          withModel({ ...config, attention }, o.device, dtype, (model, params) => {
            timed(o, result, forwardBackward(model, images, ones), {
              label, subLabel: `nodeformers ${mechanism}`, title: `${title}, forward + backward`, statement: FB_STATEMENT,
              params: { suite: SUITE_OF.fb, model: 'vit', mechanism, dtype, batch: o.batch },
            });
            zeroGrad(params);
          });
        }
      } finally {
        images.dispose();
        ones.dispose();
      }
      const variants = ['sdpa', ...(csr ? ['sdpa_masked', 'flex'] : []), ...(o.compile ? ['compile'] : [])];
      peerCases.push({
        label,
        params: { suite: SUITE_OF.fb, model: 'vit', dtype, batch: o.batch },
        case: { kind: 'fb', dtype, batch: o.batch, patch: 16, variants, ...(csr ? { csr, mask: 'the notebook mask' } : {}) },
      });
    }
  } finally {
    if (sparse && typeof sparse !== 'string') (sparse.mask as SparseMask).dispose();
  }
}

/** The scaling case (CUDA): patch 2, 12545 tokens, batch 8, float16; sparse (99.4% sparse mask) against dense memory_efficient. */
function scalingRows(o: TrainingBenchOptions, result: TrainingBenchResult, peerCases: PeerCase[], dir: string): void {
  const dtype: FloatDType = 'float16';
  const label = scalingLabel(o.device);
  const mask = scalingViTMask(o.device);
  const images = rand([SCALING_BATCH, 3, 224, 224], { device: o.device, dtype, seed: 0 });
  const ones = full([SCALING_BATCH, NOTEBOOK_VIT.num_classes ?? 1000], 1, { device: o.device, dtype });
  try {
    for (const [name, attention] of [['memory_efficient', { mechanism: 'memory_efficient' }], ['sparse', { mechanism: 'sparse', mask }]] as const) {
      withModel({ ...NOTEBOOK_VIT, patch_size: 2, attention }, o.device, dtype, (model, params) => {
        timed(o, result, forwardBackward(model, images, ones), {
          label, subLabel: `nodeformers ${name}`, title: `Benchmarking ViT patch 2 (12545 tokens), ${name}, forward + backward`, statement: FB_STATEMENT,
          params: { suite: SUITE_OF.fb, model: 'vit-patch2', mechanism: name, dtype, batch: SCALING_BATCH, density: name === 'sparse' ? mask.density : 1 },
        });
        zeroGrad(params);
      });
    }
    peerCases.push({
      label,
      params: { suite: SUITE_OF.fb, model: 'vit-patch2', dtype, batch: SCALING_BATCH },
      // SDPA with a 12545 x 12545 boolean mask is left out: dense work and an N x N bias, as in bench/peers/sparse.py.
      case: { kind: 'fb', dtype, batch: SCALING_BATCH, patch: 2, variants: ['sdpa', 'flex'], csr: writeCsr(dir, 'scaling', mask), mask: 'the 99.4% sparse mask' },
    });
  } finally {
    images.dispose();
    ones.dispose();
    mask.dispose();
  }
}

interface Optimizer { step(): unknown; zeroGrad(): unknown; dispose?(): unknown }
interface Scaler { scale(loss: Tensor): Tensor; step(opt: Optimizer): unknown; update(): unknown; dispose?(): unknown }

/** A training step of the model with memory_efficient attention: AdamW, and on CUDA float16 with a GradScaler. */
function stepRows(o: TrainingBenchOptions, config: ViTConfig, result: TrainingBenchResult, peerCases: PeerCase[]): void {
  const gpu = o.device !== 'cpu';
  const dtype: FloatDType = gpu ? 'float16' : 'float32';
  const label = stepLabel(dtype, o.batch, o.device);
  const mechanism = 'memory_efficient';
  const subLabel = `nodeformers ${mechanism}`;
  const params = { suite: SUITE_OF.step, model: 'vit', mechanism, dtype, batch: o.batch };
  if (gpu) peerCases.push({ label, params, case: { kind: 'step', batch: o.batch, compile: o.compile } });
  const AdamW = optionalExport<new (params: unknown, options: { lr: number }) => Optimizer>('AdamW');
  const GradScaler = dtype === 'float16' ? optionalExport<new () => Scaler>('GradScaler') : null;
  const missing = [...(AdamW ? [] : ['AdamW']), ...(dtype === 'float16' && !GradScaler ? ['GradScaler'] : [])];
  if (missing.length > 0) {
    const note = `not available: no ${missing.join(' or ')} in this build (ts/optim)`;
    o.log(`Training step: skipped (${note})\n`);
    result.skipped.push(`${label} / ${subLabel}: ${note}`);
    return;
  }
  const crossEntropy = optionalExport<(logits: Tensor, labels: Tensor) => Tensor>('crossEntropy');
  const size = config.img_size ?? 224, classes = config.num_classes ?? 1000;
  const images = rand([o.batch, 3, size, size], { device: o.device, dtype, seed: 0 });
  const labels = tensor(Int32Array.from({ length: o.batch }, (_, i) => (i * 7919) % classes), [o.batch], { dtype: 'int32', device: o.device });
  // Without crossEntropy in this build, the mean logit stands in for the loss (the same backward work to a few hundred flops).
  const loss = (logits: Tensor) => (crossEntropy ? crossEntropy(logits, labels) : lossOfMean(logits));
  try {
    withModel({ ...config, attention: { mechanism } }, o.device, dtype, (model) => {
      const opt = new AdamW!(model.parameters(), { lr: 1e-4 });
      const scaler = GradScaler ? new GradScaler() : null;
      const step = () => {
        opt.zeroGrad();
        const logits = model.forward(images);
        const l = loss(logits);
        try {
          if (scaler) {
            const scaled = scaler.scale(l);
            scaled.backward();
            scaled.dispose();
            scaler.step(opt);
            scaler.update();
          } else {
            l.backward();
            opt.step();
          }
        } finally {
          l.dispose();
          logits.dispose();
        }
      };
      try {
        const m = timed(o, result, step, { label, subLabel, title: 'Benchmarking a training step', statement: 'step()', params: { ...params, loss: crossEntropy ? 'crossEntropy' : 'mean' } });
        if (m) o.log(`${(o.batch / m.median).toFixed(0)} images/s\n`);
      } finally {
        opt.zeroGrad();
        opt.dispose?.(); // its state (moments, float32 master weights) where it holds device memory
        scaler?.dispose?.();
      }
    });
  } catch (e) {
    // The optimizer's or scaler's constructor refusing this build's parameters: the same note as a failed step.
    result.skipped.push(`${label} / ${subLabel}: ${skipNote(e)}`);
  } finally {
    images.dispose();
    labels.dispose();
  }
}

function lossOfMean(logits: Tensor): Tensor {
  const rows = mean(logits, 1);
  try {
    return mean(rows, 0);
  } finally {
    rows.dispose();
  }
}

/** The peer's figures as rows of the case's table ('PyTorch ' + the peer's name), or notes where it could not run them. */
function addPeers(theirs: PeerOutput, cases: PeerCase[], device: Device, result: TrainingBenchResult): void {
  result.torch = theirs.torch;
  result.timm = theirs.timm ?? null;
  theirs.results.forEach((r, i) => {
    const c = cases[i];
    for (const [name, t] of Object.entries(r.torch)) {
      const m = peerMeasurement(t, c.label, `PyTorch ${name}`, '', device, { ...c.params, mechanism: name, torch: theirs.torch });
      if (m) result.measurements.push(m);
      else result.skipped.push(`${c.label} / PyTorch ${name}: ${t.error ?? 'no result'}`);
    }
  });
}
