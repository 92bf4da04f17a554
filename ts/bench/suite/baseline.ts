// This run against the kept baseline of its GPU kind (bench/baselines/<kind>.json in a
// checkout, or a file given by --baseline): each case measured in both, with the ratio of
// the medians, so that a change that slows a kernel shows in the run that made it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatTime, fromJSON } from '../report';
import { Measurement, MeasurementJSON } from '../timer';
import { PACKAGE_ROOT } from './peers';

/** The GPU kind a baseline is kept for: 'NVIDIA H100 80GB HBM3' -> 'H100', 'NVIDIA H200' -> 'H200', 'cpu' -> 'cpu'. */
export function gpuKind(deviceName: string): string {
  const words = deviceName.replace(/^NVIDIA\s+/i, '').trim().split(/\s+/);
  return (words[0] || 'unknown').replace(/\W+/g, '_');
}

/** The baseline file: the one given, else bench/baselines/<kind>.json of the checkout (null when absent). */
export function baselineFile(kind: string, given?: string): string | null {
  if (given !== undefined) return path.resolve(given);
  const file = path.join(PACKAGE_ROOT, 'bench', 'baselines', `${kind}.json`);
  return fs.existsSync(file) ? file : null;
}

export interface BaselineRow {
  label: string;
  subLabel: string;
  description: string;
  /** Medians in seconds. */
  baseline: number;
  now: number;
  /** now / baseline: above 1 is slower than the baseline. */
  ratio: number;
}

/** What a results file holds that the comparison needs. */
export interface BaselineRecord { date?: string; commit?: string | null; measurements: MeasurementJSON[] }

const key = (m: Measurement) => `${m.label}\u0000${m.subLabel}\u0000${m.description}`;

/** Every case of `now` that the baseline measured too (the seed-format 'f(x)' rows, which repeat the summary's, left out). */
export function compareToBaseline(now: readonly Measurement[], baseline: readonly Measurement[]): BaselineRow[] {
  const before = new Map(baseline.filter((m) => m.label !== 'f(x)').map((m) => [key(m), m]));
  const rows: BaselineRow[] = [];
  for (const m of now) {
    const b = m.label === 'f(x)' ? undefined : before.get(key(m));
    if (!b) continue;
    rows.push({ label: m.label, subLabel: m.subLabel, description: m.description, baseline: b.median, now: m.median, ratio: m.median / b.median });
  }
  return rows;
}

/** Reads a results file as the comparison's baseline. */
export function readBaseline(file: string): BaselineRecord & { parsed: Measurement[] } {
  const record = JSON.parse(fs.readFileSync(file, 'utf8')) as BaselineRecord;
  if (!Array.isArray(record?.measurements)) throw new TypeError(`bench: the baseline ${file} holds no measurements array`);
  return { ...record, parsed: fromJSON(record.measurements) };
}

/** The comparison as a markdown table, the baseline's commit and date in its first line. */
export function formatBaseline(rows: readonly BaselineRow[], file: string, record: BaselineRecord): string {
  const head = `Against the baseline ${file} (${record.date ?? 'undated'}${record.commit ? `, commit ${record.commit}` : ''}): ` +
    `${rows.length} case${rows.length === 1 ? '' : 's'} in both; ratio = now / baseline (above 1: slower).`;
  return [head, '', '| case | baseline | now | ratio |', '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${[r.label, r.subLabel, r.description].filter((s) => s).join(' / ')} | ${formatTime(r.baseline)} | ${formatTime(r.now)} | ${r.ratio.toFixed(2)} |`),
  ].join('\n');
}
