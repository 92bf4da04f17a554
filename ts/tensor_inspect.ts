// util.inspect (console.log) of a Tensor, as PyTorch prints one: the values, then shape,
// dtype and device. Values are shown for CPU tensors only: reading a GPU tensor would wait
// for its stream in the middle of a console.log, so a CUDA tensor prints its metadata and
// how to read it (await t.data()) and never blocks.
import { isFloat } from './dtype';
import { Tensor } from './tensor';

/** PyTorch's print options: a tensor over THRESHOLD elements shows EDGE items at each end of each dimension. */
const THRESHOLD = 1000;
const EDGE = 3;

/** Every number in one style (PyTorch's _Formatter): integers as "3.", a wide range in scientific notation, else 4 decimals. */
function formatter(values: ArrayLike<number>, float: boolean): (v: number) => string {
  if (!float) return (v) => String(v);
  let maxAbs = 0, minAbs = Infinity, integral = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const a = Math.abs(v);
    maxAbs = Math.max(maxAbs, a);
    if (a > 0) minAbs = Math.min(minAbs, a);
    if (!Number.isInteger(v)) integral = false;
  }
  const finite = (f: (v: number) => string) => (v: number) => (Number.isFinite(v) ? f(v) : Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  if (integral && maxAbs < 1e8) return finite((v) => `${v}.`);
  if (maxAbs >= 1e8 || maxAbs / minAbs > 1000 || minAbs < 1e-4) return finite((v) => v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2'));
  return finite((v) => v.toFixed(4));
}

/** The nested bracket text of `values` (row-major, `shape`), summarized beyond THRESHOLD elements: only the shown values are formatted. */
function formatValues(values: ArrayLike<number>, shape: readonly number[], float: boolean, indent: number): string {
  const summarize = values.length > THRESHOLD;
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const shown = (n: number) => (summarize && n > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)] : [...Array(n).keys()]);
  const walk = (d: number, at: number, leaf: (at: number) => string): string => {
    if (d === shape.length) return leaf(at);
    const parts = shown(shape[d]).map((i) => (i < 0 ? '...' : walk(d + 1, at + i * strides[d], leaf)));
    const sep = d === shape.length - 1 ? ', ' : `,${'\n'.repeat(shape.length - 1 - d)}${' '.repeat(indent + d + 1)}`;
    return `[${parts.join(sep)}]`;
  };
  const picked: number[] = [];
  walk(0, 0, (at) => { picked.push(values[at]); return ''; });
  const fmt = formatter(picked, float);
  let width = 0;
  for (const v of picked) width = Math.max(width, fmt(v).length);
  return walk(0, 0, (at) => fmt(values[at]).padStart(width));
}

/** The text util.inspect shows for `t`. */
export function inspectTensor(t: Tensor): string {
  const meta = `shape=[${t.shape.join(', ')}], dtype=${t.dtype}, device='${t.device}'${t.requiresGrad ? ', requiresGrad=true' : ''}`;
  if (t.disposed) return `tensor(<disposed>, ${meta})`;
  if (t.device !== 'cpu') return `tensor(<on ${t.device}: not read; await t.data() reads it>, ${meta})`;
  const body = formatValues(t.dataSync(), t.shape, isFloat(t.dtype), 'tensor('.length);
  return `tensor(${body}, ${meta})`;
}

Object.defineProperty(Tensor.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: Tensor) {
    return inspectTensor(this);
  },
  configurable: true,
});
