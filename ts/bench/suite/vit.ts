// The xFormers notebook ViT benchmark (224/16, embed 96, depth 8, 8 heads, mlp 3, no qkv
// bias), forward, printed in the seed's shape — "Benchmarking ViT", "Benchmarking Sparse
// ViT", "Benchmarking Mem efficient ViT", each with its Measurement and "Memory used" —
// then timm on PyTorch (eager SDPA, eager manual attention, torch.compile) in the same run.
import { attentionMechanisms, patterns, SparseMask } from '../../attention';
import { Device, FloatDType } from '../../dtype';
import { buildViT, ViTConfig } from '../../models/vit';
import type { AttentionConfig } from '../../nn/layers';
import { rand } from '../../tensor';
import { benchmark, Measurement } from '../timer';
import { peerMeasurement, PeerOutput, runPeer } from './peers';

export const NOTEBOOK_VIT: ViTConfig = {
  img_size: 224, patch_size: 16, embed_dim: 96, depth: 8, num_heads: 8, mlp_ratio: 3, qkv_bias: false, num_classes: 1000, norm_eps: 1e-5,
};

export interface ViTBenchOptions {
  device: Device;
  dtypes: FloatDType[];
  batch: number;
  minRunTime: number;
  /** The mechanisms to run, of 'vanilla', 'sparse', 'memory_efficient' (default all three). */
  mechanisms?: string[];
  peers: boolean;
  /** Also time timm under torch.compile (slow to compile). */
  compile: boolean;
  log: (line: string) => void;
}

export interface ViTBenchResult {
  /** One per (dtype, mechanism): label 'f(x)' as the seed prints it. */
  measurements: Measurement[];
  /** The same, relabeled for compare(), with the PyTorch peers beside them. */
  summary: Measurement[];
  skipped: string[];
  peers: PeerOutput[];
}

const SEED_CASES: [title: string, mechanism: string][] = [
  ['Benchmarking ViT', 'vanilla'],
  ['Benchmarking Sparse ViT', 'sparse'],
  ['Benchmarking Mem efficient ViT', 'memory_efficient'],
];

/**
 * The attention config of the notebook's Sparse ViT: the notebook mask over all 197 tokens
 * (patterns.vitNotebook covers the class token's row and column), as a SparseMask on the
 * device; or why it cannot be built here.
 */
export function sparseViTAttention(device: Device, seed = 0): AttentionConfig | string {
  if (!attentionMechanisms().includes('sparse')) return "no 'sparse' mechanism in this build";
  try {
    return { mechanism: 'sparse', mask: SparseMask.fromDense(patterns.vitNotebook(14, 14, seed), undefined, { device }) };
  } catch (e) {
    return `the sparse mask could not be built: ${(e as Error).message.split('\n')[0]}`;
  }
}

export function benchViT(o: ViTBenchOptions): ViTBenchResult {
  const result: ViTBenchResult = { measurements: [], summary: [], skipped: [], peers: [] };
  const wanted = o.mechanisms ?? SEED_CASES.map(([, m]) => m);
  for (const dtype of o.dtypes) {
    const label = `ViT forward, ${dtype}, batch ${o.batch}, ${o.device}`;
    const images = rand([o.batch, 3, 224, 224], { device: o.device, dtype, seed: 0 });
    try {
      for (const [title, mechanism] of SEED_CASES) {
        if (!wanted.includes(mechanism)) continue;
        const attention = mechanism === 'sparse' ? sparseViTAttention(o.device) : { mechanism };
        if (typeof attention === 'string') {
          o.log(`${title}: skipped (${attention})\n`);
          result.skipped.push(`${title}, ${dtype}: ${attention}`);
          continue;
        }
        const model = buildViT({ ...NOTEBOOK_VIT, attention }, { device: o.device, dtype, seed: 0 });
        try {
          const m = benchmark(() => model.forward(images).dispose(), {
            device: o.device, minRunTime: o.minRunTime, label: 'f(x)', description: `${mechanism}, ${dtype}, batch ${o.batch}`,
            params: { model: 'vit', mechanism, dtype, batch: o.batch },
          });
          o.log(`${title}\n${m.toString()}${m.peakMemoryBytes === null ? `\nMemory used: n/a (${o.device} has no pool counters)` : ''}\n`);
          result.measurements.push(m);
          result.summary.push(m.relabel({ label, subLabel: `nodeformers ${mechanism}`, description: '' }));
        } catch (e) {
          if ((e as { code?: string }).code !== 'ERR_CUDA_OOM') throw e;
          o.log(`${title}: skipped (out of memory: ${(e as Error).message.split('\n')[0]})\n`);
          result.skipped.push(`${title}, ${dtype}: out of memory`);
        } finally {
          model.dispose();
        }
      }
    } finally {
      images.dispose();
    }
    if (o.peers && o.device !== 'cpu') {
      const theirs = runPeer('vit.py', [{ dtype, batch: o.batch, compile: o.compile, minRunTime: o.minRunTime }], o.log);
      if (theirs) {
        result.peers.push(theirs);
        for (const [name, t] of Object.entries(theirs.results[0]?.torch ?? {})) {
          const m = peerMeasurement(t, label, `PyTorch ${name}`, '', o.device, { model: 'vit', mechanism: name, dtype, batch: o.batch, torch: theirs.torch });
          if (m) result.summary.push(m);
          else result.skipped.push(`PyTorch ${name}, ${dtype}: ${t.error ?? 'no result'}`);
        }
      }
    }
  }
  return result;
}
