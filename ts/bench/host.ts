// hostBenchmark(): host-clock timing by the npm `benchmark` package (Benchmark.js), for
// what only the host sees — the CPU backend, the JavaScript cost of a call (checks,
// allocation, the Node-API crossing). Not for GPU work: its clock stops before the device
// finishes; use benchmark() with a CUDA device for that.
import type BenchmarkType from 'benchmark';
import { checkNumber, invalidParameterError } from '../errors';
import { requireOptional } from './optional';

export interface HostBenchmarkOptions {
  name?: string;
  /** Seconds to spend sampling at most (Benchmark.js maxTime; default 1). */
  maxTime?: number;
  /** Samples to take at least (default 5). */
  minSamples?: number;
}

export interface HostMeasurement {
  name: string;
  /** Seconds per call, mean over the samples. */
  mean: number;
  /** Standard deviation of the samples (seconds). */
  deviation: number;
  /** Relative margin of error at 95% confidence, in percent. */
  rme: number;
  /** Samples taken (each the mean of many calls). */
  samples: number;
  /** Calls per second (1 / mean). */
  opsPerSec: number;
  /** "tensor add [1] x 1,234,567 ops/sec ±1.23% (20 runs sampled)", as Benchmark.js prints. */
  toString(): string;
}

/** Times fn with Benchmark.js on the host clock; synchronous. */
export function hostBenchmark(fn: () => unknown, options: HostBenchmarkOptions = {}): HostMeasurement {
  const name = 'hostBenchmark';
  if (typeof fn !== 'function') throw invalidParameterError(name, 'fn', 'a function', fn);
  const maxTime = options.maxTime === undefined ? 1 : checkNumber(name, 'options.maxTime', options.maxTime);
  const minSamples = options.minSamples === undefined ? 5 : checkNumber(name, 'options.minSamples', options.minSamples);
  const Benchmark = requireOptional<typeof BenchmarkType>('benchmark', ['benchmark'], 'time host calls (hostBenchmark)');
  const bench = new Benchmark(options.name ?? 'f()', () => { fn(); }, { maxTime, minSamples, async: false, initCount: 1 });
  bench.run({ async: false });
  // Benchmark.js catches what fn throws and keeps it on the benchmark.
  if (bench.error) throw bench.error;
  const stats = bench.stats;
  const result = {
    name: bench.name ?? options.name ?? 'f()',
    mean: stats.mean,
    deviation: stats.deviation,
    rme: stats.rme,
    samples: stats.sample.length,
    opsPerSec: bench.hz,
  };
  return { ...result, toString: () => String(bench) };
}
