// Why an eager small op costs what it does (issue 3: on the H200 eager softmax float32
// [12608, 96] took 8.1 us against 5.1 us in float16, though both take 3.6 us as CUDA graph
// nodes and the host runs the same code for both). For each op of bench/ops.ts (its cases'
// inputs and preallocated outputs, bench/op_cases.ts) and dtype on the small and the large
// shape, and the raw addon softmax beside the public one: the eager median of bench/ops.ts'
// method (blocked autorange, CUDA events); the host's time to enqueue one call (2000 calls,
// no sync) and the wall time of those 2000 with the final sync (bench/host_timing.ts); and
// the graph time of bench/ops.ts. Eager ~ host: the host bounds it. Eager ~ wall > host: the
// GPU does, and eager minus graph is what running the kernel outside a graph adds.
// Then the cost of an allocation on the small shape: the raw addon's allocate + dispose,
// empty() + dispose, and each op allocating its output (bench/op_cases.ts' allocating
// form), eager and host (run it with NODEFORMERS_CUDA_CACHE_MB=0 to see them without the
// block cache).
// Usage: node --import tsx bench/eager_small_probe.ts [--small]   (--small: the small shape only)
import { benchmark } from '../ts/bench';
import { cuda, empty, type FloatDType } from '../ts/index';
import { native } from '../ts/native';
import { graphTimed } from './graph_timing';
import { hostTimed } from './host_timing';
import { work } from './op_cases';

const device = 'cuda';
const calls = 2000;

function probe(op: string, dtype: FloatDType, rows: number, cols: number): void {
  const w = work({ op: op === 'rawSoftmax' ? 'softmax' : op, dtype, shape: [rows, cols] });
  const fn = op === 'rawSoftmax' ? () => native().softmax(w.out, w.x, null, 1) : w.fn;
  const eager = benchmark(fn, { device, minRunTime: 0.3 }).median;
  const { hostUs, wallUs } = hostTimed(fn, calls, device, 200);
  const graph = graphTimed(fn, 20, 0.3).median;
  const us = (v: number) => v.toFixed(2).padStart(7);
  console.log(`${op.padEnd(10)} ${dtype.padEnd(8)} [${rows}, ${cols}]`.padEnd(38) +
    `eager ${us(eager * 1e6)} us  host ${us(hostUs)} us  wall ${us(wallUs)} us  graph ${us(graph * 1e6)} us a call`);
  for (const t of w.tensors) t.dispose();
}

function probeAllocating(op: string, dtype: FloatDType, rows: number, cols: number): void {
  const w = work({ op: op === 'allocate' || op === 'empty' ? 'softmax' : op, dtype, shape: [rows, cols] });
  const bytes = rows * cols * (dtype === 'float32' ? 4 : 2);
  const fn = op === 'allocate' ? () => native().allocate('cuda', bytes).dispose()
    : op === 'empty' ? () => empty([rows, cols], { device, dtype }).dispose()
    : w.allocating!;
  const eager = benchmark(fn, { device, minRunTime: 0.3 }).median;
  const { hostUs, wallUs } = hostTimed(fn, calls, device, 200);
  const us = (v: number) => v.toFixed(2).padStart(7);
  console.log(`${op.padEnd(10)} ${dtype.padEnd(8)} [${rows}, ${cols}] allocating`.padEnd(49) +
    `eager ${us(eager * 1e6)} us  host ${us(hostUs)} us  wall ${us(wallUs)} us a call`);
  for (const t of w.tensors) t.dispose();
}

const small = process.argv.includes('--small');
console.log(`block cache: ${process.env.NODEFORMERS_CUDA_CACHE_MB ?? '2048 (default)'} MiB`);
for (const [rows, cols] of small ? [[12608, 96]] : [[12608, 96], [65536, 768]]) {
  for (const dtype of ['float16', 'float32'] as const) {
    for (const op of ['copy', 'rawSoftmax', 'softmax', 'layerNorm', 'biasGelu']) probe(op, dtype, rows, cols);
  }
}
for (const dtype of ['float16', 'float32'] as const) {
  for (const op of ['allocate', 'empty', 'softmax', 'layerNorm', 'biasGelu']) probeAllocating(op, dtype, 12608, 96);
}
console.log(`after the probe: ${JSON.stringify(cuda.memory())}`);
