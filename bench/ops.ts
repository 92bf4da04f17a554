// Fused-op benchmark (issue 3): layerNorm, softmax, bias+GELU bandwidth and linear
// throughput on CUDA, beside the device-to-device copy bandwidth and PyTorch's figures for
// the same cases measured in the same run (bench/peers/ops.py, same blocked-autorange
// method with CUDA events). Each case is timed twice on both sides: called eagerly (the
// host's cost per call included, which dominates the small ViT shapes) and as GRAPH_CALLS
// calls captured in one CUDA graph and replayed (GPU time only: the kernels themselves).
// Ours writes a preallocated output (options.out) and PyTorch's functional ops allocate
// theirs (they take no out=; its copy_ writes one), so the eager table is the hot-loop form
// of each API; a third table times ours allocating its output and disposing it, call for
// call what PyTorch's form does.
// Usage: node --import tsx bench/ops.ts [--only op,op] [--out file.json] [--no-peers]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cuda, FloatDType } from '../ts/index';
import { benchmark } from '../ts/bench/timer';
import { graphTimed } from './graph_timing';
import { Case, work } from './op_cases';

const args = process.argv.slice(2);
const outPath = args.includes('--out') ? args[args.indexOf('--out') + 1] : '';
const peers = !args.includes('--no-peers');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null;

const cases: Case[] = [];
for (const dtype of ['float16', 'float32'] as FloatDType[]) {
  for (const shape of [[65536, 768], [12608, 96]]) {
    cases.push({ op: 'copy', dtype, shape });
    cases.push({ op: 'layerNorm', dtype, shape });
    cases.push({ op: 'softmax', dtype, shape });
    cases.push({ op: 'biasGelu', dtype, shape });
  }
}
for (const dtype of ['float16', 'float32'] as FloatDType[]) {
  cases.push({ op: 'linear', dtype, m: 12608, k: 96, n: 288 });
  cases.push({ op: 'linear', dtype, m: 12608, k: 96, n: 96 });
  cases.push({ op: 'linear', dtype, m: 12608, k: 96, n: 288, activation: 'gelu' });
  cases.push({ op: 'linear', dtype, m: 12608, k: 288, n: 96 });
}
cases.push({ op: 'linear', dtype: 'float16', m: 8192, k: 4096, n: 4096 });
if (only) cases.splice(0, cases.length, ...cases.filter((c) => only.includes(c.op)));

/** Calls recorded in one CUDA graph for the graph timing (bench/peers/ops.py uses the same). */
const GRAPH_CALLS = 20;

function describeCase(c: Case): string {
  return c.op === 'linear' ? `${c.m}x${c.k} -> ${c.n}${c.activation ? ` +${c.activation}` : ''}` : `[${c.shape!.join(', ')}]`;
}

function main(): void {
  const device = cuda.device();
  const date = new Date().toISOString().slice(0, 10);
  const ours = cases.map((c) => {
    const w = work(c);
    const m = benchmark(w.fn, { device: 'cuda', minRunTime: c.minRunTime ?? 0.5, label: c.op, subLabel: describeCase(c) });
    const graph = graphTimed(w.fn, GRAPH_CALLS, c.minRunTime ?? 0.5);
    const allocating = w.allocating ? benchmark(w.allocating, { device: 'cuda', minRunTime: c.minRunTime ?? 0.5 }).median : null;
    w.tensors.forEach((t) => t.dispose());
    return { ...c, median: m.median, q1: m.q1, q3: m.q3, measurements: m.measurements, runsPerMeasurement: m.runsPerMeasurement, bytes: w.bytes, flops: w.flops, graph, allocating };
  });
  let theirs: { torch: string; results: { median: number; graph?: { median: number } }[] } | null = null;
  if (peers) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-bench-'));
    fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(cases));
    try {
      execFileSync('python3', [path.join(__dirname, 'peers', 'ops.py'), path.join(dir, 'cases.json'), path.join(dir, 'out.json')], { stdio: 'inherit' });
      theirs = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8'));
    } catch (e) {
      console.log(`PyTorch peer not run: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const copyBw = new Map<string, number>();
  const copyGraphBw = new Map<string, number>();
  for (const r of ours) {
    if (r.op !== 'copy') continue;
    copyBw.set(`${r.dtype}${r.shape}`, r.bytes / r.median);
    copyGraphBw.set(`${r.dtype}${r.shape}`, r.bytes / r.graph.median);
  }
  console.log(`\n${device.name}, ${date}, nodeformers vs PyTorch ${theirs?.torch ?? '(not run)'}; median of blocked autorange with CUDA events\n`);
  console.log('| op | shape | dtype | ours | ours rate | PyTorch | PyTorch rate | ours / PyTorch time | % of copy bw |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  const rate = (r: { bytes: number; flops: number }, t: number) =>
    r.flops ? `${(r.flops / t / 1e12).toFixed(1)} TFLOP/s` : `${(r.bytes / t / 1e9).toFixed(0)} GB/s`;
  for (const mode of ['eager', 'graph', 'allocating'] as const) {
    if (mode === 'allocating') {
      console.log('\nEager again, ours allocating its output each call and disposing it (PyTorch as in the first table, which allocates too):\n');
      console.log('| op | shape | dtype | ours | ours rate | PyTorch | PyTorch rate | ours / PyTorch time | % of copy bw |');
      console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    }
    if (mode === 'graph') {
      console.log(`\nThe same cases as ${GRAPH_CALLS} calls captured in one CUDA graph and replayed, per call (GPU time only), both sides:\n`);
      console.log('| op | shape | dtype | ours | ours rate | PyTorch | PyTorch rate | ours / PyTorch time | % of copy bw |');
      console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    }
    ours.forEach((r, i) => {
      if (mode === 'allocating' && r.allocating === null) return;
      const t = mode === 'eager' ? r.median : mode === 'graph' ? r.graph.median : r.allocating!;
      const p = mode === 'graph' ? theirs?.results[i]?.graph?.median : theirs?.results[i]?.median;
      const bw = (mode === 'graph' ? copyGraphBw : copyBw).get(`${r.dtype}${r.shape}`);
      const copy = r.flops || bw === undefined ? '' : `${((r.bytes / t / bw) * 100).toFixed(0)}%`;
      console.log(`| ${r.op} | ${describeCase(r)} | ${r.dtype} | ${(t * 1e6).toFixed(1)} us | ${rate(r, t)} | ` +
        `${p ? `${(p * 1e6).toFixed(1)} us` : '-'} | ${p ? rate(r, p) : '-'} | ${p ? (t / p).toFixed(2) : '-'} | ${copy} |`);
    });
  }
  const record = { date, device, torch: theirs?.torch ?? null, ours, peers: theirs?.results ?? null };
  const file = outPath || path.join(__dirname, 'results', `${date}-${device.name.replace(/\W+/g, '_')}-ops.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 1));
  console.log(`\nwrote ${file}`);
}

main();
