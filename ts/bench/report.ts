// Writers for measurements and comparisons: JSON (a round trip through Measurement.toJSON /
// fromJSON), markdown tables and CSV rows (one row per measurement, params as columns).
import { invalidParameterError } from '../errors';
import { Comparison, formatRatio } from './compare';
import { Measurement, MeasurementJSON, timeUnit } from './timer';

type Input = readonly Measurement[] | Comparison;

function rowsOf(fn: string, input: Input): { m: Measurement; ratio: number | null }[] {
  if (input instanceof Comparison) return [...input.cells()].map((c) => ({ m: c.measurement, ratio: c.ratio }));
  if (!Array.isArray(input) || input.some((m) => !(m instanceof Measurement))) {
    throw invalidParameterError(fn, 'input', 'an array of Measurement or a Comparison', input);
  }
  return input.map((m) => ({ m, ratio: null }));
}

/** JSON text of the measurements (an array of Measurement.toJSON()), indented by `indent`. */
export function toJSON(input: Input, indent = 1): string {
  return JSON.stringify(rowsOf('toJSON', input).map((r) => r.m.toJSON()), null, indent);
}

/** The measurements that toJSON() wrote (text or parsed array). */
export function fromJSON(json: string | readonly Partial<MeasurementJSON>[]): Measurement[] {
  const list = typeof json === 'string' ? JSON.parse(json) as unknown : json;
  if (!Array.isArray(list)) throw invalidParameterError('fromJSON', 'json', 'an array from toJSON()', list);
  return list.map((o) => Measurement.fromJSON(o as Partial<MeasurementJSON>));
}

/** Time in the unit that suits it, 3 decimals: "4.989 ms". */
export function formatTime(seconds: number): string {
  const u = timeUnit(seconds);
  return `${(seconds / u.scale).toFixed(3)} ${u.name}`;
}

/**
 * Markdown. Measurements: one flat table (label, sub-label, description, median, IQR,
 * measurements x runs, device, peak memory). A Comparison: its grouped tables with ratios.
 */
export function toMarkdown(input: Input): string {
  if (input instanceof Comparison) return input.toMarkdown();
  const rows = rowsOf('toMarkdown', input);
  const out = ['| label | sub-label | description | median | IQR | runs | device | memory |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const { m } of rows) {
    const u = timeUnit(m.median);
    const memory = m.peakMemoryBytes === null ? '' : `${(m.peakMemoryBytes / 1e6).toFixed(1)} MB`;
    out.push(`| ${cell(m.label)} | ${cell(m.subLabel)} | ${cell(m.description)} | ${formatTime(m.median)} | ` +
      `${(m.iqr / u.scale).toFixed(3)} ${u.name} | ${m.measurements} x ${m.runsPerMeasurement} | ${m.device} | ${memory} |`);
  }
  return out.join('\n') + '\n';
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * CSV (RFC 4180): one row per measurement; times in seconds; every params key becomes a
 * column (in the order first seen); a Comparison adds its ratio column.
 */
export function toCSV(input: Input): string {
  const rows = rowsOf('toCSV', input);
  const withRatio = input instanceof Comparison;
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.m.params)))];
  const header = ['label', 'sub_label', 'description', 'device', 'median_s', 'q1_s', 'q3_s', 'iqr_s', 'mean_s', 'measurements',
    'runs_per_measurement', 'peak_memory_bytes', ...(withRatio ? ['ratio'] : []), ...keys];
  const lines = [header.map(csvField).join(',')];
  for (const { m, ratio } of rows) {
    const values: unknown[] = [m.label, m.subLabel, m.description, m.device, m.median, m.q1, m.q3, m.iqr, m.mean, m.measurements,
      m.runsPerMeasurement, m.peakMemoryBytes, ...(withRatio ? [ratio] : []), ...keys.map((k) => m.params[k])];
    lines.push(values.map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export { formatRatio };
