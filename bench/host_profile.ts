// Where the host's time goes in one attention() call on the notebook case (B64 N197 H8 D12,
// float16, q/k/v views of one qkv tensor), sparse (CSR path) beside memory_efficient: each
// mechanism is called in a loop under the V8 sampling profiler (node:inspector), and the
// functions with the most self time are printed with their share. On the H200 (2026-12-01)
// the sparse call cost 50.2 us in a host loop against 26.5 us for its kernel alone, and the
// dense one 40.7 us (its kernel 37.6 us); on a CPU-only machine the sparse call costs 3 us
// more than the dense one. This says where the difference is.
// Usage: node --import tsx bench/host_profile.ts [calls]
import { Session } from 'node:inspector';
import { attention, cuda, patterns, randn, splitQkv, SparseMask } from '../ts/index';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const calls = Number(process.argv[2] ?? 3000);
const device = cuda.isAvailable() ? 'cuda' : 'cpu';
const qkv = randn([64, 197, 3, 8, 12], { device, dtype: 'float16', seed: 5 });
const { q, k, v } = splitQkv(qkv);
const mask = SparseMask.fromDense(patterns.vitNotebook(14, 14, 0), undefined, { device });
const session = new Session();
session.connect();
const post = <T>(method: string, params?: object) =>
  new Promise<T>((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));

async function profile(label: string, fn: () => void): Promise<void> {
  for (let i = 0; i < 200; i++) fn();
  cuda.isAvailable() && cuda.synchronize(device);
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 50 });
  await post('Profiler.start');
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn();
  const hostUs = Number(process.hrtime.bigint() - t0) / 1e3 / calls;
  cuda.isAvailable() && cuda.synchronize(device);
  const { profile: p } = await post<{ profile: Profile }>('Profiler.stop');
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + p.timeDeltas[i]));
  const total = p.timeDeltas.reduce((a, b) => a + b, 0);
  const byName = new Map<string, number>();
  for (const node of p.nodes) {
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url ? f.url.split('/').slice(-2).join('/') : '(native or builtin)'}`;
    byName.set(name, (byName.get(name) ?? 0) + (self.get(node.id) ?? 0));
  }
  console.log(`${label}: ${hostUs.toFixed(2)} us a call on the host (${calls} calls, ${device})`);
  for (const [name, t] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 14)) {
    console.log(`  ${(100 * t / total).toFixed(1).padStart(5)}%  ${(t / calls).toFixed(2).padStart(6)} us  ${name}`);
  }
}

async function main(): Promise<void> {
  await profile('memory_efficient', () => attention(q, k, v).dispose());
  await profile('sparse (csr)', () => attention(q, k, v, { mechanism: 'sparse', mask, sparsePath: 'csr' }).dispose());
  await profile('sparse (auto)', () => attention(q, k, v, { mechanism: 'sparse', mask }).dispose());
  session.disconnect();
  for (const t of [qkv, mask]) t.dispose();
}
void main();
