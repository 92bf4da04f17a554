// compare(): measurements as tables, after torch.utils.benchmark.Compare. One table per
// label; a row per sub-label; a column per description; each cell the median in the
// table's unit and its ratio to the baseline row's median in the same column.
import { invalidParameterError } from '../errors';
import { Measurement, timeUnit } from './timer';

export interface CompareOptions {
  /**
   * The sub-label whose median every other row's is divided by, per table and column.
   * Default: the first sub-label seen in each table. `null`: no ratios.
   */
  baseline?: string | null;
  /**
   * Add a last column with each row's memory: the peak over the run (peakMemoryBytes) of
   * the row's first measurement, and the memory a CUDA graph holds where its params say
   * (graphMemoryBytes). For one-column tables such as the ViT summary. Default false.
   */
  memory?: boolean;
}

export interface ComparisonCell {
  measurement: Measurement;
  /** median / the baseline's median in the same column; null without a baseline there. */
  ratio: number | null;
}

export interface ComparisonGroup {
  label: string;
  /** Descriptions, in the order first seen. */
  columns: string[];
  rows: { subLabel: string; cells: (ComparisonCell | null)[] }[];
  /** The baseline sub-label of this table, or null. */
  baseline: string | null;
  /** The unit the table prints times in, chosen from its smallest median. */
  unit: { name: 's' | 'ms' | 'us'; scale: number };
  /** Whether the tables end with the memory column (CompareOptions.memory). */
  memory: boolean;
}

/** A row's memory cell: "38.7 MB", "0.1 MB, graph 86.4 MB", or '' when nothing was measured. */
function memoryCell(row: ComparisonGroup['rows'][number]): string {
  const m = row.cells.find((c) => c !== null)?.measurement;
  if (!m) return '';
  const parts: string[] = [];
  if (m.peakMemoryBytes !== null) parts.push(`${(m.peakMemoryBytes / 1e6).toFixed(1)} MB`);
  const graph = m.params.graphMemoryBytes;
  if (typeof graph === 'number') parts.push(`graph ${(graph / 1e6).toFixed(1)} MB`);
  return parts.join(', ');
}

const UNIT_WORDS = { s: 'seconds (s)', ms: 'milliseconds (ms)', us: 'microseconds (us)' };

/** Formats a ratio as "1.23x" (3 significant digits below 10). */
export function formatRatio(r: number): string {
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

export class Comparison {
  constructor(readonly groups: readonly ComparisonGroup[]) {}

  /** Every measurement, table by table, row by row, with its ratio. */
  *cells(): Generator<ComparisonCell & { group: ComparisonGroup }> {
    for (const group of this.groups) {
      for (const row of group.rows) for (const cell of row.cells) if (cell) yield { ...cell, group };
    }
  }

  /** Text tables in torch's Compare shape. */
  toString(): string {
    const out: string[] = [];
    for (const g of this.groups) {
      const header = ['', ...g.columns.map((c) => c || 'median'), ...(g.memory ? ['memory'] : [])];
      const body = g.rows.map((r) => [r.subLabel, ...r.cells.map((c) => formatCell(c, g)), ...(g.memory ? [memoryCell(r)] : [])]);
      const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
      const line = (cells: string[]) =>
        cells.map((c, i) => (i === 0 ? `  ${c.padEnd(widths[0])}` : ` ${c.padStart(widths[i])} `)).join(' |').trimEnd();
      const table = [line(header), ...body.map(line)];
      const width = Math.max(...table.map((l) => l.length), g.label.length + 8);
      const dashes = width - g.label.length - 4;
      out.push(`[${'-'.repeat(Math.floor(dashes / 2))} ${g.label} ${'-'.repeat(Math.ceil(dashes / 2))}]`, ...table);
      const note = g.baseline === null ? '' : `; (x) = time / time of '${g.baseline}' in the same column`;
      out.push(`Times are medians in ${UNIT_WORDS[g.unit.name]}${note}.`, '');
    }
    return out.join('\n').trimEnd();
  }

  /** Markdown: one table per label, under a bold title line. */
  toMarkdown(): string {
    const out: string[] = [];
    for (const g of this.groups) {
      const note = g.baseline === null ? '' : `; (x) = time / time of ${g.baseline}`;
      out.push(`**${g.label}** (median, ${g.unit.name}${note})`, '');
      const mem = g.memory ? ['memory'] : [];
      out.push(`| | ${[...g.columns.map((c) => c || 'median'), ...mem].join(' | ')} |`, `| --- |${' --- |'.repeat(g.columns.length + mem.length)}`);
      for (const r of g.rows) out.push(`| ${r.subLabel} | ${[...r.cells.map((c) => formatCell(c, g)), ...(g.memory ? [memoryCell(r)] : [])].join(' | ')} |`);
      out.push('');
    }
    return out.join('\n').trimEnd() + '\n';
  }
}

function formatCell(cell: ComparisonCell | null, g: ComparisonGroup): string {
  if (!cell) return '';
  const t = (cell.measurement.median / g.unit.scale).toFixed(2);
  return cell.ratio === null ? t : `${t} (${formatRatio(cell.ratio)})`;
}

/** Groups measurements by label, sub-label and description, with ratios to a baseline. */
export function compare(measurements: readonly Measurement[], options: CompareOptions = {}): Comparison {
  const fn = 'compare';
  if (!Array.isArray(measurements) || measurements.some((m) => !(m instanceof Measurement))) {
    throw invalidParameterError(fn, 'measurements', 'an array of Measurement', measurements);
  }
  if (options.baseline !== undefined && options.baseline !== null && typeof options.baseline !== 'string') {
    throw invalidParameterError(fn, 'options.baseline', 'a sub-label (string) or null', options.baseline);
  }
  const byLabel = new Map<string, Measurement[]>();
  for (const m of measurements) {
    if (!byLabel.has(m.label)) byLabel.set(m.label, []);
    byLabel.get(m.label)!.push(m);
  }
  const groups: ComparisonGroup[] = [];
  for (const [label, ms] of byLabel) {
    const columns = unique(ms.map((m) => m.description));
    const subLabels = unique(ms.map((m) => m.subLabel));
    const baseline = options.baseline === null ? null : options.baseline ?? subLabels[0];
    // The last measurement of a (sub-label, description) pair wins.
    const at = new Map(ms.map((m) => [`${m.subLabel}\u0000${m.description}`, m]));
    const base = columns.map((c) => (baseline === null ? undefined : at.get(`${baseline}\u0000${c}`)));
    const rows = subLabels.map((subLabel) => ({
      subLabel,
      cells: columns.map((c, i): ComparisonCell | null => {
        const m = at.get(`${subLabel}\u0000${c}`);
        if (!m) return null;
        const b = base[i];
        return { measurement: m, ratio: b && b.median > 0 ? m.median / b.median : null };
      }),
    }));
    const unit = timeUnit(Math.min(...ms.map((m) => m.median)));
    groups.push({ label, columns, rows, baseline: baseline !== null && base.some((b) => b) ? baseline : null, unit, memory: options.memory === true });
  }
  return new Comparison(groups);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
