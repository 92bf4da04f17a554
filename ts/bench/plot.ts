// plotMeasurements(): a sweep as a chart, written as .svg and .png — the line and bar
// figures of xFormers' BENCHMARKS.md (time against sequence length, one line per
// mechanism). The chart is a Vega-Lite spec rendered headless by Vega's View.toSVG; the
// PNG is that SVG rasterized by resvg (a prebuilt native module, no browser or canvas).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidParameterError } from '../errors';
import { importOptional, requireOptional } from './optional';
import { Measurement } from './timer';

/** What plotting needs: optional peer dependencies, loaded on first use. */
const PLOT_PACKAGES = ['vega', 'vega-lite', '@resvg/resvg-js'];
const PLOT_PURPOSE = 'draw plots';

export type PlotStatistic = 'median' | 'mean' | 'q1' | 'q3' | 'iqr';

export interface PlotOptions {
  /** The x axis: a params key (e.g. 'N'), or 'label' | 'subLabel' | 'description'. */
  x: string;
  /** One line (or bar colour) per value of this params key or field. */
  series?: string;
  /** The statistic plotted, in the unit that suits the data (default 'median'), or a numeric params key (e.g. 'GBps'). */
  y?: PlotStatistic | string;
  title?: string;
  /** Output path; '.svg' and '.png' are written beside each other (an extension given is replaced). */
  file: string;
  /** 'line' when every x is a number (default), else 'bar'. */
  mark?: 'line' | 'bar';
  /** Logarithmic x (base 2) / y axes; default: log x for a line over numbers spanning 8x or more. */
  logX?: boolean;
  logY?: boolean;
  /** Axis titles (default: the x key, "<y> time (<unit>)"). */
  xTitle?: string;
  yTitle?: string;
  /** PNG pixels per SVG pixel (default 2). */
  scale?: number;
}

export interface PlotFiles {
  svg: string;
  png: string;
}

interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, opts: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
}
interface VegaLiteModule { compile(spec: unknown): { spec: unknown } }
interface ResvgModule {
  Resvg: new (svg: string, opts: unknown) => { render(): { asPng(): Buffer } };
}

function field(m: Measurement, key: string): string | number | boolean | null {
  if (key === 'label' || key === 'subLabel' || key === 'description' || key === 'device') return m[key];
  const v = m.params[key];
  return v === undefined ? null : v;
}

/** The Vega-Lite spec plotMeasurements renders (exported for tests and for reuse). */
export function plotSpec(measurements: readonly Measurement[], options: Omit<PlotOptions, 'file'>): Record<string, unknown> {
  const fn = 'plotMeasurements';
  if (!Array.isArray(measurements) || measurements.length === 0 || measurements.some((m) => !(m instanceof Measurement))) {
    throw invalidParameterError(fn, 'measurements', 'a non-empty array of Measurement', measurements);
  }
  if (typeof options?.x !== 'string') throw invalidParameterError(fn, 'options.x', 'a params key or field name', options?.x);
  const y = options.y ?? 'median';
  const isStat = ['median', 'mean', 'q1', 'q3', 'iqr'].includes(y);
  if (typeof y !== 'string' || (!isStat && measurements.some((m) => typeof m.params[y] !== 'number'))) {
    throw invalidParameterError(fn, 'options.y', "'median', 'mean', 'q1', 'q3', 'iqr' or a numeric params key", y);
  }
  const value = (m: Measurement) => (isStat ? m[y as PlotStatistic] : m.params[y] as number);
  const biggest = Math.max(...measurements.map(value));
  const [unit, scale] = !isStat ? ['', 1] : biggest >= 1 ? ['s', 1] : biggest >= 1e-3 ? ['ms', 1e3] : ['us', 1e6];
  const values = measurements.map((m) => ({
    x: field(m, options.x),
    series: options.series ? String(field(m, options.series)) : '',
    y: value(m) * scale,
    lo: m.q1 * scale,
    hi: m.q3 * scale,
  }));
  const numeric = values.every((v) => typeof v.x === 'number');
  const mark = options.mark ?? (numeric ? 'line' : 'bar');
  const xs = values.map((v) => v.x as number);
  const logX = options.logX ?? (mark === 'line' && numeric && Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) >= 8);
  const xTitle = options.xTitle ?? options.x;
  const yTitle = options.yTitle ?? (isStat ? `${y} time (${unit})` : y);
  const color = options.series ? { field: 'series', type: 'nominal', title: options.series } : undefined;
  const yScale = options.logY ? { type: 'log' } : { zero: true };
  const layers: unknown[] = [];
  if (mark === 'line') {
    const x = { field: 'x', type: 'quantitative', title: xTitle, scale: logX ? { type: 'log', base: 2 } : { zero: false }, axis: { values: [...new Set(xs)], format: '.4~g' } };
    layers.push({ mark: { type: 'line', point: true }, encoding: { x, y: { field: 'y', type: 'quantitative', title: yTitle, scale: yScale }, color } });
    if (y === 'median') layers.push({ mark: { type: 'rule' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } });
  } else {
    const x = { field: 'x', type: 'nominal', title: xTitle, sort: null, axis: { labelAngle: 0 } };
    const xOffset = options.series ? { field: 'series', type: 'nominal' } : undefined;
    layers.push({ mark: { type: 'bar' }, encoding: { x, xOffset, y: { field: 'y', type: 'quantitative', title: yTitle, scale: yScale }, color } });
    if (y === 'median') layers.push({ mark: { type: 'rule' }, encoding: { x, xOffset, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: options.title ?? '',
    width: 480,
    height: 300,
    background: 'white',
    data: { values: values.map((v) => ({ ...v, x: v.x === null ? 'n/a' : v.x })) },
    layer: layers,
    config: { font: 'DejaVu Sans, Liberation Sans, Arial, sans-serif', legend: { labelLimit: 0 } },
  };
}

/** Renders the measurements as a chart and writes `<file>.svg` and `<file>.png`. */
export async function plotMeasurements(measurements: readonly Measurement[], options: PlotOptions): Promise<PlotFiles> {
  if (typeof options?.file !== 'string' || options.file.length === 0) throw invalidParameterError('plotMeasurements', 'options.file', 'a path', options?.file);
  const spec = plotSpec(measurements, options);
  const svg = await renderSVG(spec);
  const base = options.file.replace(/\.(svg|png)$/i, '');
  fs.mkdirSync(path.dirname(path.resolve(base)), { recursive: true });
  const files = { svg: `${base}.svg`, png: `${base}.png` };
  fs.writeFileSync(files.svg, svg);
  fs.writeFileSync(files.png, await renderPNG(svg, options.scale ?? 2));
  return files;
}

/** A Vega-Lite spec as SVG text, headless. */
export async function renderSVG(vegaLiteSpec: unknown): Promise<string> {
  const vega = await importOptional<VegaModule>('vega', PLOT_PACKAGES, PLOT_PURPOSE);
  const vl = await importOptional<VegaLiteModule>('vega-lite', PLOT_PACKAGES, PLOT_PURPOSE);
  const view = new vega.View(vega.parse(vl.compile(vegaLiteSpec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG text as PNG bytes, `scale` pixels per SVG pixel, with the system's fonts. */
export async function renderPNG(svg: string, scale = 2): Promise<Buffer> {
  const { Resvg } = requireOptional<ResvgModule>('@resvg/resvg-js', PLOT_PACKAGES, PLOT_PURPOSE);
  return new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  }).render().asPng();
}
