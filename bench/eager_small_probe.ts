// Why an eager small op costs what it does (issue 3: on the H200 eager softmax float32
// [12608, 96] took 8.1 us against 5.1 us in float16, though both take 3.6 us as CUDA graph
// nodes and the host runs the same code for both). For each op and dtype on the small and
// the large shape: the eager median of bench/ops.ts' method (blocked autorange, CUDA
// events); the host's time to enqueue one call (performance.now over 2000 calls, no sync);
// the wall time of those 2000 with the final sync; and the graph time of bench/ops.ts.
// Eager ~ host: the host bounds it. Eager ~ wall > host: the GPU does, and eager minus graph
// is what running the kernel outside a graph adds.
// Usage: node --import tsx bench/eager_small_probe.ts
import { benchmark } from '../ts/bench';
import { cuda, empty, randn, type FloatDType } from '../ts/index';
import { native } from '../ts/native';
import { biasActivation, layerNorm, softmax } from '../ts/ops';
import { graphTimed } from './graph_timing';

const device = 'cuda';
const calls = 2000;

function probe(op: string, dtype: FloatDType, rows: number, cols: number): void {
  const x = randn([rows, cols], { device, dtype, seed: 1 });
  const w = randn([cols], { device, dtype, seed: 2 });
  const out = empty([rows, cols], { device, dtype });
  const fns: Record<string, () => void> = {
    copy: () => native().copy(out, x),
    softmax: () => { softmax(x, { out }); },
    rawSoftmax: () => native().softmax(out, x, null, 1),
    layerNorm: () => { layerNorm(x, w, w, 1e-5, { out }); },
    biasGelu: () => { biasActivation(x, w, 'gelu', { out }); },
  };
  const fn = fns[op];
  const eager = benchmark(fn, { device, minRunTime: 0.3 }).median;
  for (let i = 0; i < 200; i++) fn();
  cuda.synchronize(device);
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) fn();
  const t1 = performance.now();
  cuda.synchronize(device);
  const t2 = performance.now();
  const graph = graphTimed(fn, 20, 0.3).median;
  const us = (s: number) => (s * 1e6).toFixed(2).padStart(7);
  const ms = (m: number) => ((m * 1e3) / calls).toFixed(2).padStart(7);
  console.log(`${op.padEnd(10)} ${dtype.padEnd(8)} [${rows}, ${cols}]`.padEnd(38) +
    `eager ${us(eager)} us  host ${ms(t1 - t0)} us  wall ${ms(t2 - t0)} us  graph ${us(graph)} us a call`);
  for (const t of [x, w, out]) t.dispose();
}

for (const [rows, cols] of [[12608, 96], [65536, 768]]) {
  for (const dtype of ['float16', 'float32'] as const) {
    for (const op of ['copy', 'rawSoftmax', 'softmax', 'layerNorm', 'biasGelu']) probe(op, dtype, rows, cols);
  }
}
