// The sparse kernel's experiment switches (read once per process by native/cuda/attention_sparse.cu),
// as a label for the figures of bench/sparse_kernel_time.ts and bench/vit_graph_ab.ts.
export const SPARSE_SWITCHES = ['NODEFORMERS_SPARSE_LAYOUT', 'NODEFORMERS_SPARSE_WARPS', 'NODEFORMERS_SPARSE_CHUNK', 'NODEFORMERS_SPARSE_REPEAT'];

/** e.g. "NODEFORMERS_SPARSE_LAYOUT=rows NODEFORMERS_SPARSE_WARPS=16 NODEFORMERS_SPARSE_CHUNK=- ..." */
export function sparseVariant(): string {
  return SPARSE_SWITCHES.map((k) => `${k}=${process.env[k] ?? '-'}`).join(' ');
}
