// Sparse attention benchmark (issue 5), float16 on CUDA, beside our dense kernel and PyTorch
// (bench/peers/sparse.py: SDPA, FlexAttention) measured in the same run:
//   1. the notebook ViT's attention, B64 N197 H8 D12, qkv read in place, notebook mask
//      (called eagerly, and as 100 calls in one CUDA graph: GPU time only);
//   2. N = 12545 (112 x 112 patches + class token), B8 H8 D12, 99.4% sparse: Gaussian
//      neighbours (sigma 16) + 0.1% random, class token row and column dense;
//   3. block_sparse B8 H16 N4096 D64, 128-blocks, exactly 10% / 50% of them on;
//   4. a density sweep (random masks, B8 H8 N1024 D64): csr and block paths against dense,
//      which sets the 'auto' rule's thresholds.
// Usage: node --import tsx bench/sparse.ts [--out file.json] [--no-peers] [--quick]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attention, cuda, patterns, randn, splitQkv, BlockSparseLayout, SparseMask, Tensor } from '../ts/index';
import type { PatternLike } from '../ts/index';
import { benchmark } from '../ts/bench/timer';
import { randomBlocks } from '../ts/bench/suite/kernels';
import { writeCsr } from '../ts/bench/suite/peers';
import { scalingViTMask } from '../ts/bench/suite/vit';
import { graphTimed } from './lib/graph_timing';
import { resultsFile } from './lib/results';

const args = process.argv.slice(2);
const outPath = args.includes('--out') ? args[args.indexOf('--out') + 1] : '';
const peers = !args.includes('--no-peers');
const quick = args.includes('--quick');
const minRunTime = quick ? 0.2 : 0.5;

interface Timing { median: number; q1: number; q3: number; peakMemoryBytes?: number }
const time = (fn: () => Tensor): Timing => {
  const m = benchmark(() => fn().dispose(), { device: 'cuda', minRunTime });
  return { median: m.median, q1: m.q1, q3: m.q3, peakMemoryBytes: m.peakMemoryBytes ?? undefined };
};
const ms = (t: Timing | undefined) => (t ? `${(t.median * 1e3).toFixed(3)} ms` : '-');

/** GPU time only (bench/graph_timing.ts): the eager figure of a small case is bounded by the host's cost per call. */
const GRAPH_CALLS = 100;
const graphTime = (fn: () => Tensor): Timing => graphTimed(() => fn().dispose(), GRAPH_CALLS, minRunTime);

function randomMask(n: number, density: number, seed: number): PatternLike {
  return patterns.random(n, density, seed);
}

function main(): void {
  const device = cuda.device();
  const date = new Date().toISOString().slice(0, 10);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-sparse-'));
  const record: Record<string, unknown> = { date, device, dtype: 'float16' };
  const peerCases: Record<string, unknown>[] = [];

  // 1. Notebook
  const qkv = randn([64, 197, 3, 8, 12], { device: 'cuda', dtype: 'float16', seed: 1 });
  const { q, k, v } = splitQkv(qkv);
  const nbPattern = patterns.vitNotebook(14, 14, 0);
  const nb = SparseMask.fromDense(nbPattern, undefined, { device: 'cuda' });
  const nbDense = nbPattern.toTensor({ device: 'cuda' });
  const notebook = {
    density: nb.density,
    path: nb.explain(q).path,
    memory_efficient: time(() => attention(q, k, v)),
    memory_efficient_masked: time(() => attention(q, k, v, { mask: nbDense })),
    sparse: time(() => attention(q, k, v, { mechanism: 'sparse', mask: nb })),
    sparse_csr: time(() => attention(q, k, v, { mechanism: 'sparse', mask: nb, sparsePath: 'csr' })),
    sparse_block: time(() => attention(q, k, v, { mechanism: 'sparse', mask: nb, sparsePath: 'block' })),
    memory_efficient_graph: graphTime(() => attention(q, k, v)),
    sparse_graph: graphTime(() => attention(q, k, v, { mechanism: 'sparse', mask: nb })),
  };
  record.notebook = notebook;
  peerCases.push({ name: 'notebook', B: 64, H: 8, D: 12, csr: writeCsr(dir, 'notebook', nb) });
  console.log(`notebook B64 N197 H8 D12 f16, mask density ${(nb.density * 100).toFixed(1)}% (auto: ${notebook.path}): ` +
    `dense ${ms(notebook.memory_efficient)}, dense+mask ${ms(notebook.memory_efficient_masked)}, sparse ${ms(notebook.sparse)} ` +
    `(csr ${ms(notebook.sparse_csr)}, block ${ms(notebook.sparse_block)}): ${(notebook.sparse.median / notebook.memory_efficient.median).toFixed(2)} x dense; ` +
    `as CUDA graphs (GPU time): dense ${ms(notebook.memory_efficient_graph)}, sparse ${ms(notebook.sparse_graph)}: ` +
    `${(notebook.sparse_graph.median / notebook.memory_efficient_graph.median).toFixed(2)} x dense`);
  for (const t of [qkv, nbDense]) t.dispose();

  // 2. N = 12545
  {
    const n = 112 * 112;
    const big = scalingViTMask('cuda:0');
    const shape = [8, n + 1, 8, 12];
    const bq = randn(shape, { device: 'cuda', dtype: 'float16', seed: 2 });
    const bk = randn(shape, { device: 'cuda', dtype: 'float16', seed: 3 });
    const bv = randn(shape, { device: 'cuda', dtype: 'float16', seed: 4 });
    const scaling = {
      density: big.density, nnz: big.nnz,
      memory_efficient: time(() => attention(bq, bk, bv)),
      sparse: time(() => attention(bq, bk, bv, { mechanism: 'sparse', mask: big })),
      path: big.explain(bq).path,
    };
    record.scaling = scaling;
    peerCases.push({ name: 'scaling', B: 8, H: 8, D: 12, csr: writeCsr(dir, 'scaling', big) });
    console.log(`N12545 B8 H8 D12 f16, ${((1 - big.density) * 100).toFixed(2)}% sparse (nnz ${big.nnz}, auto: ${scaling.path}): ` +
      `dense ${ms(scaling.memory_efficient)}, sparse ${ms(scaling.sparse)}`);
    for (const t of [bq, bk, bv]) t.dispose();
    big.dispose();
  }

  // 3. block_sparse
  {
    const shape = [8, 4096, 16, 64];
    const q4 = randn(shape, { device: 'cuda', dtype: 'float16', seed: 5 });
    const k4 = randn(shape, { device: 'cuda', dtype: 'float16', seed: 6 });
    const v4 = randn(shape, { device: 'cuda', dtype: 'float16', seed: 7 });
    const dense = time(() => attention(q4, k4, v4));
    const rows: Record<string, unknown>[] = [];
    for (const fraction of [0.1, 0.5]) {
      const blocks = randomBlocks(32 * 32, Math.round(fraction * 32 * 32), 11);
      const layout = BlockSparseLayout.fromDense(blocks, 128, { device: 'cuda', shape: [32, 32] });
      const t = time(() => attention(q4, k4, v4, { mechanism: 'block_sparse', layout }));
      rows.push({ fraction, activeBlocks: layout.activeBlocks, block_sparse: t });
      peerCases.push({ name: `block_${fraction}`, B: 8, H: 16, N: 4096, D: 64, block: 128, layout: Array.from(blocks) });
      console.log(`block_sparse B8 H16 N4096 D64 f16, ${layout.activeBlocks} of 1024 128-blocks: ${ms(t)} (dense ${ms(dense)})`);
      layout.dispose();
    }
    record.blockSparse = { dense, rows };
    for (const t of [q4, k4, v4]) t.dispose();
  }

  // 4. Density sweep: random masks, B8 H8 N1024 D64
  {
    const shape = [8, 1024, 8, 64];
    const sq = randn(shape, { device: 'cuda', dtype: 'float16', seed: 8 });
    const sk = randn(shape, { device: 'cuda', dtype: 'float16', seed: 9 });
    const sv = randn(shape, { device: 'cuda', dtype: 'float16', seed: 10 });
    const dense = time(() => attention(sq, sk, sv));
    const sweep: Record<string, unknown>[] = [];
    console.log(`density sweep, random masks, B8 H8 N1024 D64 f16: dense ${ms(dense)}`);
    for (const density of quick ? [0.01, 0.1, 0.5] : [0.001, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.8]) {
      const mask = SparseMask.fromDense(randomMask(1024, density, 12), undefined, { device: 'cuda' });
      const csr = time(() => attention(sq, sk, sv, { mechanism: 'sparse', mask, sparsePath: 'csr' }));
      const block = time(() => attention(sq, sk, sv, { mechanism: 'sparse', mask, sparsePath: 'block' }));
      sweep.push({ density, csr, block, auto: mask.explain(sq).path });
      console.log(`  density ${density}: csr ${ms(csr)}, block ${ms(block)} (auto: ${mask.explain(sq).path})`);
      mask.dispose();
    }
    record.sweep = { dense, rows: sweep };
    for (const t of [sq, sk, sv]) t.dispose();
  }
  nb.dispose();

  if (peers) {
    fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(peerCases));
    try {
      execFileSync('python3', [path.join(__dirname, 'peers', 'sparse.py'), path.join(dir, 'cases.json'), path.join(dir, 'out.json')],
        { stdio: 'inherit', env: { ...process.env, PYTHONUNBUFFERED: '1' } });
      record.peers = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8'));
    } catch (e) {
      console.log(`PyTorch peer not run: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const file = resultsFile(outPath, date, device.name, 'sparse');
  fs.writeFileSync(file, JSON.stringify(record, null, 1));
  console.log(`wrote ${file}`);
}

main();
