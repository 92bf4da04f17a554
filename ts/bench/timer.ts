// benchmark(): timing after torch.utils.benchmark's blocked_autorange. Warm up, choose a
// block size (runs per measurement) so a block is long against the timer's overhead, then
// time blocks until minRunTime is spent. On CUDA a block is timed with CUDA events on the
// device's stream; on the CPU with the host clock (CPU ops are synchronous).
import { checkDevice, DeviceLike, Device } from '../dtype';
import { checkNumber, invalidParameterError } from '../errors';
import { cuda } from '../cuda';

export interface BenchmarkOptions {
  /** Seconds of timed blocks to collect (default 1). */
  minRunTime?: number;
  /** Untimed calls before the block size is chosen (default 3). */
  warmup?: number;
  /** Where fn's work runs: 'cpu' (host clock) or a CUDA device (events). Default 'cpu'. */
  device?: DeviceLike;
  label?: string;
  subLabel?: string;
  description?: string;
}

export class Measurement {
  /** Seconds per run, one entry per measured block. */
  readonly times: readonly number[];
  constructor(
    times: readonly number[],
    readonly runsPerMeasurement: number,
    readonly label: string,
    readonly subLabel: string,
    readonly description: string,
    readonly device: Device,
    /** Peak pool bytes allocated during the measured runs above what was allocated before (CUDA only). */
    readonly peakMemoryBytes: number | null,
  ) {
    this.times = Object.freeze([...times].sort((a, b) => a - b));
  }
  get measurements(): number { return this.times.length; }
  get median(): number { return quantile(this.times, 0.5); }
  get q1(): number { return quantile(this.times, 0.25); }
  get q3(): number { return quantile(this.times, 0.75); }
  get iqr(): number { return this.q3 - this.q1; }
  get mean(): number { return this.times.reduce((a, b) => a + b, 0) / this.times.length; }

  /** The shape torch.utils.benchmark prints, with "Memory used" after it where known. */
  toString(): string {
    const unit = pickUnit(this.median);
    const f = (s: number) => (s / unit.scale).toFixed(2);
    const lines = [
      `${this.label}${this.subLabel ? `: ${this.subLabel}` : ''}`,
      ...(this.description ? [this.description] : []),
      `  Median: ${f(this.median)} ${unit.name}`,
      `  IQR:    ${f(this.iqr)} ${unit.name} (${f(this.q1)} to ${f(this.q3)})`,
      `  ${this.measurements} measurements, ${this.runsPerMeasurement} runs per measurement, ${this.device}`,
    ];
    if (this.peakMemoryBytes !== null) lines.push(`Memory used: ${(this.peakMemoryBytes / 1e6).toFixed(1)} MB`);
    return lines.join('\n');
  }

  toJSON(): Record<string, unknown> {
    return {
      label: this.label, subLabel: this.subLabel, description: this.description, device: this.device,
      median: this.median, mean: this.mean, q1: this.q1, q3: this.q3, iqr: this.iqr,
      measurements: this.measurements, runsPerMeasurement: this.runsPerMeasurement,
      peakMemoryBytes: this.peakMemoryBytes, times: this.times,
    };
  }
}

/** Linear-interpolated quantile of sorted values (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function pickUnit(seconds: number): { name: string; scale: number } {
  if (seconds >= 1) return { name: 's', scale: 1 };
  if (seconds >= 1e-3) return { name: 'ms', scale: 1e-3 };
  return { name: 'us', scale: 1e-6 };
}

/** Seconds taken by `number` runs of fn. */
function timeBlock(fn: () => unknown, number: number, device: Device): number {
  if (device === 'cpu') {
    const start = process.hrtime.bigint();
    for (let i = 0; i < number; i++) fn();
    return Number(process.hrtime.bigint() - start) / 1e9;
  }
  return cuda.time(() => { for (let i = 0; i < number; i++) fn(); }, device) / 1e3;
}

/**
 * Chooses runs per block as torch does: grow by 10x until the timer's overhead is under
 * 1e-4 of the block and the block lasts at least minRunTime / 1000, or it exceeds minRunTime.
 */
export function chooseBlockSize(timeRuns: (n: number) => number, minRunTime: number): number {
  const overheads = [0, 1, 2, 3, 4].map(() => timeRuns(0)).sort((a, b) => a - b);
  const overhead = overheads[2];
  let number = 1;
  for (;;) {
    const taken = timeRuns(number);
    if (taken > 0 && overhead / taken <= 1e-4 && taken >= minRunTime / 1000) break;
    if (taken > minRunTime) break;
    if (number * 10 > 2 ** 31 - 1) break;
    number *= 10;
  }
  return number;
}

/** Times fn (sync; its work may be queued on a GPU) and returns the Measurement. */
export function benchmark(fn: () => unknown, opts: BenchmarkOptions = {}): Measurement {
  const name = 'benchmark';
  if (typeof fn !== 'function') throw invalidParameterError(name, 'fn', 'a function', fn);
  const minRunTime = opts.minRunTime === undefined ? 1 : checkNumber(name, 'options.minRunTime', opts.minRunTime);
  const warmup = opts.warmup ?? 3;
  const device = checkDevice(name, opts.device ?? 'cpu', 'options.device');
  for (let i = 0; i < warmup; i++) fn();
  if (device !== 'cpu') cuda.synchronize(device);
  const number = chooseBlockSize((n) => timeBlock(fn, n, device), minRunTime);
  let base = 0;
  if (device !== 'cpu') {
    cuda.synchronize(device);
    base = cuda.memory(device).allocated;
    cuda.resetPeak(device);
  }
  const times: number[] = [];
  let total = 0;
  while (total < minRunTime || times.length < 3) {
    const t = timeBlock(fn, number, device);
    total += t;
    times.push(t / number);
  }
  const peak = device === 'cpu' ? null : cuda.memory(device).peak - base;
  return new Measurement(times, number, opts.label ?? 'f()', opts.subLabel ?? '', opts.description ?? '', device, peak);
}
