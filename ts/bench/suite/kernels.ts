// Kernel sweeps: attention mechanisms over sequence length N, head dim D and dtype (time
// against N per mechanism, as xFormers' BENCHMARKS.md plots it), and the bandwidth of
// layerNorm and softmax over shapes and dtypes. PyTorch SDPA and torch ops beside them
// where python3 with torch and a GPU are present (bench/peers/attention.py, ops.py).
import { attention, attentionMechanisms } from '../../attention';
import { Device, FloatDType } from '../../dtype';
import { empty, randn, Tensor } from '../../tensor';
import { layerNorm, softmax } from '../../ops';
import { Measurement } from '../timer';
import { runSweep, SkippedCase } from '../sweep';
import { peerMeasurement, runPeer } from './peers';

export interface KernelBenchOptions {
  device: Device;
  dtypes: FloatDType[];
  /** Attention mechanisms to sweep (default: the registered dense ones). */
  mechanisms?: string[];
  quick: boolean;
  minRunTime: number;
  peers: boolean;
  log: (line: string) => void;
}

export interface AttentionCase { B: number; N: number; H: number; D: number; dtype: FloatDType; mechanism: string }
export interface NormCase { op: 'layerNorm' | 'softmax'; rows: number; cols: number; dtype: FloatDType }

export interface KernelBenchResult {
  attention: Measurement[];
  ops: Measurement[];
  skipped: string[];
}

/** Mechanisms that need no mask or layout of their own (sparse ones are swept with one; see TODO below). */
const DENSE = ['memory_efficient', 'vanilla'];

export function attentionCases(o: Pick<KernelBenchOptions, 'device' | 'dtypes' | 'mechanisms' | 'quick'>): AttentionCase[] {
  const gpu = o.device !== 'cpu';
  // TODO(sparse): add 'sparse' and 'block_sparse' over a density axis once their masks can be
  // generated here (patterns from ts/attention/patterns.ts at densities 0.01..0.5).
  const mechanisms = (o.mechanisms ?? DENSE).filter((m) => attentionMechanisms().includes(m) && DENSE.includes(m));
  const Ns = gpu ? (o.quick ? [256, 1024, 4096] : [128, 256, 512, 1024, 2048, 4096]) : o.quick ? [64, 197] : [64, 128, 197, 256];
  const Ds = gpu ? (o.quick ? [64] : [64, 128]) : o.quick ? [32] : [32, 64];
  const [B, H] = gpu ? [8, 16] : [1, 4];
  const cases: AttentionCase[] = [];
  for (const dtype of o.dtypes) for (const D of Ds) for (const N of Ns) for (const mechanism of mechanisms) cases.push({ B, N, H, D, dtype, mechanism });
  return cases;
}

export function normCases(o: Pick<KernelBenchOptions, 'device' | 'dtypes' | 'quick'>): NormCase[] {
  const gpu = o.device !== 'cpu';
  const shapes = gpu ? (o.quick ? [[65536, 768], [12608, 96]] : [[65536, 768], [16384, 1024], [4096, 4096], [12608, 96]]) : o.quick ? [[1024, 96]] : [[12608, 96], [1024, 768]];
  const cases: NormCase[] = [];
  for (const dtype of o.dtypes) for (const [rows, cols] of shapes) for (const op of ['layerNorm', 'softmax'] as const) cases.push({ op, rows, cols, dtype });
  return cases;
}

const bytesOf = (dtype: FloatDType) => (dtype === 'float32' ? 4 : 2);
const note = (s: SkippedCase<unknown>) => `${Object.entries(s.params).map(([k, v]) => `${k}=${v}`).join(' ')}: ${s.note}`;

export async function benchKernels(o: KernelBenchOptions): Promise<KernelBenchResult> {
  const result: KernelBenchResult = { attention: [], ops: [], skipped: [] };
  const timing = { device: o.device, minRunTime: o.minRunTime, warmup: 2 };

  const aCases = attentionCases(o);
  const attn = await runSweep(aCases, (c) => {
    const t = ['q', 'k', 'v'].map((_, i) => randn([c.B, c.N, c.H, c.D], { device: o.device, dtype: c.dtype, seed: i + 1 }));
    return { run: () => attention(t[0], t[1], t[2], { mechanism: c.mechanism }).dispose(), dispose: () => t.forEach((x) => x.dispose()) };
  }, {
    benchmark: timing,
    label: (c) => `attention forward, B ${c.B}, H ${c.H}, D ${c.D}, ${c.dtype}, ${o.device}`,
    subLabel: (c) => `nodeformers ${c.mechanism}`,
    description: (c) => `N=${c.N}`,
    params: (c) => ({ ...c, series: `nodeformers ${c.mechanism}`, TFLOPs: 0 }),
  });
  result.attention.push(...attn.measurements.map(withRate));
  result.skipped.push(...attn.skipped.map(note));
  if (o.peers && o.device !== 'cpu' && aCases.length > 0) {
    const shapes = unique(aCases.map(({ B, N, H, D, dtype }) => ({ B, N, H, D, dtype, minRunTime: o.minRunTime })));
    const theirs = runPeer('attention.py', shapes, o.log);
    theirs?.results.forEach((r, i) => {
      const c = shapes[i];
      for (const [backend, t] of Object.entries(r.torch)) {
        const m = peerMeasurement(t, `attention forward, B ${c.B}, H ${c.H}, D ${c.D}, ${c.dtype}, ${o.device}`, `PyTorch SDPA ${backend}`, `N=${c.N}`,
          o.device, { ...c, mechanism: `sdpa_${backend}`, series: `PyTorch SDPA ${backend}`, torch: theirs.torch, TFLOPs: 0 });
        if (m) result.attention.push(withRate(m));
      }
    });
  }

  const nCases = normCases(o);
  const norms = await runSweep(nCases, (c) => {
    const x = randn([c.rows, c.cols], { device: o.device, dtype: c.dtype, seed: 1 });
    const w = randn([c.cols], { device: o.device, dtype: c.dtype, seed: 2 });
    const b = randn([c.cols], { device: o.device, dtype: c.dtype, seed: 3 });
    const out = empty([c.rows, c.cols], { device: o.device, dtype: c.dtype });
    const run = c.op === 'layerNorm' ? () => { layerNorm(x, w, b, 1e-5, { out }); } : () => { softmax(x, { out }); };
    return { run, dispose: () => [x, w, b, out].forEach((t: Tensor) => t.dispose()) };
  }, {
    benchmark: timing,
    label: (c) => `${c.op}, ${c.dtype}, ${o.device}`,
    subLabel: 'nodeformers',
    description: (c) => `[${c.rows}, ${c.cols}]`,
    params: (c) => ({ ...c, shape: `[${c.rows}, ${c.cols}]`, series: `nodeformers ${c.op} ${c.dtype}`, GBps: 0 }),
  });
  result.ops.push(...norms.measurements.map(withBandwidth));
  result.skipped.push(...norms.skipped.map(note));
  if (o.peers && o.device !== 'cpu' && nCases.length > 0) {
    const theirs = runPeer('ops.py', nCases.map((c) => ({ op: c.op, dtype: c.dtype, shape: [c.rows, c.cols], minRunTime: o.minRunTime })), o.log);
    theirs?.results.forEach((r, i) => {
      const c = nCases[i];
      const t = (r as unknown as { median?: number; times?: number[]; runsPerMeasurement?: number });
      const m = peerMeasurement(t, `${c.op}, ${c.dtype}, ${o.device}`, 'PyTorch', `[${c.rows}, ${c.cols}]`, o.device,
        { ...c, shape: `[${c.rows}, ${c.cols}]`, series: `PyTorch ${c.op} ${c.dtype}`, torch: theirs.torch, GBps: 0 });
      if (m) result.ops.push(withBandwidth(m));
    });
  }
  return result;
}

/** Adds TFLOPs (4·B·H·N²·D / median / 1e12) to an attention measurement's params. */
function withRate(m: Measurement): Measurement {
  const p = m.params as unknown as AttentionCase;
  return m.relabel({ params: { ...m.params, TFLOPs: (4 * p.B * p.H * p.N * p.N * p.D) / m.median / 1e12 } });
}

/** Adds GBps (input read + output written / median / 1e9) to a layerNorm/softmax measurement's params. */
function withBandwidth(m: Measurement): Measurement {
  const p = m.params as unknown as NormCase;
  return m.relabel({ params: { ...m.params, GBps: (2 * p.rows * p.cols * bytesOf(p.dtype)) / m.median / 1e9 } });
}

function unique<T>(values: T[]): T[] {
  const seen = new Map(values.map((v) => [JSON.stringify(v), v]));
  return [...seen.values()];
}
