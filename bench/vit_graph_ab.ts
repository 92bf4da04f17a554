// The notebook ViT (float16, batch 64) as a CUDA graph, sparse (notebook mask) beside
// memory_efficient: the whole-model check of a sparse kernel variant, whose figure issue 6
// compares (sparse <= memory_efficient). The variant comes from the environment, as in
// bench/sparse_kernel_time.ts; scripts/gpu-stage.sh's `ab` group runs it per variant.
// Usage: NODEFORMERS_SPARSE_LAYOUT=rows node --import tsx bench/vit_graph_ab.ts
import { rand, SparseMask } from '../ts/index';
import { benchmark } from '../ts/bench/timer';
import { NOTEBOOK_VIT, sparseViTAttention } from '../ts/bench/suite/vit';
import { buildViT } from '../ts/models/vit';
import type { AttentionConfig } from '../ts/nn/layers';
import { sparseVariant } from './sparse_variant';

const env = sparseVariant();
const device = 'cuda:0';
const images = rand([64, 3, 224, 224], { device, dtype: 'float16', seed: 0 });
const sparse = sparseViTAttention(device);
if (typeof sparse === 'string') throw new Error(sparse);
const medians: Record<string, number> = {};
for (const [name, attention] of [['memory_efficient', { mechanism: 'memory_efficient' }], ['sparse', sparse]] as [string, AttentionConfig][]) {
  const model = buildViT({ ...NOTEBOOK_VIT, attention }, { device, dtype: 'float16', seed: 0 });
  const captured = model.capture(images.shape);
  const m = benchmark(() => captured.run(images).dispose(), { device, minRunTime: 1 });
  medians[name] = m.median;
  captured.dispose();
  model.dispose();
}
console.log(`${env}: ViT float16 B64 as a CUDA graph: memory_efficient ${(medians.memory_efficient * 1e3).toFixed(3)} ms, ` +
  `sparse ${(medians.sparse * 1e3).toFixed(3)} ms = ${(medians.sparse / medians.memory_efficient).toFixed(3)}x`);
images.dispose();
(sparse.mask as SparseMask).dispose();
