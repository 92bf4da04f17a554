// The attention backward sweep (issue 25): memory_efficient's backward over N, D and causal,
// in TFLOP/s, beside PyTorch SDPA's backward with each backend forced (flash, efficient,
// cuDNN) in the same run (bench/peers/attention_backward.py). FLOPs: a forward is 4·B·H·N²·D
// (two GEMMs), a backward 2.5 times that (QKᵀ recomputed, dV, dP, dQ, dK), both halved when
// causal. Two rows a case on each side:
//   backward  the backward alone, on one forward's saved tensors, as often as timing wants:
//             here the gradient function of the attention's tape node, called directly;
//             PyTorch's torch.autograd.grad(out, (q, k, v), dO, retain_graph=True);
//   f+b       the forward and out.backward(dO), the gradients accumulating in q, k, v.
import { attention } from '../../attention';
import { noGrad } from '../../autograd';
import type { GradNode } from '../../autograd/node';
import { Device, FloatDType } from '../../dtype';
import { randn, Tensor } from '../../tensor';
import { benchmark, Measurement } from '../timer';
import { peerMeasurement, runPeer } from './peers';
import { skipNote, SUITE_OF } from './training_kit';

export interface AttentionBackwardCase { B: number; N: number; H: number; D: number; dtype: FloatDType; causal: boolean; mechanism: string }

export interface AttentionBackwardOptions {
  device: Device;
  /** The run's dtypes: on CUDA its 16-bit ones are swept (float16 when it has none). */
  dtypes: FloatDType[];
  quick: boolean;
  minRunTime: number;
  peers: boolean;
  log: (line: string) => void;
}

/** The backward rows' peer: the must of issue 25 is ≥ 0.9 x its throughput. */
export const BACKWARD_BASELINE = 'PyTorch SDPA flash';

export function attentionBackwardCases(o: Pick<AttentionBackwardOptions, 'device' | 'dtypes' | 'quick'>): AttentionBackwardCase[] {
  const gpu = o.device !== 'cpu';
  const half = o.dtypes.filter((d) => d !== 'float32');
  const dtypes: FloatDType[] = gpu ? (half.length > 0 ? half : ['float16']) : ['float32'];
  const Ns = gpu ? (o.quick ? [1024, 4096] : [512, 1024, 2048, 4096, 8192, 16384]) : o.quick ? [64] : [64, 128];
  const Ds = gpu ? (o.quick ? [64] : [64, 128]) : [16];
  const causals = o.quick ? [false] : [false, true];
  const [B, H] = gpu ? [8, 16] : [1, 2];
  const cases: AttentionBackwardCase[] = [];
  for (const dtype of dtypes) for (const causal of causals) for (const D of Ds) for (const N of Ns) cases.push({ B, N, H, D, dtype, causal, mechanism: 'memory_efficient' });
  return cases;
}

/** FLOPs of one forward: 4·B·H·N²·D, halved when causal. */
export function forwardFlops(c: Pick<AttentionBackwardCase, 'B' | 'H' | 'N' | 'D' | 'causal'>): number {
  return (4 * c.B * c.H * c.N * c.N * c.D) / (c.causal ? 2 : 1);
}

/** The flops of a row: a backward is 2.5 forwards, forward + backward 3.5. */
const FLOPS_PER_FORWARD = { backward: 2.5, 'f+b': 3.5 } as const;
type Kind = keyof typeof FLOPS_PER_FORWARD;

export const backwardLabel = (kind: Kind, c: Omit<AttentionBackwardCase, 'N' | 'mechanism'>, device: Device) =>
  `attention ${kind === 'backward' ? 'backward' : 'forward + backward'}, B ${c.B}, H ${c.H}, D ${c.D}, ${c.dtype}${c.causal ? ', causal' : ''}, ${device}`;

function row(kind: Kind, c: AttentionBackwardCase, device: Device, subLabel: string) {
  const { mechanism: _, ...shape } = c;
  return {
    label: backwardLabel(kind, c, device), subLabel, description: `N=${c.N}`,
    params: { suite: SUITE_OF.attention, kind, ...shape, series: subLabel },
  };
}

/** The measurement with TFLOPs (the row's flops / its median) added to its params. */
function withRate(m: Measurement, c: AttentionBackwardCase, kind: Kind): Measurement {
  return m.relabel({ params: { ...m.params, TFLOPs: (FLOPS_PER_FORWARD[kind] * forwardFlops(c)) / m.median / 1e12 } });
}

export function benchAttentionBackward(o: AttentionBackwardOptions): { measurements: Measurement[]; skipped: string[]; torch: string | null } {
  const out = { measurements: [] as Measurement[], skipped: [] as string[], torch: null as string | null };
  const cases = attentionBackwardCases(o);
  const timing = { device: o.device, minRunTime: o.minRunTime, warmup: 2 };
  for (const c of cases) {
    const shape = [c.B, c.N, c.H, c.D];
    const [q, k, v] = [1, 2, 3].map((seed) => randn(shape, { device: o.device, dtype: c.dtype, seed }).requiresGrad_());
    const dO = randn(shape, { device: o.device, dtype: c.dtype, seed: 4 });
    const opts = { mechanism: c.mechanism, causal: c.causal };
    const subLabel = `nodeformers ${c.mechanism}`;
    const measure = (kind: Kind, fn: () => void) => {
      const r = row(kind, c, o.device, subLabel);
      try {
        out.measurements.push(withRate(benchmark(fn, { ...timing, ...r }), c, kind));
      } catch (e) {
        out.skipped.push(`${r.label} / ${subLabel} / ${r.description}: ${skipNote(e)}`);
      }
    };
    try {
      const alone = backwardAlone(q, k, v, dO, opts);
      try {
        measure('backward', alone.run);
      } finally {
        alone.dispose();
      }
      measure('f+b', () => {
        const y = attention(q, k, v, opts);
        try {
          y.backward(dO);
        } finally {
          y.dispose();
        }
      });
    } finally {
      for (const t of [q, k, v, dO]) t.dispose();
    }
  }
  if (o.peers && o.device !== 'cpu' && cases.length > 0) {
    const shapes = cases.map(({ mechanism: _, ...c }) => ({ ...c, minRunTime: o.minRunTime }));
    const theirs = runPeer('attention_backward.py', shapes, o.log);
    out.torch = theirs?.torch ?? null;
    theirs?.results.forEach((r, i) => {
      const c = cases[i];
      for (const [key, t] of Object.entries(r.torch)) {
        const [kind, backend] = key.split(' ') as [Kind, string];
        const { label, description, params } = row(kind, c, o.device, `PyTorch SDPA ${backend}`);
        const m = peerMeasurement(t, label, `PyTorch SDPA ${backend}`, description, o.device, { ...params, mechanism: `sdpa_${backend}`, torch: theirs.torch });
        if (m) out.measurements.push(withRate(m, c, kind));
        else out.skipped.push(`${label} / PyTorch SDPA ${backend} / ${description}: ${t.error ?? 'no result'}`);
      }
    });
  }
  for (const m of out.measurements) if (m.subLabel.startsWith('nodeformers')) o.log(`${m.label} ${m.description}: ${(m.median * 1e3).toFixed(3)} ms, ${(m.params.TFLOPs as number).toFixed(1)} TFLOP/s`);
  return out;
}

/**
 * The backward alone: one recorded forward (on the first run), then at each run its tape
 * node's gradient function on the saved tensors: what backward() runs for that node, which
 * is kept. dispose() releases the forward's output and with it the node.
 */
function backwardAlone(q: Tensor, k: Tensor, v: Tensor, dO: Tensor, opts: { mechanism: string; causal: boolean }): { run: () => void; dispose: () => void } {
  let y: Tensor | null = null;
  let node: GradNode | null = null;
  const setup = (): GradNode => {
    y = attention(q, k, v, opts);
    const n = y._autograd?.node ?? null;
    if (n === null || n.gradFn === null || ![q, k, v].every((t, i) => n.edges[i]?.leaf === t)) {
      throw new Error(`the output's tape node ('${n?.op ?? 'none'}') is not the attention's own (its inputs are not q, k, v); see the f+b row`);
    }
    return n;
  };
  return {
    run: () => {
      node ??= setup();
      const n = node;
      const grads = noGrad(() => n.gradFn!(dO, n.saved, n.edges.map((e) => e !== null)));
      for (const g of new Set(grads)) g?.dispose();
    },
    dispose: () => (y as Tensor | null)?.dispose(),
  };
}
