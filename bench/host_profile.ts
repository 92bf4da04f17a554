// Where the host's time goes in one attention() call on the notebook case (B64 N197 H8 D12,
// float16, q/k/v views of one qkv tensor), sparse (CSR path) beside memory_efficient: each
// mechanism is called in a loop under the V8 sampling profiler (node:inspector), and the
// functions with the most self time are printed with their share. On the H200 (2026-12-01)
// the sparse call cost 50.2 us in a host loop against 26.5 us for its kernel alone, and the
// dense one 40.7 us (its kernel 37.6 us); on a CPU-only machine the sparse call costs 3 us
// more than the dense one. This says where the difference is.
// Usage: node --import tsx bench/host_profile.ts [calls]
import { attention, cuda, patterns, randn, splitQkv, SparseMask } from '../ts/index';
import { profileSelfTimes } from './v8_profile';

const calls = Number(process.argv[2] ?? 3000);
const device = cuda.isAvailable() ? 'cuda' : 'cpu';
const qkv = randn([64, 197, 3, 8, 12], { device, dtype: 'float16', seed: 5 });
const { q, k, v } = splitQkv(qkv);
const mask = SparseMask.fromDense(patterns.vitNotebook(14, 14, 0), undefined, { device });

async function profile(label: string, fn: () => void): Promise<void> {
  for (let i = 0; i < 200; i++) fn();
  cuda.isAvailable() && cuda.synchronize(device);
  let hostUs = 0;
  const { totalUs, byFunction } = await profileSelfTimes(() => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    hostUs = Number(process.hrtime.bigint() - t0) / 1e3 / calls;
    cuda.isAvailable() && cuda.synchronize(device);
  }, 50);
  console.log(`${label}: ${hostUs.toFixed(2)} us a call on the host (${calls} calls, ${device})`);
  for (const [name, t] of byFunction.slice(0, 14)) {
    console.log(`  ${(100 * t / totalUs).toFixed(1).padStart(5)}%  ${(t / calls).toFixed(2).padStart(6)} us  ${name}`);
  }
}

async function main(): Promise<void> {
  await profile('memory_efficient', () => attention(q, k, v).dispose());
  await profile('sparse (csr)', () => attention(q, k, v, { mechanism: 'sparse', mask, sparsePath: 'csr' }).dispose());
  await profile('sparse (auto)', () => attention(q, k, v, { mechanism: 'sparse', mask }).dispose());
  for (const t of [qkv, mask]) t.dispose();
}
void main();
