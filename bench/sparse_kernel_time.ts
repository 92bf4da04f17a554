// Kernel-only timing of the notebook case (B64 N197 H8 D12 f16, q/k/v as views of one qkv
// tensor, as in the ViT), a dev tool for tuning the sparse kernel. Two figures per kernel:
//   host loop: 500 back-to-back native calls, CUDA events around the loop (bounded below by
//              the host's cost per call, which on the GPU machine is near the kernels' time);
//   graph:     the same 500 calls captured once as a CUDA graph and replayed (the median of
//              bench/graph_timing.ts' blocked autorange): GPU time only.
// The CSR kernel runs over three schedules of the same mask: the default (the class-token
// row, 197 entries against a mean of 38, leads), the same items with no lead (row order),
// segment 64 (the class-token row cut into 4 pieces of 49 or 50, too short to lead, merged by
// a second kernel) and segment 100 (2 pieces of 98 and 99, which lead, and the merge). Each
// output is checked against the dense kernel with the mask as an element mask.
// With --profile it runs the parity checks and then each kernel 3 times, untimed: the
// launches scripts/gpu-stage.sh's `ncu` group profiles.
import { attention, cuda, empty, patterns, randn, splitQkv, SparseMask } from '../ts/index';
import { native } from '../ts/native';
import { graphTimed } from './graph_timing';

const qkv = randn([64, 197, 3, 8, 12], { device: 'cuda', dtype: 'float16', seed: 5 });
const { q, k, v } = splitQkv(qkv);
const pattern = patterns.vitNotebook(14, 14, 0);
const mask = SparseMask.fromDense(pattern, undefined, { device: 'cuda' });
const split = SparseMask.fromDense(pattern, undefined, { device: 'cuda', segment: 64 });
const halves = SparseMask.fromDense(pattern, undefined, { device: 'cuda', segment: 100 });
const out = empty([64, 197, 8, 12], { dtype: 'float16', device: 'cuda' });
const scale = 1 / Math.sqrt(12);
const reps = 500;

/** Microseconds per call: the best of 3 timed loops of `reps` calls, after 20 warm-up calls. */
function hostLoop(fn: () => void): number {
  for (let i = 0; i < 20; i++) fn();
  return Math.min(...[0, 1, 2].map(() => cuda.time(() => { for (let i = 0; i < reps; i++) fn(); }) / reps)) * 1e3;
}

/** Microseconds per call with `reps` calls replayed as one CUDA graph (graph_timing.ts: the median of blocked autorange). */
const graphed = (fn: () => void): number => graphTimed(fn, reps, 0.25).median * 1e6;

const schedule = (m: SparseMask) => m.csrPlan('sparse_kernel_time').schedule;
const csr = (m: SparseMask, lead: number) => {
  const { tensors: t, schedule: s } = m.csrPlan('sparse_kernel_time');
  const plan = native().sparsePlan(t.rowOffsets, t.colIndices, 1, t.items, t.merges, s.slots, lead);
  return () => native().sparseAttention(out, q, k, v, plan, scale);
};
const rows: [string, () => void][] = [
  ['dense kernel', () => native().attention(out, q, k, v, null, null, scale, false)],
  [`csr kernel, ${schedule(mask).leadItems} lead item(s)`, csr(mask, schedule(mask).leadItems)],
  ['csr kernel, row order (no lead)', csr(mask, 0)],
  [`csr kernel, segment 64 (${schedule(split).merges.length / 3} split row(s), ${schedule(split).leadItems} lead)`, csr(split, schedule(split).leadItems)],
  [`csr kernel, segment 100 (${schedule(halves).merges.length / 3} split row(s), ${schedule(halves).leadItems} lead)`, csr(halves, schedule(halves).leadItems)],
];

// Parity of each CSR schedule with the dense kernel over the same mask.
const dense = mask.toDense();
const masked = attention(q, k, v, { mask: dense });
const reference = masked.dataSync() as Float32Array;
masked.dispose();
console.log(`notebook mask: density ${mask.density.toFixed(3)}, ${schedule(mask).items.length / 4} items`);
for (const [name, fn] of rows.slice(1)) {
  native().fill(out, NaN);
  fn();
  const got = out.dataSync() as Float32Array;
  // float16 outputs: two roundings of one value differ by at most ~2 units of 2^-10 relative.
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Number.isNaN(got[i]) ? Infinity : Math.abs(got[i] - reference[i]) / Math.max(1, Math.abs(reference[i]));
    worst = Math.max(worst, d);
  }
  console.log(`${name}: vs dense-masked max |diff| / max(1, |ref|) ${worst.toExponential(2)}${worst > 2e-3 ? '  MISMATCH' : ''}`);
}

if (process.argv.includes('--profile')) {
  for (const [, fn] of rows) for (let i = 0; i < 3; i++) fn();
  cuda.synchronize();
  for (const x of [qkv, mask, split, halves, out, dense]) x.dispose();
  process.exit(0);
}
for (const [name, fn] of rows) console.log(`${name}: host loop ${hostLoop(fn).toFixed(2)} us/call, graph ${graphed(fn).toFixed(2)} us/call`);
const viaApi = hostLoop(() => attention(q, k, v, { mechanism: 'sparse', mask, sparsePath: 'csr' }).dispose());
console.log(`sparse csr via attention(): host loop ${viaApi.toFixed(2)} us/call; dense via attention(): ${hostLoop(() => attention(q, k, v).dispose()).toFixed(2)} us/call`);
for (const x of [qkv, mask, split, halves, out, dense]) x.dispose();
