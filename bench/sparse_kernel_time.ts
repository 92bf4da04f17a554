// Kernel-only timing of the notebook case (B64 N197 H8 D12 f16, q/k/v as views of one qkv
// tensor, as in the ViT), a dev tool for tuning the sparse kernel. Two figures per kernel:
//   host loop: 500 back-to-back native calls, CUDA events around the loop (bounded below by
//              the host's cost per call, which on the GPU machine is near the kernels' time);
//   graph:     the same 500 calls captured once as a CUDA graph and replayed: GPU time only.
// The CSR output is checked against the dense kernel with the mask as an element mask.
// The sparse kernel's variants are picked by environment (read once per process):
//   NODEFORMERS_SPARSE_LAYOUT=rows   the row-layout kernel (else the slot layout)
//   NODEFORMERS_SPARSE_WARPS=16      16-warp blocks (else 4)
//   NODEFORMERS_SPARSE_CHUNK=8       8 entries a step in the row layout (else 4)
//   NODEFORMERS_SPARSE_REPEAT=R      R rounds of units a block in the row layout (else 1)
// e.g. for l in slots rows; do for w in 4 16; do NODEFORMERS_SPARSE_LAYOUT=$l NODEFORMERS_SPARSE_WARPS=$w \
//        node --import tsx bench/sparse_kernel_time.ts; done; done
// With --profile it runs the parity check and then each kernel 3 times, untimed: the
// launches scripts/gpu-stage.sh's `ncu` group profiles (8 launches: the check's 2, then 6).
import { attention, captureGraph, cuda, empty, patterns, randn, splitQkv, SparseMask } from '../ts/index';
import { native } from '../ts/native';
import { sparseVariant } from './sparse_variant';

const env = sparseVariant();
const qkv = randn([64, 197, 3, 8, 12], { device: 'cuda', dtype: 'float16', seed: 5 });
const { q, k, v } = splitQkv(qkv);
const mask = SparseMask.fromDense(patterns.vitNotebook(14, 14, 0), undefined, { device: 'cuda' });
const out = empty([64, 197, 8, 12], { dtype: 'float16', device: 'cuda' });
const t = (mask as unknown as { tensors: Record<'rowOffsets' | 'colIndices' | 'items' | 'merges', never> }).tensors;
const scale = 1 / Math.sqrt(12);
const reps = 500;

/** Microseconds per call: the best of 3 timed loops of `reps` calls, after 20 warm-up calls. */
function hostLoop(fn: () => void): number {
  for (let i = 0; i < 20; i++) fn();
  return Math.min(...[0, 1, 2].map(() => cuda.time(() => { for (let i = 0; i < reps; i++) fn(); }) / reps)) * 1e3;
}

/** Microseconds per call with `reps` calls replayed as one CUDA graph (best of 5 replays, after 2). */
function graphed(fn: () => void): number {
  fn();
  const { graph } = captureGraph('cuda', () => { for (let i = 0; i < reps; i++) fn(); });
  try {
    for (let i = 0; i < 2; i++) graph.launch();
    return Math.min(...[0, 1, 2, 3, 4].map(() => cuda.time(() => graph.launch()))) / reps * 1e3;
  } finally {
    graph.dispose();
  }
}

const denseCall = () => native().attention(out, q, k, v, null, null, scale, false);
const csrCall = () => native().sparseAttention(out, q, k, v, t.rowOffsets, t.colIndices, 1, t.items, t.merges, mask.schedule.slots, scale);

// Parity of this process's CSR kernel variant with the dense kernel over the same mask.
const dense = mask.toDense();
const masked = attention(q, k, v, { mask: dense });
const reference = masked.dataSync() as Float32Array;
masked.dispose();
csrCall();
const got = out.dataSync() as Float32Array;
// float16 outputs: two roundings of one value differ by at most ~2 units of 2^-10 relative.
let worst = 0;
for (let i = 0; i < got.length; i++) {
  const d = Number.isNaN(got[i]) ? Infinity : Math.abs(got[i] - reference[i]) / Math.max(1, Math.abs(reference[i]));
  worst = Math.max(worst, d);
}
console.log(`${env}: density ${mask.density.toFixed(3)}, CSR vs dense-masked max |diff| / max(1, |ref|) ${worst.toExponential(2)}${worst > 2e-3 ? '  MISMATCH' : ''}`);

const rows: [string, () => void][] = [['dense kernel', denseCall], ['csr kernel', csrCall]];
if (process.argv.includes('--profile')) {
  for (const [, fn] of rows) for (let i = 0; i < 3; i++) fn();
  cuda.synchronize();
  for (const x of [qkv, mask, out, dense]) x.dispose();
  process.exit(0);
}
for (const [name, fn] of rows) console.log(`${env}: ${name}: host loop ${hostLoop(fn).toFixed(2)} us/call, graph ${graphed(fn).toFixed(2)} us/call`);
const viaApi = hostLoop(() => attention(q, k, v, { mechanism: 'sparse', mask, sparsePath: 'csr' }).dispose());
console.log(`${env}: sparse csr via attention(): host loop ${viaApi.toFixed(2)} us/call; dense via attention(): ${hostLoop(() => attention(q, k, v).dispose()).toFixed(2)} us/call`);
for (const x of [qkv, mask, out, dense]) x.dispose();
