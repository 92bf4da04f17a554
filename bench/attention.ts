// Dense attention benchmark (issue 4): memory_efficient and vanilla over the shapes,
// beside PyTorch SDPA's backends measured in the same run (bench/peers/attention.py).
// FLOPs: 4 * B * H * N^2 * D (two GEMMs); bytes floor: q, k, v read once, out written once.
// Usage: node --import tsx bench/attention.ts [--out file.json] [--no-peers]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attention, cuda, randn, FloatDType } from '../ts/index';
import { benchmark } from '../ts/bench/timer';
import { resultsFile } from './lib/results';

interface Case { B: number; N: number; H: number; D: number; dtype: FloatDType }
const args = process.argv.slice(2);
const outPath = args.includes('--out') ? args[args.indexOf('--out') + 1] : '';
const peers = !args.includes('--no-peers');

const cases: Case[] = [
  { B: 8, N: 4096, H: 16, D: 64, dtype: 'float16' },
  { B: 8, N: 4096, H: 16, D: 128, dtype: 'float16' },
  { B: 64, N: 197, H: 8, D: 12, dtype: 'float16' },
  { B: 64, N: 197, H: 8, D: 12, dtype: 'float32' },
  { B: 8, N: 1024, H: 16, D: 64, dtype: 'bfloat16' },
  { B: 16, N: 512, H: 12, D: 64, dtype: 'float16' },
  { B: 4, N: 1000, H: 8, D: 80, dtype: 'float16' },
];

const flops = (c: Case) => 4 * c.B * c.H * c.N * c.N * c.D;
const bytes = (c: Case) => 4 * c.B * c.N * c.H * c.D * (c.dtype === 'float32' ? 4 : 2);

function main(): void {
  const device = cuda.device();
  const date = new Date().toISOString().slice(0, 10);
  const ours = cases.map((c) => {
    const q = randn([c.B, c.N, c.H, c.D], { device: 'cuda', dtype: c.dtype, seed: 1 });
    const k = randn([c.B, c.N, c.H, c.D], { device: 'cuda', dtype: c.dtype, seed: 2 });
    const v = randn([c.B, c.N, c.H, c.D], { device: 'cuda', dtype: c.dtype, seed: 3 });
    const row: Record<string, { median: number; q1: number; q3: number } | { error: string }> = {};
    for (const mechanism of ['memory_efficient', 'vanilla']) {
      try {
        const m = benchmark(() => attention(q, k, v, { mechanism }).dispose(), { device: 'cuda', minRunTime: 0.5 });
        row[mechanism] = { median: m.median, q1: m.q1, q3: m.q3 };
      } catch (e) {
        row[mechanism] = { error: (e as Error).message.split('\n')[0] };
      }
    }
    for (const t of [q, k, v]) t.dispose();
    return { ...c, ours: row };
  });
  let theirs: { torch: string; results: { torch: Record<string, { median?: number; error?: string }> }[] } | null = null;
  if (peers) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-bench-'));
    fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(cases));
    try {
      execFileSync('python3', [path.join(__dirname, 'peers', 'attention.py'), path.join(dir, 'cases.json'), path.join(dir, 'out.json')], { stdio: 'inherit' });
      theirs = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8'));
    } catch (e) {
      console.log(`PyTorch peer not run: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const fmt = (c: Case, r: { median?: number; error?: string } | undefined) =>
    !r ? '-' : r.median !== undefined ? `${(r.median * 1e3).toFixed(3)} ms (${(flops(c) / r.median / 1e12).toFixed(0)} TF/s)` : `n/a`;
  console.log(`\n${device.name}, ${date}; attention forward, q/k/v [B, N, H, D]; PyTorch ${theirs?.torch ?? '(not run)'} SDPA on [B, H, N, D]\n`);
  console.log('| B | N | H | D | dtype | memory_efficient | vanilla | SDPA flash | SDPA efficient | SDPA cuDNN | SDPA math | bytes floor |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  ours.forEach((r, i) => {
    const t = theirs?.results[i]?.torch ?? {};
    const floor = bytes(r) / 3.0e12;
    console.log(`| ${r.B} | ${r.N} | ${r.H} | ${r.D} | ${r.dtype} | ${fmt(r, r.ours.memory_efficient as never)} | ${fmt(r, r.ours.vanilla as never)} | ` +
      `${fmt(r, t.flash)} | ${fmt(r, t.efficient)} | ${fmt(r, t.cudnn)} | ${fmt(r, t.math)} | ${(floor * 1e3).toFixed(4)} ms |`);
  });
  const record = { date, device, torch: theirs?.torch ?? null, cases: ours, peers: theirs?.results ?? null };
  const file = resultsFile(outPath, date, device.name, 'attention');
  fs.writeFileSync(file, JSON.stringify(record, null, 1));
  console.log(`\nwrote ${file}`);
}

main();
