// Where the host's time goes in an eager forward of the notebook ViT (batch 64) on CUDA: the
// host's time per forward (a loop of forwards, no sync between them), and the part of it
// spent inside the CUDA backend's calls by kind (the addon's counters, on only with
// NODEFORMERS_HOST_TIMES=1): allocations and frees from the stream-ordered pool, cuBLASLt
// GEMMs, the other kernels' launches, waits. The rest is TypeScript, Node-API and the
// addon's argument checks. A launch that waits for room in the stream's queue (the GPU
// behind) shows as a long launch, so a GPU-bound loop reads as time in gemm and kernel.
// --tiny: the same structure at a size whose GPU work is nothing (a 16 x 16 image, embed 16),
// memory_efficient only, so that the figures are the host's own costs.
// Each case prints a line and a machine-readable `host-times {json}` line.
// Usage: NODEFORMERS_HOST_TIMES=1 node --expose-gc --import tsx bench/host_breakdown.ts [forwards] [--tiny]
import { buildViT, cuda, rand, type FloatDType } from '../ts/index';
import { native } from '../ts/native';
import { NOTEBOOK_VIT, sparseViTAttention, TINY_NOTEBOOK_VIT } from '../ts/bench/suite/vit';

const args = process.argv.slice(2);
const forwards = Number(args.find((a) => /^\d+$/.test(a)) ?? 40);
const tiny = args.includes('--tiny');
const device = 'cuda:0';
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const PARTS = ['allocate', 'free', 'gemm', 'kernel', 'wait'] as const;

if (process.env.NODEFORMERS_HOST_TIMES !== '1') {
  console.error('host_breakdown: run it with NODEFORMERS_HOST_TIMES=1 (the addon counts nothing otherwise)');
  process.exit(2);
}
if (!cuda.isAvailable()) {
  console.error('host_breakdown: no CUDA device here');
  process.exit(2);
}

function run(dtype: FloatDType, mechanism: string): void {
  const config = tiny ? TINY_NOTEBOOK_VIT : NOTEBOOK_VIT;
  const attention = mechanism === 'sparse' ? sparseViTAttention(device) : { mechanism };
  if (typeof attention === 'string') throw new Error(attention);
  const model = buildViT({ ...config, attention }, { device, dtype, seed: 0 });
  const images = rand(tiny ? [1, 3, 16, 16] : [64, 3, 224, 224], { device, dtype, seed: 0 });
  for (let i = 0; i < 10; i++) model.forward(images).dispose();
  cuda.synchronize(device);
  gc();
  native().cudaHostTimes(device, true);
  const t0 = performance.now();
  for (let i = 0; i < forwards; i++) model.forward(images).dispose();
  const hostUs = ((performance.now() - t0) * 1e3) / forwards;
  const times = native().cudaHostTimes(device, true);
  cuda.synchronize(device);
  const parts = Object.fromEntries(PARTS.map((k) => [k, { calls: times[k].calls / forwards, us: times[k].us / forwards }]));
  const inside = PARTS.reduce((s, k) => s + parts[k].us, 0);
  const each = PARTS.map((k) => `${k} ${parts[k].calls.toFixed(1)} calls ${parts[k].us.toFixed(1)} us`).join(', ');
  console.log(`${dtype} ${mechanism}${tiny ? ' (tiny)' : ''}: host ${hostUs.toFixed(1)} us a forward; in the backend ${inside.toFixed(1)} us (${each}); ` +
    `the rest (TypeScript, Node-API, the addon's checks) ${(hostUs - inside).toFixed(1)} us`);
  console.log(`host-times ${JSON.stringify({ dtype, mechanism, tiny, forwards, hostUs, parts })}`);
  images.dispose();
  model.dispose();
}

for (const dtype of ['float16', 'float32'] as const) {
  for (const mechanism of tiny ? ['memory_efficient'] : ['memory_efficient', 'sparse']) run(dtype, mechanism);
}
