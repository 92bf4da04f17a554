// A probe for compute-sanitizer memcheck over CUDA graphs (scripts/sanitize-cuda.sh): small
// captured chains that isolate what the captured ViT forward does, one per process so that a
// report names its case. Each replays its graph twice and checks it against the same ops
// run eagerly.
//   compute-sanitizer --tool memcheck node --import tsx scripts/graph-memcheck-probe.ts CASE
// CASE: chain (add, mul; the intermediate freed inside the graph), concat (the ViT's
// embedding: add, concat with a broadcast view, add; intermediates freed inside the graph),
// concat-kept (the same with every intermediate kept to the end).
import { add, captureGraph, concat, cuda, mul, randn, Tensor } from '../ts/index';

const which = process.argv[2] ?? 'chain';
const device = 'cuda';
const x = randn([4, 196, 96], { device, seed: 1 });
const cls = randn([1, 1, 96], { device, seed: 2 });
const pos = randn([1, 197, 96], { device, seed: 3 });
cuda.synchronize(device);

function chain(free: boolean): Tensor {
  const kept: Tensor[] = [];
  const drop = (t: Tensor) => (free ? t.dispose() : kept.push(t));
  let out: Tensor;
  if (which === 'chain') {
    const y = add(x, 1);
    out = mul(y, 2);
    drop(y);
  } else {
    const p = add(x, 1);
    const tokens = concat([cls._view([4, 1, 96], [0, 0, 1]), p], 1);
    drop(p);
    out = add(tokens, pos);
    drop(tokens);
  }
  for (const t of kept) t.dispose();
  return out;
}

const free = which !== 'concat-kept';
const eager = chain(free);
const { graph, result } = captureGraph(device, () => chain(free));
let worst = 0;
for (let rep = 0; rep < 2; rep++) {
  graph.launch();
  const a = result.dataSync(), b = eager.dataSync();
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
}
console.log(`graph-memcheck-probe ${which}: replay vs eager max |diff| ${worst}`);
graph.dispose();
for (const t of [x, cls, pos, eager, result]) t.dispose();
