// GPU time per call without the host's cost, for the bench scripts: `calls` calls of fn
// recorded once as a CUDA graph (after one call outside it, which makes the plans and
// caches a capture cannot), the graph's launch timed by benchmark() (blocked autorange,
// CUDA events), and the median and quartiles divided by `calls`.
import { captureGraph } from '../../ts/index';
import { benchmark } from '../../ts/bench/timer';

export function graphTimed(fn: () => void, calls: number, minRunTime: number): { median: number; q1: number; q3: number } {
  fn();
  const { graph } = captureGraph('cuda', () => { for (let i = 0; i < calls; i++) fn(); });
  try {
    const m = benchmark(() => graph.launch(), { device: 'cuda', minRunTime });
    return { median: m.median / calls, q1: m.q1 / calls, q3: m.q3 / calls };
  } finally {
    graph.dispose();
  }
}
