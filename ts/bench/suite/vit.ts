// The xFormers notebook ViT benchmark (224/16, embed 96, depth 8, 8 heads, mlp 3, no qkv
// bias), forward, printed in the seed's shape — "Benchmarking ViT", "Benchmarking Sparse
// ViT", "Benchmarking Mem efficient ViT", each with its Measurement and "Memory used" —
// then timm on PyTorch (eager SDPA, eager manual attention, torch.compile) in the same run.
import { attentionMechanisms, patterns, SparseMask } from '../../attention';
import { Device, FloatDType } from '../../dtype';
import { cuda } from '../../cuda';
import { buildViT, ViTConfig } from '../../models/vit';
import type { AttentionConfig } from '../../nn/layers';
import { Random } from '../../random';
import { rand } from '../../tensor';
import { benchmark, Measurement } from '../timer';
import { peerMeasurement, PeerOutput, runPeer } from './peers';

export const NOTEBOOK_VIT: ViTConfig = {
  img_size: 224, patch_size: 16, embed_dim: 96, depth: 8, num_heads: 8, mlp_ratio: 3, qkv_bias: false, num_classes: 1000, norm_eps: 1e-5,
};

/** The notebook ViT's structure (depth 8, 8 heads, mlp 3, no qkv bias) at a size whose GPU work is nothing (one 16 x 16 patch, embed 16): for an eager forward's host cost. */
export const TINY_NOTEBOOK_VIT: ViTConfig = {
  img_size: 16, patch_size: 16, in_chans: 3, num_classes: 10, embed_dim: 16, depth: 8, num_heads: 8, mlp_ratio: 3, qkv_bias: false,
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
  /** On CUDA, also time each forward captured as a CUDA graph (default true). */
  graphs?: boolean;
  /** On CUDA, add the scaling case (patch 2, 12545 tokens, batch 8, sparse against dense). */
  scaling?: boolean;
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

/** The notebook's three cases: the title it prints and the mechanism. */
export const SEED_CASES: [title: string, mechanism: string][] = [
  ['Benchmarking ViT', 'vanilla'],
  ['Benchmarking Sparse ViT', 'sparse'],
  ['Benchmarking Mem efficient ViT', 'memory_efficient'],
];

/**
 * The attention config of the notebook's Sparse ViT: the notebook mask over all 197 tokens
 * (patterns.vitNotebook covers the class token's row and column), as a SparseMask on the
 * device; or why it cannot be built here. `grid`: the patch grid's side (14 for 224/16).
 */
export function sparseViTAttention(device: Device, seed = 0, grid = 14): AttentionConfig | string {
  if (!attentionMechanisms().includes('sparse')) return "no 'sparse' mechanism in this build";
  try {
    return { mechanism: 'sparse', mask: SparseMask.fromDense(patterns.vitNotebook(grid, grid, seed), undefined, { device }) };
  } catch (e) {
    return `the sparse mask could not be built: ${(e as Error).message.split('\n')[0]}`;
  }
}

/**
 * The scaling case's mask: patch 2 gives a 112 x 112 grid, 12545 tokens with the class
 * token; each patch attends to 60 Gaussian neighbours (sigma 16 patches) plus 0.1% random
 * keys, the class token's row and column dense: 99.4% sparse.
 */
export function scalingViTMask(device: Device, seed = 7): SparseMask {
  const side = 112;
  const seeds = new Random(seed);
  const patches = patterns.union(patterns.gaussianNeighbours(side, side, 16, 60, seeds.nextUint32()), patterns.random(side * side, 0.001, seeds.nextUint32()));
  return SparseMask.fromDense(patterns.withClassToken(patches), undefined, { device });
}

/**
 * The scaling case of the summary: the notebook ViT at patch 2 (12545 tokens), batch 8,
 * float16, sparse (the 99.4% sparse mask above, eager and as a CUDA graph) against our
 * dense memory_efficient and timm's eager SDPA at the same size.
 */
function benchScaling(o: ViTBenchOptions, result: ViTBenchResult): void {
  const dtype: FloatDType = 'float16', batch = 8;
  const label = `Scaling: ViT patch 2 (12545 tokens), ${dtype}, batch ${batch}, ${o.device}`;
  const mask = scalingViTMask(o.device);
  const images = rand([batch, 3, 224, 224], { device: o.device, dtype, seed: 0 });
  o.log(`Benchmarking Sparse ViT, patch 2 (12545 tokens, ${((1 - mask.density) * 100).toFixed(1)}% sparse mask), batch ${batch}, ${dtype}`);
  try {
    for (const [name, attention] of [['memory_efficient', { mechanism: 'memory_efficient' }], ['sparse', { mechanism: 'sparse', mask }]] as const) {
      const model = buildViT({ ...NOTEBOOK_VIT, patch_size: 2, attention }, { device: o.device, dtype, seed: 0 });
      try {
        const m = benchmark(() => model.forward(images).dispose(), {
          device: o.device, minRunTime: o.minRunTime, label: 'f(x)', description: `${name}, ${dtype}, batch ${batch}, patch 2`,
          params: { model: 'vit-patch2', mechanism: name, dtype, batch, density: name === 'sparse' ? mask.density : 1 },
        });
        o.log(`${name}\n${m.toString()}\n`);
        result.measurements.push(m);
        result.summary.push(m.relabel({ label, subLabel: `nodeformers ${name}`, description: '' }));
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_CUDA_OOM') throw e;
        result.skipped.push(`scaling ${name}: out of memory`);
      } finally {
        model.dispose();
      }
    }
  } finally {
    images.dispose();
    mask.dispose();
  }
  if (o.peers) timmPeers(o, result, { dtype, batch, patch: 2, compile: false, manual: false }, label, 'vit-patch2', (name) => `scaling PyTorch ${name}`);
}

/**
 * Runs bench/peers/vit.py on one case and adds each of its timm figures to the summary under
 * `label` (or a note to skipped, headed by `what(name)`); returns the peer's output.
 */
function timmPeers(o: ViTBenchOptions, result: ViTBenchResult, c: Record<string, unknown> & { dtype: FloatDType; batch: number }, label: string,
  model: string, what: (name: string) => string): PeerOutput | null {
  const theirs = runPeer('vit.py', [{ ...c, minRunTime: o.minRunTime }], o.log);
  for (const [name, t] of Object.entries(theirs?.results[0]?.torch ?? {})) {
    const m = peerMeasurement(t, label, `PyTorch ${name}`, '', o.device, { model, mechanism: name, dtype: c.dtype, batch: c.batch, torch: theirs!.torch });
    if (m) result.summary.push(m);
    else result.skipped.push(`${what(name)}: ${t.error ?? 'no result'}`);
  }
  return theirs;
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
          if (o.device !== 'cpu' && o.graphs !== false) {
            // The same forward replayed as one CUDA graph: no per-op host cost.
            cuda.synchronize(o.device);
            const before = cuda.memory(o.device).allocated;
            const captured = model.capture(images.shape);
            try {
              cuda.synchronize(o.device);
              // The graph's memory is taken at capture, not during the timed runs: report it.
              const graphBytes = cuda.memory(o.device).allocated - before;
              const g = benchmark(() => captured.run(images).dispose(), {
                device: o.device, minRunTime: o.minRunTime, label: 'f(x)', description: `${mechanism}, ${dtype}, batch ${o.batch}, CUDA graph`,
                params: { model: 'vit', mechanism, dtype, batch: o.batch, graph: true, graphMemoryBytes: graphBytes },
              });
              o.log(`${title} (CUDA graph)\n${g.toString()}\nMemory held by the graph: ${(graphBytes / 1e6).toFixed(1)} MB\n`);
              result.measurements.push(g);
              result.summary.push(g.relabel({ label, subLabel: `nodeformers ${mechanism}, CUDA graph`, description: '' }));
            } finally {
              captured.dispose();
            }
          }
        } catch (e) {
          if ((e as { code?: string }).code !== 'ERR_CUDA_OOM') throw e;
          o.log(`${title}: skipped (out of memory: ${(e as Error).message.split('\n')[0]})\n`);
          result.skipped.push(`${title}, ${dtype}: out of memory`);
        } finally {
          model.dispose();
          if (attention.mask instanceof SparseMask) attention.mask.dispose(); // made by sparseViTAttention for this run
        }
      }
    } finally {
      images.dispose();
    }
    if (o.peers && o.device !== 'cpu') {
      const theirs = timmPeers(o, result, { dtype, batch: o.batch, compile: o.compile }, label, 'vit', (name) => `PyTorch ${name}, ${dtype}`);
      if (theirs) result.peers.push(theirs);
    }
  }
  if (o.scaling && o.device !== 'cpu' && (o.mechanisms === undefined || o.mechanisms.includes('sparse'))) benchScaling(o, result);
  return result;
}
