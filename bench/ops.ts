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
// --rounds R measures both sides R times in turn (ours, PyTorch, ours, ...): the small
// shapes are bound by the host, whose speed drifts between processes (BENCHMARKS.md), so
// each table gives the median over the rounds of each side's time and of the round's
// ratio, which pairs the two sides measured in the same minute, with the ratios' range.
// --small keeps the ViT's small shapes only ([12608, 96] and the 12608-row linears), the
// host-bound cases that rounds are for (all the cases in rounds outrun a device call).
// Usage: node --import tsx bench/ops.ts [--only op,op] [--small] [--out file.json] [--no-peers] [--rounds R] [--min-run-time S]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cuda, FloatDType } from '../ts/index';
import { benchmark } from '../ts/bench/timer';
import { graphTimed } from './lib/graph_timing';
import { Case, work } from './lib/op_cases';
import { resultsFile } from './lib/results';

const args = process.argv.slice(2);
const outPath = args.includes('--out') ? args[args.indexOf('--out') + 1] : '';
const peers = !args.includes('--no-peers');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null;
const rounds = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 1;
const minRunTime = args.includes('--min-run-time') ? Number(args[args.indexOf('--min-run-time') + 1]) : 0.5;
if (!Number.isInteger(rounds) || rounds < 1 || !(minRunTime > 0)) throw new Error('bench/ops.ts: --rounds takes a positive integer, --min-run-time a positive number of seconds');

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
if (args.includes('--small')) cases.splice(0, cases.length, ...cases.filter((c) => (c.shape?.[0] ?? c.m) === 12608));
for (const c of cases) c.minRunTime ??= minRunTime;

/** Calls recorded in one CUDA graph for the graph timing (bench/peers/ops.py uses the same). */
const GRAPH_CALLS = 20;

function describeCase(c: Case): string {
  return c.op === 'linear' ? `${c.m}x${c.k} -> ${c.n}${c.activation ? ` +${c.activation}` : ''}` : `[${c.shape!.join(', ')}]`;
}

interface PeerResults { torch: string; results: { median: number; graph?: { median: number } }[] }

/** One round of ours: each case eager, as a graph, and allocating. */
function measureOurs() {
  return cases.map((c) => {
    const w = work(c);
    const m = benchmark(w.fn, { device: 'cuda', minRunTime: c.minRunTime, label: c.op, subLabel: describeCase(c) });
    const graph = graphTimed(w.fn, GRAPH_CALLS, c.minRunTime!);
    const allocating = w.allocating ? benchmark(w.allocating, { device: 'cuda', minRunTime: c.minRunTime }).median : null;
    w.tensors.forEach((t) => t.dispose());
    return { ...c, median: m.median, q1: m.q1, q3: m.q3, measurements: m.measurements, runsPerMeasurement: m.runsPerMeasurement, bytes: w.bytes, flops: w.flops, graph, allocating };
  });
}

/** One round of PyTorch's side (bench/peers/ops.py in its own process), or null when it cannot run. */
function measurePeers(): PeerResults | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-bench-'));
  fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(cases));
  try {
    execFileSync('python3', [path.join(__dirname, 'peers', 'ops.py'), path.join(dir, 'cases.json'), path.join(dir, 'out.json')], { stdio: 'inherit' });
    return JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8')) as PeerResults;
  } catch (e) {
    console.log(`PyTorch peer not run: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function main(): void {
  const device = cuda.device();
  const date = new Date().toISOString().slice(0, 10);
  const ourRounds: ReturnType<typeof measureOurs>[] = [];
  const peerRounds: PeerResults[] = [];
  for (let r = 0; r < rounds; r++) {
    ourRounds.push(measureOurs());
    const p = peers ? measurePeers() : null;
    if (p) peerRounds.push(p);
  }
  // Each case's figures: the median over the rounds (the first round's record otherwise).
  const ours = ourRounds[0].map((first, i) => ({
    ...first,
    median: median(ourRounds.map((o) => o[i].median)),
    graph: { ...first.graph, median: median(ourRounds.map((o) => o[i].graph.median)) },
    allocating: first.allocating === null ? null : median(ourRounds.map((o) => o[i].allocating!)),
  }));
  const paired = peerRounds.length === ourRounds.length;
  const theirs: PeerResults | null = peerRounds.length === 0 ? null : {
    torch: peerRounds[0].torch,
    results: peerRounds[0].results.map((first, i) => ({
      ...first,
      median: median(peerRounds.map((p) => p.results[i].median)),
      graph: first.graph && { ...first.graph, median: median(peerRounds.map((p) => p.results[i].graph!.median)) },
    })),
  };
  type Mode = 'eager' | 'graph' | 'allocating';
  const oursIn = (mode: Mode, o: (typeof ourRounds)[number][number]) => (mode === 'eager' ? o.median : mode === 'graph' ? o.graph.median : o.allocating!);
  const peerIn = (mode: Mode, p: PeerResults['results'][number]) => (mode === 'graph' ? p.graph?.median : p.median);
  /** The rounds' ratios of case i in `mode` (ours / PyTorch, each round's pair), when every round has both. */
  const ratios = (mode: Mode, i: number): number[] | null => {
    if (!paired || (mode === 'allocating' && ours[i].allocating === null)) return null;
    const rs = ourRounds.map((o, r) => oursIn(mode, o[i]) / (peerIn(mode, peerRounds[r].results[i]) ?? NaN));
    return rs.every(Number.isFinite) ? rs : null;
  };
  const copyBw = new Map<string, number>();
  const copyGraphBw = new Map<string, number>();
  for (const r of ours) {
    if (r.op !== 'copy') continue;
    copyBw.set(`${r.dtype}${r.shape}`, r.bytes / r.median);
    copyGraphBw.set(`${r.dtype}${r.shape}`, r.bytes / r.graph.median);
  }
  const roundsNote = rounds > 1 ? `; ${rounds} rounds in turn, the median over them (the ratio: of each round's pair; its range over the rounds in brackets)` : '';
  const header = '| op | shape | dtype | ours | ours rate | PyTorch | PyTorch rate | ours / PyTorch time | % of copy bw |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |';
  console.log(`\n${device.name}, ${date}, nodeformers vs PyTorch ${theirs?.torch ?? '(not run)'}; median of blocked autorange with CUDA events${roundsNote}\n`);
  console.log(header);
  const rate = (r: { bytes: number; flops: number }, t: number) =>
    r.flops ? `${(r.flops / t / 1e12).toFixed(1)} TFLOP/s` : `${(r.bytes / t / 1e9).toFixed(0)} GB/s`;
  for (const mode of ['eager', 'graph', 'allocating'] as const) {
    if (mode === 'allocating') {
      console.log('\nEager again, ours allocating its output each call and disposing it (PyTorch as in the first table, which allocates too):\n');
      console.log(header);
    }
    if (mode === 'graph') {
      console.log(`\nThe same cases as ${GRAPH_CALLS} calls captured in one CUDA graph and replayed, per call (GPU time only), both sides:\n`);
      console.log(header);
    }
    ours.forEach((r, i) => {
      if (mode === 'allocating' && r.allocating === null) return;
      const t = oursIn(mode, r);
      const p = theirs?.results[i] && peerIn(mode, theirs.results[i]);
      const bw = (mode === 'graph' ? copyGraphBw : copyBw).get(`${r.dtype}${r.shape}`);
      const copy = r.flops || bw === undefined ? '' : `${((r.bytes / t / bw) * 100).toFixed(0)}%`;
      const rs = rounds > 1 ? ratios(mode, i) : null;
      const ratio = rs ? `${median(rs).toFixed(2)} [${Math.min(...rs).toFixed(2)}-${Math.max(...rs).toFixed(2)}]` : p ? (t / p).toFixed(2) : '-';
      console.log(`| ${r.op} | ${describeCase(r)} | ${r.dtype} | ${(t * 1e6).toFixed(1)} us | ${rate(r, t)} | ` +
        `${p ? `${(p * 1e6).toFixed(1)} us` : '-'} | ${p ? rate(r, p) : '-'} | ${ratio} | ${copy} |`);
    });
  }
  const record = {
    date, device, torch: theirs?.torch ?? null, rounds, ours, peers: theirs?.results ?? null,
    // every round's figures, ours and PyTorch's, when there were several
    ...(rounds > 1 ? { oursRounds: ourRounds, peerRounds: peerRounds.map((p) => p.results) } : {}),
  };
  const file = resultsFile(outPath, date, device.name, 'ops');
  fs.writeFileSync(file, JSON.stringify(record, null, 1));
  console.log(`\nwrote ${file}`);
}

main();
