// Kernel-only timing of the notebook case (B64 N197 H8 D12 f16, qkv in place): 500 back-to-back
// native calls into a preallocated output, CUDA events around the loop. Dev tool for tuning.
import { attention, cuda, empty, patterns, randn, splitQkv, SparseMask } from '../ts/index';
import { native } from '../ts/native';

const qkv = randn([64, 197, 3, 8, 12], { device: 'cuda', dtype: 'float16', seed: 5 });
const { q, k, v } = splitQkv(qkv);
const mask = SparseMask.fromDense(patterns.vitNotebook(14, 14, 0), undefined, { device: 'cuda' });
const out = empty([64, 197, 8, 12], { dtype: 'float16', device: 'cuda' });
const t = (mask as unknown as { tensors: Record<'rowOffsets' | 'colIndices' | 'items' | 'merges', never> }).tensors;
const reps = 500;
const time = (fn: () => void) => {
  for (let i = 0; i < 20; i++) fn();
  const t = [0, 1, 2].map(() => cuda.time(() => { for (let i = 0; i < reps; i++) fn(); }) / reps);
  return Math.min(...t) * 1e3;
};
const dense = time(() => native().attention(out, q, k, v, null, null, 1 / Math.sqrt(12), false));
console.log(`dense kernel ${dense.toFixed(2)} us/call`);
const csr = time(() => native().sparseAttention(out, q, k, v, t.rowOffsets, t.colIndices, 1, t.items, t.merges, mask.schedule.slots, 1 / Math.sqrt(12)));
console.log(`csr kernel ${csr.toFixed(2)} us/call (density ${mask.density.toFixed(3)})`);
const sparseAuto = time(() => attention(q, k, v, { mechanism: 'sparse', mask, sparsePath: 'csr' }).dispose());
console.log(`sparse csr via attention() ${sparseAuto.toFixed(2)} us/call; explain: ${JSON.stringify(mask.explain(q))}`);
const denseApi = time(() => attention(q, k, v).dispose());
console.log(`dense via attention() ${denseApi.toFixed(2)} us/call`);
