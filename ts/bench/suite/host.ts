// The host-side cost of a call on the CPU backend — argument checks, tensor allocation, the
// Node-API crossing — measured with Benchmark.js (hostBenchmark), beside an empty call.
import { attention } from '../../attention';
import { add, layerNorm } from '../../ops';
import { tensor } from '../../tensor';
import { hostBenchmark, HostMeasurement } from '../host';

export function benchHost(o: { maxTime: number; log: (line: string) => void }): HostMeasurement[] {
  const x = tensor([1], [1]);
  const row = tensor(new Float32Array(8).fill(1), [1, 8]);
  const w = tensor(new Float32Array(8).fill(1), [8]);
  const b = tensor(new Float32Array(8), [8]);
  const q = tensor(new Float32Array(8).fill(0.5), [1, 1, 1, 8]);
  const cases: [string, () => unknown][] = [
    ['empty JS call', () => undefined],
    ['tensor([1]) + dispose', () => tensor([1], [1]).dispose()],
    ['add [1] + [1], cpu', () => add(x, x).dispose()],
    ['layerNorm [1, 8], cpu', () => layerNorm(row, w, b, 1e-5).dispose()],
    ['attention [1, 1, 1, 8] memory_efficient, cpu', () => attention(q, q, q).dispose()],
  ];
  try {
    const results = cases.map(([name, fn]) => hostBenchmark(fn, { name, maxTime: o.maxTime }));
    o.log('| call | mean per call | ops/sec | ± (95%) | samples |');
    o.log('| --- | --- | --- | --- | --- |');
    for (const r of results) {
      o.log(`| ${r.name} | ${(r.mean * 1e6).toFixed(3)} us | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${r.rme.toFixed(1)}% | ${r.samples} |`);
    }
    return results;
  } finally {
    for (const t of [x, row, w, b, q]) t.dispose();
  }
}
