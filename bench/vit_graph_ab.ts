// The notebook ViT (float16, batch 64) as a CUDA graph, sparse (notebook mask) beside
// memory_efficient: the whole-model check of a change to the sparse kernel, whose figure
// issue 6 compares (sparse <= memory_efficient), in a few seconds instead of the whole bench
// suite (whose ViT section measures the same, eager and graph).
// Usage: node --import tsx bench/vit_graph_ab.ts [float16 | float32]
import { benchViT } from '../ts/bench/suite/vit';
import type { FloatDType } from '../ts/index';

const dtype = (process.argv[2] ?? 'float16') as FloatDType;
const r = benchViT({
  device: 'cuda:0', dtypes: [dtype], batch: 64, minRunTime: 1, mechanisms: ['memory_efficient', 'sparse'],
  peers: false, compile: false, scaling: false, log: () => undefined,
});
const graphMedian = (mechanism: string) => {
  const m = r.measurements.find((x) => x.params.graph === true && x.params.mechanism === mechanism);
  if (!m) throw new Error(`vit_graph_ab: no CUDA-graph figure for ${mechanism} (skipped: ${r.skipped.join('; ') || 'none'})`);
  return m.median;
};
const dense = graphMedian('memory_efficient'), sparse = graphMedian('sparse');
console.log(`ViT ${dtype} B64 as a CUDA graph: memory_efficient ${(dense * 1e3).toFixed(3)} ms, ` +
  `sparse ${(sparse * 1e3).toFixed(3)} ms = ${(sparse / dense).toFixed(3)}x`);
