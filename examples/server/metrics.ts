// What GET /metrics answers: responses by status, batches and their mean size, the time in
// the forward, the event loop's delay (perf_hooks.monitorEventLoopDelay), the process's RSS.
import { IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { BatcherStats } from './batcher';

// The monitor's timer fires every RESOLUTION_MS; what it records is the time between firings,
// so an idle loop reads about RESOLUTION_MS: the delay is what lies beyond it.
const RESOLUTION_MS = 10;

export interface MetricsSnapshot {
  /** Responses by HTTP status code. */
  responses: Record<string, number>;
  batches: number;
  /** Requests per batch, averaged (0 before the first batch). */
  meanBatchSize: number;
  /** Milliseconds of each batch's forward (from the batch's start to its answers), mean and max. */
  batchMs: { mean: number; max: number };
  /** The event loop's delay in milliseconds beyond the monitor's interval. */
  eventLoopDelayMs: { p50: number; p99: number; max: number; mean: number };
  rssMiB: number;
  /** Seconds since start or the last reset. */
  seconds: number;
}

export class Metrics {
  private responses: Record<string, number> = {};
  private histogram: IntervalHistogram;
  private since = performance.now();
  private base: BatcherStats;

  constructor(private readonly stats: BatcherStats) {
    this.base = { ...stats };
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
  }

  count(status: number): void {
    this.responses[status] = (this.responses[status] ?? 0) + 1;
  }

  snapshot(): MetricsSnapshot {
    const batches = this.stats.batches - this.base.batches;
    const items = this.stats.items - this.base.items;
    const runMs = this.stats.runMs - this.base.runMs;
    const h = this.histogram;
    const delay = (ns: number) => round(Math.max(0, ns / 1e6 - RESOLUTION_MS));
    const some = h.count > 0;
    return {
      responses: { ...this.responses },
      batches,
      meanBatchSize: batches ? round(items / batches) : 0,
      batchMs: { mean: batches ? round(runMs / batches) : 0, max: round(this.stats.maxRunMs) },
      eventLoopDelayMs: some
        ? { p50: delay(h.percentile(50)), p99: delay(h.percentile(99)), max: delay(h.max), mean: delay(h.mean) }
        : { p50: 0, p99: 0, max: 0, mean: 0 },
      rssMiB: round(process.memoryUsage.rss() / 2 ** 20),
      seconds: round((performance.now() - this.since) / 1000),
    };
  }

  /** Starts the counts and the histogram again (a load test resets after its warmup). */
  reset(): void {
    this.responses = {};
    this.histogram.reset();
    this.stats.maxRunMs = 0;
    this.base = { ...this.stats };
    this.since = performance.now();
  }

  close(): void {
    this.histogram.disable();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
