// benchmark(): timing after torch.utils.benchmark's blocked_autorange. Warm up, choose a
// block size (runs per measurement) so a block is long against the timer's overhead, then
// time blocks until minRunTime is spent. On CUDA a block is timed with CUDA events on the
// device's stream; on the CPU with the host clock (CPU ops are synchronous).
import { checkDevice, DeviceLike, Device } from '../dtype';
import { checkInteger, checkNumber, invalidParameterError } from '../errors';
import { cuda } from '../cuda';
import { cpu } from '../cpu';

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
  /** What the case was (N, D, mechanism, dtype, ...): kept with the Measurement for tables and plots. */
  params?: MeasurementParams;
}

/** Plain values that describe a measured case. */
export type MeasurementParams = Readonly<Record<string, string | number | boolean | null>>;

/** What Measurement.toJSON() writes and Measurement.fromJSON() reads. */
export interface MeasurementJSON {
  label: string;
  subLabel: string;
  description: string;
  device: Device;
  median: number;
  mean: number;
  q1: number;
  q3: number;
  iqr: number;
  measurements: number;
  runsPerMeasurement: number;
  peakMemoryBytes: number | null;
  times: number[];
  params: Record<string, string | number | boolean | null>;
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
    readonly params: MeasurementParams = {},
  ) {
    this.times = Object.freeze([...times].sort((a, b) => a - b));
    this.params = Object.freeze({ ...params });
  }
  get measurements(): number { return this.times.length; }
  get median(): number { return quantile(this.times, 0.5); }
  get q1(): number { return quantile(this.times, 0.25); }
  get q3(): number { return quantile(this.times, 0.75); }
  get iqr(): number { return this.q3 - this.q1; }
  get mean(): number { return this.times.reduce((a, b) => a + b, 0) / this.times.length; }

  /** A copy with another label, sub-label, description or params (the times are shared). */
  relabel(o: { label?: string; subLabel?: string; description?: string; params?: MeasurementParams }): Measurement {
    return new Measurement(this.times, this.runsPerMeasurement, o.label ?? this.label, o.subLabel ?? this.subLabel,
      o.description ?? this.description, this.device, this.peakMemoryBytes, o.params ?? this.params);
  }

  /** The shape torch.utils.benchmark prints, with "Memory used" after it where known. */
  toString(): string {
    const unit = timeUnit(this.median);
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

  /** Everything, raw times included; the summary fields are for readers of the file (fromJSON recomputes them). */
  toJSON(): MeasurementJSON {
    return {
      label: this.label, subLabel: this.subLabel, description: this.description, device: this.device,
      median: this.median, mean: this.mean, q1: this.q1, q3: this.q3, iqr: this.iqr,
      measurements: this.measurements, runsPerMeasurement: this.runsPerMeasurement,
      peakMemoryBytes: this.peakMemoryBytes, times: [...this.times], params: { ...this.params },
    };
  }

  /** The Measurement that toJSON() wrote (from the object or its JSON text). */
  static fromJSON(json: string | Partial<MeasurementJSON>): Measurement {
    const fn = 'Measurement.fromJSON';
    const o = typeof json === 'string' ? JSON.parse(json) as Partial<MeasurementJSON> : json;
    if (o === null || typeof o !== 'object') throw invalidParameterError(fn, 'json', 'an object from Measurement.toJSON()', o);
    if (!Array.isArray(o.times) || o.times.length === 0 || o.times.some((t) => typeof t !== 'number')) {
      throw invalidParameterError(fn, 'json.times', 'a non-empty array of numbers', o.times);
    }
    const device = checkDevice(fn, o.device ?? 'cpu', 'json.device');
    return new Measurement(o.times, checkInteger(fn, 'json.runsPerMeasurement', o.runsPerMeasurement ?? 1, 1),
      String(o.label ?? ''), String(o.subLabel ?? ''), String(o.description ?? ''), device,
      typeof o.peakMemoryBytes === 'number' ? o.peakMemoryBytes : null, o.params ?? {});
  }
}

/** The summary statistics of per-run times (seconds), as Measurement reports them. */
export function summarize(times: readonly number[]): { median: number; q1: number; q3: number; iqr: number; mean: number; measurements: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { median: quantile(sorted, 0.5), q1, q3, iqr: q3 - q1, mean, measurements: sorted.length };
}

/** Linear-interpolated quantile of sorted values (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The unit torch.utils.benchmark would print `seconds` in: s, ms or us. */
export function timeUnit(seconds: number): { name: 's' | 'ms' | 'us'; scale: number } {
  if (seconds >= 1) return { name: 's', scale: 1 };
  if (seconds >= 1e-3) return { name: 'ms', scale: 1e-3 };
  return { name: 'us', scale: 1e-6 };
}

/** Seconds taken by `number` runs of fn. */
function timeBlock(fn: () => unknown, number: number, device: Device): number {
  if (device === 'cpu') {
    cpu.synchronize();
    const start = process.hrtime.bigint();
    for (let i = 0; i < number; i++) fn();
    cpu.synchronize(); // the ops fn queued, as cuda.time waits for the stream
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
  const warmup = opts.warmup === undefined ? 3 : checkInteger(name, 'options.warmup', opts.warmup);
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
  const times = timeBlocks((n) => timeBlock(fn, n, device), number, minRunTime);
  const peak = device === 'cpu' ? null : cuda.memory(device).peak - base;
  return new Measurement(times, number, opts.label ?? 'f()', opts.subLabel ?? '', opts.description ?? '', device, peak, opts.params ?? {});
}

/**
 * Times blocks of `number` runs until minRunTime seconds are spent and at least 3 blocks
 * exist; returns seconds per run for each block (in the order measured).
 */
export function timeBlocks(timeRuns: (n: number) => number, number: number, minRunTime: number): number[] {
  const times: number[] = [];
  let total = 0;
  while (total < minRunTime || times.length < 3) {
    const t = timeRuns(number);
    total += t;
    times.push(t / number);
  }
  return times;
}
