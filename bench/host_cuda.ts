// The host's cost of one op call on CUDA, piece by piece: tiny tensors, so that the GPU's
// work is far below the host's and a host loop of N calls (then one synchronize) measures
// what the host spends per call. Raw addon calls on preallocated outputs (the addon and
// the CUDA runtime: argument reads, cudaSetDevice, the launch) beside the public ops (which
// add the TypeScript checks, the output's allocation and its dispose).
// Usage: node --import tsx bench/host_cuda.ts [calls]
import { add, attention, buildViT, cuda, empty, layerNorm, linear, randn, softmax, splitQkv, tidy, type Device } from '../ts/index';
import { native } from '../ts/native';
import { TINY_NOTEBOOK_VIT } from '../ts/bench/suite/vit';
import { hostTimed } from './lib/host_timing';

const calls = Number(process.argv[2] ?? 20000);
const device: Device = cuda.isAvailable() ? 'cuda:0' : 'cpu';
const nat = native();

function perCall(label: string, fn: () => unknown, n = calls): void {
  const { hostUs, wallUs } = hostTimed(fn, n, device);
  console.log(`${label.padEnd(44)} host ${hostUs.toFixed(2).padStart(6)} us  wall ${wallUs.toFixed(2).padStart(6)} us a call`);
}

for (const dtype of ['float16', 'float32'] as const) {
  const o = { device, dtype };
  const x = randn([4, 8], { ...o, seed: 1 });
  const y = empty([4, 8], o);
  const w = randn([8, 8], { ...o, seed: 2 });
  const b = randn([8], { ...o, seed: 3 });
  const qkv = randn([1, 4, 3, 1, 8], { ...o, seed: 4 });
  const { q, k, v } = splitQkv(qkv);
  console.log(`${device}, ${dtype}, ${calls} calls each`);
  perCall('addon allocate(64 bytes) + dispose', () => nat.allocate(device, 64).dispose());
  perCall('addon fill (1 tensor, 1 kernel)', () => nat.fill(y, 0));
  perCall('addon binary add (3 tensors, 1 kernel)', () => nat.binary(y, x, x, 0, 1));
  perCall('addon copy (2 tensors)', () => nat.copy(y, x));
  perCall('empty([4, 8]) + dispose', () => empty([4, 8], o).dispose());
  perCall('add(x, x) + dispose', () => add(x, x).dispose());
  perCall('layerNorm + dispose', () => layerNorm(x, b, b, 1e-6).dispose());
  perCall('softmax + dispose', () => softmax(x).dispose());
  perCall('linear [4, 8] x [8, 8] + bias + dispose', () => linear(x, w, b).dispose());
  perCall('attention B1 N4 H1 D8 + dispose', () => attention(q, k, v).dispose());
  for (const t of [x, y, w, b, qkv]) t.dispose();
}

// The notebook ViT's structure (depth 8, 8 heads, mlp 3, no qkv bias) at a size whose work
// is nothing (a 16 x 16 image of one patch, embed 16): an eager forward's host cost.
for (const dtype of ['float16', 'float32'] as const) {
  const vit = buildViT(TINY_NOTEBOOK_VIT, { device, dtype, seed: 1 });
  const images = randn([1, 3, 16, 16], { device, dtype, seed: 2 });
  perCall(`tiny notebook-shaped ViT forward, ${dtype}`, () => tidy(() => { vit.forward(images); }), Math.max(1, Math.round(calls / 50)));
  images.dispose();
  vit.dispose();
}
