// runSweep(): one measurement per case of a sweep (e.g. the configurations sweep() in
// ts/models/vit.ts yields), a progress bar on a TTY, and a case that runs out of device
// memory (an Error with code 'ERR_CUDA_OOM') skipped with a note instead of ending the run.
import type { SingleBar } from 'cli-progress';
import { invalidParameterError } from '../errors';
import { requireOptional } from './optional';
import { benchmark, BenchmarkOptions, Measurement, MeasurementParams } from './timer';

/** What a case's setup returns: the function to time, with an optional cleanup. */
export type SweepWork = (() => unknown) | { run: () => unknown; dispose?: () => void };

export interface SweepOptions<C> {
  /** Timing options for every case (minRunTime, warmup, device). */
  benchmark?: Omit<BenchmarkOptions, 'label' | 'subLabel' | 'description' | 'params'>;
  /** The measurement's label: a string, or one from the case. Default 'f()'. */
  label?: string | ((c: C) => string);
  subLabel?: string | ((c: C) => string);
  description?: string | ((c: C) => string);
  /** The case as plain values, kept in Measurement.params. Default: the case's own primitive fields. */
  params?: (c: C) => MeasurementParams;
  /**
   * A progress bar on the stream (the optional package cli-progress): 'auto' (default) draws one
   * only when the stream is a TTY and cli-progress is installed; true requires it.
   */
  progress?: boolean | 'auto';
  /** Where the bar goes (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Error codes that skip a case with a note (default ['ERR_CUDA_OOM']); any other error ends the sweep. */
  skipCodes?: readonly string[];
}

export interface SkippedCase<C> {
  case: C;
  params: MeasurementParams;
  /** "out of memory: <the error's message>" */
  note: string;
  error: Error;
}

export interface SweepResult<C> {
  measurements: Measurement[];
  skipped: SkippedCase<C>[];
}

/**
 * Runs every case: `fn(c)` sets the case up and returns the work to time (or a finished
 * Measurement, when it times the case itself); the work is timed with benchmark() and
 * disposed. Cases are measured one after another, in order.
 */
export async function runSweep<C>(cases: Iterable<C>, fn: (c: C) => SweepWork | Measurement | Promise<SweepWork | Measurement>,
  options: SweepOptions<C> = {}): Promise<SweepResult<C>> {
  const name = 'runSweep';
  if (cases === null || typeof (cases as Iterable<C>)?.[Symbol.iterator] !== 'function') throw invalidParameterError(name, 'cases', 'an iterable', cases);
  if (typeof fn !== 'function') throw invalidParameterError(name, 'fn', 'a function', fn);
  const list = [...cases];
  const skipCodes = options.skipCodes ?? ['ERR_CUDA_OOM'];
  const stream = options.stream ?? process.stderr;
  const showBar = options.progress === true || ((options.progress ?? 'auto') === 'auto' && stream.isTTY === true);
  const bar = showBar ? progressBar(stream, options.progress === true) : null;
  bar?.start(list.length, 0, { case: '' });
  const result: SweepResult<C> = { measurements: [], skipped: [] };
  try {
    for (const c of list) {
      const params = options.params ? options.params(c) : primitives(c);
      const text = (o: string | ((c: C) => string) | undefined, fallback: string) => (typeof o === 'function' ? o(c) : o ?? fallback);
      bar?.update({ case: describeParams(params) });
      let work: SweepWork | Measurement | undefined;
      try {
        work = await fn(c);
        if (work instanceof Measurement) {
          result.measurements.push(work);
        } else {
          const run = typeof work === 'function' ? work : work.run;
          result.measurements.push(benchmark(run, {
            ...options.benchmark, label: text(options.label, 'f()'), subLabel: text(options.subLabel, ''),
            description: text(options.description, ''), params,
          }));
        }
      } catch (e) {
        const code = (e as { code?: unknown })?.code;
        if (!(e instanceof Error) || typeof code !== 'string' || !skipCodes.includes(code)) throw e;
        const what = code === 'ERR_CUDA_OOM' ? 'out of memory' : code;
        result.skipped.push({ case: c, params, note: `${what}: ${e.message.split('\n')[0]}`, error: e });
      } finally {
        if (work && typeof work === 'object' && !(work instanceof Measurement)) work.dispose?.();
      }
      bar?.increment();
      // Let the bar's timer and other callbacks run between cases.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    bar?.stop();
  }
  return result;
}

/** cli-progress's bar on the stream; null without the package unless it is required. */
function progressBar(stream: NodeJS.WriteStream, required: boolean): SingleBar | null {
  let cliProgress: typeof import('cli-progress');
  try {
    cliProgress = requireOptional<typeof import('cli-progress')>('cli-progress', ['cli-progress'], 'draw a progress bar (runSweep progress: true)');
  } catch (e) {
    if (required) throw e;
    return null;
  }
  return new cliProgress.SingleBar({ stream, format: '{bar} {value}/{total} {case}', hideCursor: true, clearOnComplete: true });
}

/** The string, number, boolean and null fields of a case (a plain object); {} otherwise. */
function primitives(c: unknown): MeasurementParams {
  if (c === null || typeof c !== 'object') return { case: c as string | number | boolean | null };
  const out: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(c)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v as string | number | boolean | null;
  }
  return out;
}

/** "N=197 D=64 dtype=float16" */
export function describeParams(params: MeasurementParams): string {
  return Object.entries(params).map(([k, v]) => `${k}=${v}`).join(' ');
}
