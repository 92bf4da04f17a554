// Kernel sweeps: attention mechanisms over sequence length N, head dim D and dtype (time
// against N per mechanism, as xFormers' BENCHMARKS.md plots it), and the bandwidth of
// layerNorm and softmax over shapes and dtypes. PyTorch SDPA, FlexAttention (over the block
// layouts of the density sweep) and torch ops beside them where python3 with torch and a GPU
// are present (bench/peers/attention.py, sparse.py, ops.py).
import { attention, attentionMechanisms, BlockSparseLayout, patterns, SparseMask } from '../../attention';
import { Random } from '../../random';
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

export interface SparseCase { B: number; N: number; H: number; D: number; dtype: FloatDType; density: number; mechanism: 'sparse' | 'block_sparse' }

export interface KernelBenchResult {
  attention: Measurement[];
  /** Sparse attention over density, beside memory_efficient on the same shape (density 1). */
  sparse: Measurement[];
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

const BLOCK = 64;
/** The seed of the density sweep's block layouts (the FlexAttention peer is given the same ones). */
const LAYOUT_SEED = 12;

/** The density sweep: random masks (CSR) and random block layouts at a handful of densities. */
export function sparseCases(o: Pick<KernelBenchOptions, 'device' | 'dtypes' | 'mechanisms' | 'quick'>): SparseCase[] {
  const gpu = o.device !== 'cpu';
  const wanted = (['sparse', 'block_sparse'] as const).filter((m) => attentionMechanisms().includes(m) && (o.mechanisms === undefined || o.mechanisms.includes(m)));
  const [B, N, H, D] = gpu ? [8, 1024, 8, 64] : [1, 256, 2, 32];
  const densities = o.quick ? [0.05, 0.25] : [0.01, 0.05, 0.1, 0.25, 0.5];
  const cases: SparseCase[] = [];
  for (const dtype of o.dtypes) {
    for (const mechanism of wanted) {
      // block_sparse runs the tensor-core tiles: 16-bit dtypes only on CUDA
      if (mechanism === 'block_sparse' && gpu && dtype === 'float32') continue;
      for (const density of densities) cases.push({ B, N, H, D, dtype, density, mechanism });
    }
  }
  return cases;
}

/** `on` of `count` blocks switched on, chosen uniformly by a seeded shuffle. */
export function randomBlocks(count: number, on: number, seed: number): Uint8Array {
  const rng = new Random(seed);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.nextUint32() % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const blocks = new Uint8Array(count);
  for (let i = 0; i < on; i++) blocks[order[i]] = 1;
  return blocks;
}

/** A [side, side] block layout, side = ceil(n / block), with round(density * side²) blocks on (at least one). */
function randomLayoutBlocks(n: number, block: number, density: number, seed: number): { blocks: Uint8Array; side: number } {
  const side = Math.ceil(n / block), count = side * side;
  return { blocks: randomBlocks(count, Math.max(1, Math.round(density * count)), seed), side };
}

function randomLayout(n: number, block: number, density: number, seed: number, device: Device): BlockSparseLayout {
  const { blocks, side } = randomLayoutBlocks(n, block, density, seed);
  return BlockSparseLayout.fromDense(blocks, block, { device, shape: [side, side] });
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
  const result: KernelBenchResult = { attention: [], sparse: [], ops: [], skipped: [] };
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

  const sCases = sparseCases(o);
  if (sCases.length > 0) {
    const [{ B, N, H, D }] = sCases;
    const sparseLabel = (dtype: FloatDType) => `sparse attention over density, B ${B}, N ${N}, H ${H}, D ${D}, ${dtype}, ${o.device}`;
    const dense = await runSweep(o.dtypes, (dtype) => {
      const t = ['q', 'k', 'v'].map((_, i) => randn([B, N, H, D], { device: o.device, dtype, seed: i + 1 }));
      return { run: () => attention(t[0], t[1], t[2]).dispose(), dispose: () => t.forEach((x) => x.dispose()) };
    }, {
      benchmark: timing, label: sparseLabel, subLabel: 'nodeformers memory_efficient (dense)', description: 'dense',
      params: (dtype) => ({ B, N, H, D, dtype, density: 1, mechanism: 'memory_efficient', series: 'nodeformers memory_efficient (dense)' }),
    });
    // One dense measurement per dtype, shown in every density's column (and as a flat line
    // in the plot), so that each column's ratios read against it.
    const densities = [...new Set(sCases.map((c) => c.density))];
    for (const m of dense.measurements) {
      for (const d of densities) result.sparse.push(m.relabel({ description: `density=${d}`, params: { ...m.params, density: d } }));
    }
    result.skipped.push(...dense.skipped.map(note));
    const sparse = await runSweep(sCases, (c) => {
      const t = ['q', 'k', 'v'].map((_, i) => randn([c.B, c.N, c.H, c.D], { device: o.device, dtype: c.dtype, seed: i + 1 }));
      const held = c.mechanism === 'sparse'
        ? SparseMask.fromDense(patterns.random(c.N, c.density, 12), undefined, { device: o.device })
        : randomLayout(c.N, BLOCK, c.density, LAYOUT_SEED, o.device);
      const opts = held instanceof SparseMask ? { mechanism: 'sparse', mask: held } : { mechanism: 'block_sparse', layout: held };
      return { run: () => attention(t[0], t[1], t[2], opts).dispose(), dispose: () => { t.forEach((x) => x.dispose()); held.dispose(); } };
    }, {
      benchmark: timing, label: (c) => sparseLabel(c.dtype),
      subLabel: (c) => (c.mechanism === 'sparse' ? 'nodeformers sparse (random CSR mask)' : `nodeformers block_sparse (random ${BLOCK}-blocks)`),
      description: (c) => `density=${c.density}`,
      params: (c) => ({ ...c, series: c.mechanism }),
    });
    result.sparse.push(...sparse.measurements);
    result.skipped.push(...sparse.skipped.map(note));
    // FlexAttention over the same block layouts (the peer is float16 only).
    const blockCases = sCases.filter((c) => c.mechanism === 'block_sparse' && c.dtype === 'float16');
    if (o.peers && o.device !== 'cpu' && blockCases.length > 0) {
      const peerCases = blockCases.map((c) => ({
        name: `block_sparse density ${c.density}`, B: c.B, H: c.H, N: c.N, D: c.D, block: BLOCK,
        layout: Array.from(randomLayoutBlocks(c.N, BLOCK, c.density, LAYOUT_SEED).blocks),
      }));
      const theirs = runPeer('sparse.py', peerCases, o.log);
      theirs?.results.forEach((r, i) => {
        const c = blockCases[i];
        const m = peerMeasurement(r.torch.flex, sparseLabel(c.dtype), `PyTorch FlexAttention (the same ${BLOCK}-blocks)`, `density=${c.density}`,
          o.device, { ...c, mechanism: 'flex_attention', series: 'PyTorch FlexAttention', torch: theirs.torch });
        if (m) result.sparse.push(m);
      });
    }
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
