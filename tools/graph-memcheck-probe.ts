// A probe for compute-sanitizer memcheck over CUDA graphs (tools/sanitize-cuda.sh). Under
// memcheck, the captured notebook ViT's replay was reported reading outside any allocation
// in the add of the position embedding (its first kernel to read a tensor that the graph
// allocated after freeing another), and the context died. These small captured chains
// separate the cases, one per process so that a report names its case. Each replays its
// graph twice and compares it with the same ops run eagerly.
//   compute-sanitizer --tool memcheck node --import tsx tools/graph-memcheck-probe.ts CASE
// CASE:
//   kept    a = x + 1, b = 2a, c = b + 1, d = 3c, nothing freed inside the graph
//   reuse   the same with a freed once b is made, so that c may take a's addresses
//   embed   the ViT's embedding: p = x + 1, tokens = concat(class token view, p), p freed,
//           tokens + pos, tokens freed
// NODEFORMERS_GRAPH_FREES_AT_END=1 makes the graph free its intermediates at its end only.
import { add, captureGraph, concat, cuda, mul, randn, Tensor } from '../ts/index';

const which = process.argv[2] ?? 'reuse';
const device = 'cuda';
const x = randn([4, 196, 96], { device, seed: 1 });
const cls = randn([1, 1, 96], { device, seed: 2 });
const pos = randn([1, 197, 96], { device, seed: 3 });
cuda.synchronize(device);

function chain(): Tensor {
  if (which === 'embed') {
    const p = add(x, 1);
    const tokens = concat([cls._view([4, 1, 96], [0, 0, 1]), p], 1);
    p.dispose();
    const out = add(tokens, pos);
    tokens.dispose();
    return out;
  }
  const a = add(x, 1);
  const b = mul(a, 2);
  if (which === 'reuse') a.dispose();
  const c = add(b, 1);
  const d = mul(c, 3);
  for (const t of which === 'reuse' ? [b, c] : [a, b, c]) t.dispose();
  return d;
}

const eager = chain();
const { graph, result } = captureGraph(device, chain);
let worst = 0;
for (let rep = 0; rep < 2; rep++) {
  graph.launch();
  const got = result.dataSync(), want = eager.dataSync();
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
}
console.log(`graph-memcheck-probe ${which}${process.env.NODEFORMERS_GRAPH_FREES_AT_END === '1' ? ' (frees at the end)' : ''}: replay vs eager max |diff| ${worst}`);
graph.dispose();
for (const t of [x, cls, pos, eager, result]) t.dispose();
