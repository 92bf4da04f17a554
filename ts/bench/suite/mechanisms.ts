// The mechanisms side by side (issue 26, after xFormers' encoder benchmark): every registered
// mechanism that needs no mask of its own, each as one attention layer (MultiHeadAttention:
// its qkv projection where the mechanism takes q, k, v, the mechanism, the output projection)
// over B x N tokens of width H·D, with a square patch grid of N tokens for the mechanisms that
// need one. Two rows a case: the forward (recording nothing) and forward + backward (the
// layer training, its input requiring grad, the gradient of a fixed dO), each with its peak
// memory. Cases that do not fit (out of memory) or that a mechanism refuses are listed as
// skipped with the reason.
import { builtInAttentionMechanisms } from '../../attention';
import { noGrad } from '../../autograd';
import { Device, FloatDType } from '../../dtype';
import { AttentionConfig, MultiHeadAttention } from '../../nn/layers';
import { randn } from '../../tensor';
import { benchmark, Measurement } from '../timer';
import { skipNote } from './training_kit';

export const MECHANISMS_SUITE = 'mechanisms';

/** Mechanisms left out: those that need a mask or layout of their own. */
const NEEDS_OWN_INPUT = new Set(['sparse', 'block_sparse']);

export interface MechanismBenchOptions {
  device: Device;
  dtype: FloatDType;
  /** Default: every built-in mechanism but those that need a mask or layout. */
  mechanisms?: readonly string[];
  /** Options per mechanism (default none: each mechanism's defaults). */
  options?: Readonly<Record<string, AttentionConfig>>;
  quick: boolean;
  minRunTime: number;
  log: (line: string) => void;
}

export function mechanismShapes(device: Device, quick: boolean): { B: number; H: number; D: number; Ns: number[] } {
  if (device === 'cpu') return { B: 1, H: 2, D: 16, Ns: quick ? [64] : [64, 256] };
  return { B: 8, H: 8, D: 64, Ns: quick ? [1024] : [256, 1024, 4096, 16384] };
}

export const mechanismLabel = (kind: 'forward' | 'f+b', s: { B: number; H: number; D: number }, dtype: FloatDType, device: Device) =>
  `attention layer ${kind === 'forward' ? 'forward' : 'forward + backward'}, B ${s.B}, H ${s.H}, D ${s.D}, ${dtype}, ${device}`;

export function benchMechanisms(o: MechanismBenchOptions): { measurements: Measurement[]; skipped: string[] } {
  const out = { measurements: [] as Measurement[], skipped: [] as string[] };
  const { Ns, ...shape } = mechanismShapes(o.device, o.quick);
  const names = o.mechanisms ?? builtInAttentionMechanisms().filter((m) => !NEEDS_OWN_INPUT.has(m));
  const E = shape.H * shape.D;
  for (const N of Ns) {
    const side = Math.round(Math.sqrt(N));
    const geometry = { tokens: N, grid: { height: side, width: side, prefixTokens: N - side * side } };
    for (const name of names) {
      const config: AttentionConfig = { ...o.options?.[name], mechanism: name };
      const timing = { device: o.device, minRunTime: o.minRunTime, warmup: 2 };
      const row = (kind: 'forward' | 'f+b') => ({
        label: mechanismLabel(kind, shape, o.dtype, o.device), subLabel: name, description: `N=${N}`,
        params: { suite: MECHANISMS_SUITE, kind, mechanism: name, N, ...shape, dtype: o.dtype, series: name },
      });
      let layer: MultiHeadAttention | null = null;
      const x = randn([shape.B, N, E], { device: o.device, dtype: o.dtype, seed: 1 });
      const dO = randn([shape.B, N, E], { device: o.device, dtype: o.dtype, seed: 2 });
      try {
        layer = new MultiHeadAttention(E, shape.H, { device: o.device, dtype: o.dtype, seed: 3, attention: config, geometry });
        const l = layer;
        out.measurements.push(benchmark(() => noGrad(() => l.forward(x).dispose()), { ...timing, ...row('forward') }));
        l.train();
        x.requiresGrad_(true);
        out.measurements.push(benchmark(() => {
          const y = l.forward(x);
          try {
            y.backward(dO);
          } finally {
            y.dispose();
          }
        }, { ...timing, ...row('f+b') }));
        o.log(`${name} N=${N}: ${out.measurements.slice(-2).map((m) => `${m.label.split(',')[0]} ${(m.median * 1e3).toFixed(3)} ms`).join(', ')}`);
      } catch (e) {
        out.skipped.push(`${name} N=${N}: ${skipNote(e)}`);
      } finally {
        layer?.dispose();
        x.dispose();
        dO.dispose();
      }
    }
  }
  return out;
}
