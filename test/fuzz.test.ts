// The fuzz: seeded random calls of the public ops with valid and invalid arguments (wrong
// rank, mismatched dims, wrong dtypes, NaN / negative / fractional numbers, unknown
// activations, mechanisms, dtypes and devices, wrong mask sizes, disposed inputs, mixed
// devices where CUDA exists). Every invalid call must throw an Error naming the function;
// every valid one must match the float64 reference. Then forged calls straight into the
// addon, each of which must throw, never crash. The seed is printed; NODEFORMERS_FUZZ_SEED
// replays one.
import * as assert from 'node:assert/strict';
import * as nf from '../ts/index';
import type { ActivationSpec, Device, DType, FloatDType, Tensor } from '../ts/index';
import { native } from '../ts/native';
import { liveStorage } from '../ts/tensor';
import { attentionReference } from './attention_reference';
import { ACTIVATION_VARIANTS, DEVICES, TOLERANCE, describeDevice, freshSeed } from './helpers';
import {
  activationRef, binaryRef, broadcastOffset, concatRef, linearRef, matmulRef, meanRef, normRef, numel, patchEmbedRef, permuteRef,
  roundTo, rowMajorStrides, softmaxRef, unravel,
} from './reference';

const SEED = process.env.NODEFORMERS_FUZZ_SEED !== undefined ? Number(process.env.NODEFORMERS_FUZZ_SEED) : freshSeed();
const CALLS = 2000;
const RAW_CALLS = 400;
const FLOATS: FloatDType[] = ['float32', 'float16', 'bfloat16'];

/** mulberry32: small, seeded, good enough to pick cases. */
class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick<T>(items: readonly T[]): T { return items[Math.floor(this.next() * items.length)]; }
  chance(p: number): boolean { return this.next() < p; }
}

/** What the reference gives for a valid call: the values (row-major) and the shape. */
interface Expected { out: ArrayLike<number>; shape: readonly number[] }

/** One call: `run` performs it; `reference` (valid calls) gives what it must return; `bad` says what makes it invalid. */
interface Call {
  op: string;
  bad: string | null;
  dtype: DType;
  run: () => unknown;
  reference?: () => Expected;
}

/** Builds calls on one device: makes (and later frees) the input tensors, and applies one mutation when asked. */
class Gen {
  made: { dispose(): void }[] = [];
  constructor(readonly rng: Rng, readonly device: Device, readonly other: Device | null) {}

  dtype(): FloatDType { return this.rng.pick(FLOATS); }
  dim(max = 5): number { return this.rng.chance(0.04) ? 0 : this.rng.int(1, max); }
  shape(minRank: number, maxRank: number, max = 5): number[] {
    return Array.from({ length: this.rng.int(minRank, maxRank) }, () => this.dim(max));
  }
  seed(): number { return this.rng.int(0, 2 ** 31 - 1); }
  track<T extends { dispose(): void }>(t: T): T { this.made.push(t); return t; }
  randn(shape: readonly number[], dtype: DType, device: Device = this.device): Tensor {
    if (dtype === 'int32' || dtype === 'uint8') {
      const values = Array.from({ length: numel(shape) }, () => this.rng.int(0, 1));
      return this.track(nf.tensor(values, shape, { dtype, device }));
    }
    return this.track(nf.randn(shape, { dtype, device, seed: this.seed() }));
  }
  mask(shape: readonly number[]): Tensor {
    const values = Array.from({ length: numel(shape) }, () => (this.rng.chance(0.75) ? 1 : 0));
    return this.track(nf.tensor(values, shape, { dtype: 'uint8', device: this.device }));
  }
  /** `t` disposed: the input a 'disposed' mutation passes. */
  disposed(t: Tensor): Tensor { t.dispose(); return t; }
  /** A copy of `t` on the other device (mixed-device mutations; only when CUDA exists). */
  elsewhere(t: Tensor): Tensor { return this.track(t.to(this.other as Device)); }
  /** A tensor of another float dtype than `t`. */
  otherDtype(t: Tensor): Tensor { return this.track(t.cast(FLOATS.find((d) => d !== t.dtype) as FloatDType)); }
  /** One of the named mutations (those whose condition holds), or null for a valid call. */
  mutation(invalid: boolean, options: Record<string, boolean | undefined>): string | null {
    if (!invalid) return null;
    const names = Object.keys(options).filter((k) => options[k] !== false);
    return this.rng.pick(names);
  }
  free(): void {
    for (const t of this.made) t.dispose();
    this.made = [];
  }
}

const host = (t: Tensor): Float32Array | Int32Array | Uint8Array => t.dataSync();
const BAD_NUMBERS = [NaN, -1, 1.5, Infinity, -Infinity, 2 ** 53 + 2];
const NOT_TENSORS: unknown[] = [null, undefined, 3, 'x', [1, 2], {}, { shape: [2], dtype: 'float32' }];
const BAD_ACTIVATIONS: unknown[] = ['swish', '', 'RELU', 42, [], { name: 'tanh' }, { name: 'relu', slope: 0.1 }, { name: 'smelu', beta: 0 }, { name: 'leaky_relu', slope: NaN }];

function pickActivation(g: Gen): { spec: ActivationSpec; name: string; params: Record<string, number> } {
  const v = g.rng.pick(ACTIVATION_VARIANTS);
  return { spec: v.spec, name: v.name, params: v.params as Record<string, number> };
}

// ---- the ops ------------------------------------------------------------------------------

type Builder = (g: Gen, invalid: boolean) => Call;

const linear: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const lead = g.shape(0, 2);
  const K = g.dim();
  const N = g.dim();
  const bad = g.mutation(invalid, {
    disposed: true, intX: true, notTensor: true, weightDtype: true, weightRank: true, kMismatch: true, biasLength: true,
    activation: true, device: g.other !== null, options: true, scalarX: true,
    residualShape: true, residualDtype: true, residualActivation: true,
  });
  let x = g.randn(bad === 'scalarX' ? [] : [...lead, K], bad === 'intX' ? 'int32' : dtype);
  let w: unknown = g.randn(bad === 'weightRank' ? [N, K, 1] : [N, bad === 'kMismatch' ? K + 1 : K], dtype);
  let b: Tensor | null = g.rng.chance(0.6) || bad === 'biasLength' ? g.randn([bad === 'biasLength' ? N + 1 : N], dtype) : null;
  // A residual (added in the GEMM; in place half the time) on 30% of the valid calls and in its mutations.
  const residualBad = bad !== null && bad.startsWith('residual');
  let residual: Tensor | null = residualBad || (bad === null && g.rng.chance(0.3)) ? g.randn(bad === 'residualShape' ? [...lead, N + 1] : [...lead, N], dtype) : null;
  if (bad === 'residualDtype') residual = g.otherDtype(residual as Tensor);
  const residualValues = residual && !residualBad ? Float64Array.from(host(residual)) : null; // before an in-place call writes it
  const inPlace = residual !== null && !residualBad && g.rng.chance(0.5);
  const act = residual && bad !== 'residualActivation' ? { spec: 'none' as ActivationSpec, name: 'none', params: {} }
    : bad === 'residualActivation' ? { ...pickActivation(g), spec: 'relu' as ActivationSpec } : pickActivation(g);
  let options: unknown = {
    activation: bad === 'activation' ? g.rng.pick(BAD_ACTIVATIONS) : act.spec,
    ...(residual ? { residual, out: inPlace ? residual : undefined } : {}),
  };
  if (bad === 'weightDtype') w = g.otherDtype(w as Tensor);
  if (bad === 'notTensor') w = g.rng.pick(NOT_TENSORS);
  if (bad === 'device') w = g.elsewhere(w as Tensor);
  if (bad === 'options') options = g.rng.pick([5, 'gelu', [1]]);
  if (bad === 'disposed') x = g.disposed(x);
  const weight = w as Tensor;
  return {
    op: 'linear', bad, dtype,
    run: () => nf.linear(x, weight, b, options as nf.LinearOptions),
    reference: () => {
      const out = linearRef(host(x), numel(lead), K, host(weight), N, b && host(b), act.name, act.params);
      return { out: residualValues ? out.map((v, i) => v + residualValues[i]) : out, shape: [...lead, N] };
    },
  };
};

const matmul: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const [M, K, N] = [g.dim(), g.dim(), g.dim()];
  const batch = g.shape(0, 2, 3);
  const bBatch = batch.map((d) => (g.rng.chance(0.3) ? 1 : d)).slice(g.rng.int(0, batch.length));
  const transA = g.rng.chance(0.3);
  const transB = g.rng.chance(0.3);
  const bad = g.mutation(invalid, { kMismatch: true, rankA: true, batch: batch.length > 0 && batch[batch.length - 1] > 1, dtype: true, disposed: true, flag: true, device: g.other !== null });
  const aShape = [...batch, ...(transA ? [K, M] : [M, K])];
  const kb = bad === 'kMismatch' ? K + 1 : K;
  const bLead = bad === 'batch' ? [...batch.slice(0, -1), batch[batch.length - 1] + 1] : bBatch;
  const bShape = [...bLead, ...(transB ? [N, kb] : [kb, N])];
  let a = g.randn(bad === 'rankA' ? [K] : aShape, dtype);
  let b = g.randn(bShape, dtype);
  if (bad === 'dtype') b = g.otherDtype(b);
  if (bad === 'disposed') b = g.disposed(b);
  if (bad === 'device') a = g.elsewhere(a);
  const options = { transposeA: bad === 'flag' ? ('yes' as unknown as boolean) : transA, transposeB: transB };
  return {
    op: 'matmul', bad, dtype,
    run: () => nf.matmul(a, b, options),
    reference: () => matmulRef(host(a), aShape, host(b), bShape, transA, transB),
  };
};

function norm(rms: boolean): Builder {
  return (g, invalid) => {
    const dtype = g.dtype();
    const shape = g.shape(1, 3);
    const C = shape[shape.length - 1];
    const bad = g.mutation(invalid, { weightLength: true, eps: true, intX: true, weightDtype: true, scalarX: true, disposed: true, device: g.other !== null });
    let x = g.randn(bad === 'scalarX' ? [] : shape, bad === 'intX' ? 'uint8' : dtype);
    let w: Tensor | null = g.rng.chance(0.7) || bad?.startsWith('weight') || bad === 'device' ? g.randn([bad === 'weightLength' ? C + 1 : C], dtype) : null;
    const bias = !rms && g.rng.chance(0.7) ? g.randn([C], dtype) : null;
    const eps = bad === 'eps' ? g.rng.pick([NaN, -1, Infinity, 'x' as unknown as number]) : g.rng.pick([1e-5, 1e-6, 0.1]);
    if (bad === 'weightDtype') w = g.otherDtype(w as Tensor);
    if (bad === 'device') w = g.elsewhere(w as Tensor);
    if (bad === 'disposed') x = g.disposed(x);
    return {
      op: rms ? 'rmsNorm' : 'layerNorm', bad, dtype,
      run: () => (rms ? nf.rmsNorm(x, w, eps) : nf.layerNorm(x, w, bias, eps)),
      reference: () => ({ out: normRef(host(x), C, w && host(w), bias && host(bias), eps, rms), shape }),
    };
  };
}

const softmax: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const shape = g.shape(1, 3);
  const C = shape[shape.length - 1];
  const bad = g.mutation(invalid, { maskDtype: true, maskShape: true, scale: true, maskDisposed: true, intX: true, scalarX: true, device: g.other !== null });
  const x = g.randn(bad === 'scalarX' ? [] : shape, bad === 'intX' ? 'int32' : dtype);
  const scale = bad === 'scale' ? g.rng.pick([NaN, Infinity, 'x' as unknown as number]) : g.rng.pick([1, 0.5, -1.5, 2]);
  const maskShape = g.rng.pick([shape, [C], shape.map((d, i) => (i < shape.length - 1 ? 1 : d))]);
  const withMask = g.rng.chance(0.6) || (bad !== null && bad !== 'scale' && bad !== 'intX' && bad !== 'scalarX');
  let mask: Tensor | null = null;
  if (withMask) {
    if (bad === 'maskDtype') mask = g.randn(maskShape, dtype);
    else if (bad === 'maskShape') mask = g.mask([...maskShape.slice(0, -1), C + 2]);
    else mask = g.mask(maskShape);
    if (bad === 'maskDisposed') mask = g.disposed(mask);
    if (bad === 'device') mask = g.elsewhere(mask);
  }
  return {
    op: 'softmax', bad, dtype,
    run: () => nf.softmax(x, { scale, mask }),
    reference: () => {
      const m = mask && host(mask);
      const keep = m && ((i: number) => m[broadcastOffset(unravel(i, shape), maskShape)] !== 0);
      return { out: softmaxRef(host(x), C, scale, keep), shape };
    },
  };
};

type Unary = { op: string; call: (x: Tensor) => Tensor; name: string; params: Record<string, number> };
const activations: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const shape = g.shape(0, 3);
  const slope = g.rng.pick([0.01, 0.2]);
  const beta = g.rng.pick([2, 0.5]);
  const v = pickActivation(g);
  const unaries: Unary[] = [
    { op: 'relu', call: (x) => nf.relu(x), name: 'relu', params: {} },
    { op: 'gelu', call: (x) => nf.gelu(x), name: 'gelu', params: {} },
    { op: 'geluTanh', call: (x) => nf.geluTanh(x), name: 'gelu_tanh', params: {} },
    { op: 'leakyRelu', call: (x) => nf.leakyRelu(x, slope), name: 'leaky_relu', params: { slope } },
    { op: 'squaredRelu', call: (x) => nf.squaredRelu(x), name: 'squared_relu', params: {} },
    { op: 'smelu', call: (x) => nf.smelu(x, beta), name: 'smelu', params: { beta } },
    { op: 'starRelu', call: (x) => nf.starRelu(x), name: 'star_relu', params: {} },
    { op: 'activation', call: (x) => nf.activation(x, v.spec), name: v.name, params: v.params },
  ];
  const u = g.rng.pick(unaries);
  const bad = g.mutation(invalid, {
    intX: true, disposed: true, notTensor: true,
    param: u.op === 'leakyRelu' || u.op === 'smelu' || u.op === 'activation' || u.op === 'starRelu',
  });
  let x: unknown = g.randn(shape, bad === 'intX' ? 'int32' : dtype);
  if (bad === 'disposed') x = g.disposed(x as Tensor);
  if (bad === 'notTensor') x = g.rng.pick(NOT_TENSORS);
  let run = () => u.call(x as Tensor);
  if (bad === 'param') {
    if (u.op === 'leakyRelu') run = () => nf.leakyRelu(x as Tensor, g.rng.pick([NaN, Infinity, 'x' as unknown as number]));
    if (u.op === 'smelu') run = () => nf.smelu(x as Tensor, g.rng.pick([0, -1, NaN]));
    if (u.op === 'starRelu') run = () => nf.starRelu(x as Tensor, { scale: NaN });
    if (u.op === 'activation') { const spec = g.rng.pick(BAD_ACTIVATIONS); run = () => nf.activation(x as Tensor, spec as ActivationSpec); }
  }
  return {
    op: u.op, bad, dtype, run,
    reference: () => ({ out: Array.from(host(x as Tensor), (e) => activationRef(u.name, e, u.params)), shape }),
  };
};

const biasActivation: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const shape = g.shape(1, 3);
  const C = shape[shape.length - 1];
  const act = pickActivation(g);
  const bad = g.mutation(invalid, { biasLength: true, biasDtype: true, activation: true, scalarX: true, disposed: true, device: g.other !== null });
  const x = g.randn(bad === 'scalarX' ? [] : shape, dtype);
  let bias: Tensor | null = g.rng.chance(0.7) || bad !== null ? g.randn([bad === 'biasLength' ? C + 2 : C], dtype) : null;
  if (bad === 'biasDtype') bias = g.otherDtype(bias as Tensor);
  if (bad === 'disposed') bias = g.disposed(bias as Tensor);
  if (bad === 'device') bias = g.elsewhere(bias as Tensor);
  const spec = bad === 'activation' ? g.rng.pick(BAD_ACTIVATIONS) : act.spec;
  return {
    op: 'biasActivation', bad, dtype,
    run: () => nf.biasActivation(x, bias, spec as ActivationSpec),
    reference: () => {
      const xs = host(x);
      const bs = bias && host(bias);
      return { out: Array.from(xs, (e, i) => activationRef(act.name, e + (bs ? bs[i % C] : 0), act.params)), shape };
    },
  };
};

const binary: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const op = g.rng.pick(['add', 'mul', 'sub'] as const);
  let aShape = g.shape(0, 3);
  let bShape = aShape.map((d) => (g.rng.chance(0.3) ? 1 : d)).slice(g.rng.int(0, aShape.length));
  if (g.rng.chance(0.2)) [aShape, bShape] = [bShape, aShape]; // a broadcast too
  const scalar = g.rng.chance(0.15);
  const alpha = g.rng.pick([1, 0.5, -2]);
  const bad = g.mutation(invalid, {
    shapes: aShape.length > 0 && aShape[aShape.length - 1] > 1, dtype: true, notTensor: true, alpha: true, disposed: true, scalarNaN: true, intA: true,
    device: g.other !== null,
  });
  let a = g.randn(aShape, bad === 'intA' ? 'int32' : dtype);
  const wrongB = bad === 'shapes' ? [...aShape.slice(0, -1), aShape[aShape.length - 1] + 1] : bShape;
  let b: unknown = scalar && bad === null ? g.rng.pick([2, -0.5]) : g.randn(wrongB, dtype);
  if (bad === 'dtype') b = g.otherDtype(b as Tensor);
  if (bad === 'notTensor') b = g.rng.pick(['x', null, [1], {}]);
  if (bad === 'scalarNaN') b = g.rng.pick([NaN, Infinity]);
  if (bad === 'disposed') a = g.disposed(a);
  if (bad === 'device') b = g.elsewhere(b as Tensor);
  const options = { alpha: bad === 'alpha' ? g.rng.pick([NaN, Infinity, 'x' as unknown as number]) : alpha };
  return {
    op, bad, dtype,
    run: () => nf[op](a, b as Tensor, options),
    reference: () => (typeof b === 'number' ? binaryRef(op, host(a), aShape, [b], [], alpha) : binaryRef(op, host(a), aShape, host(b as Tensor), bShape, alpha)),
  };
};

const residualAdd: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const shape = g.shape(1, 3);
  const bShape = shape.map((d) => (g.rng.chance(0.3) ? 1 : d)).slice(g.rng.int(0, shape.length));
  const scale = g.rng.pick([1, 0.5]);
  const bad = g.mutation(invalid, {
    shapes: true, strided: shape.length >= 2 && shape[0] > 1 && shape[1] > 1 && numel(shape) > 0, dtype: true, scale: true, disposed: true, device: g.other !== null,
  });
  let x = g.randn(shape, dtype);
  if (bad === 'strided') x = g.track(x.transpose(0, 1));
  let branch = g.randn(bad === 'shapes' ? [...shape, 2] : bShape, dtype);
  if (bad === 'dtype') branch = g.otherDtype(branch);
  if (bad === 'disposed') branch = g.disposed(branch);
  if (bad === 'device') branch = g.elsewhere(branch);
  const before = bad === null ? host(x) : null;
  return {
    op: 'residualAdd', bad, dtype,
    run: () => nf.residualAdd(x, branch, { scale: bad === 'scale' ? NaN : scale }),
    reference: () => binaryRef('add', before as ArrayLike<number>, shape, host(branch), bShape, scale),
  };
};

const concat: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const base = g.shape(1, 3);
  const dim = g.rng.int(0, base.length - 1);
  const count = g.rng.int(1, 4);
  const bad = g.mutation(invalid, { otherDim: base.length > 1 && count > 1, dim: true, empty: true, dtype: count > 1, notArray: true, disposed: true, device: count > 1 && g.other !== null });
  const shapes = Array.from({ length: count }, () => base.map((d, i) => (i === dim ? g.dim() : d)));
  if (bad === 'otherDim') shapes[count - 1] = shapes[count - 1].map((d, i) => (i !== dim ? d + 1 : d));
  let parts: unknown = shapes.map((s) => g.randn(s, dtype));
  const list = parts as Tensor[];
  if (bad === 'dtype') list[count - 1] = g.otherDtype(list[count - 1]);
  if (bad === 'device') list[count - 1] = g.elsewhere(list[count - 1]);
  if (bad === 'disposed') g.disposed(list[0]);
  if (bad === 'empty') parts = [];
  if (bad === 'notArray') parts = list[0];
  const d = bad === 'dim' ? g.rng.pick([base.length, -base.length - 1, 0.5, NaN]) : g.rng.chance(0.3) ? dim - base.length : dim;
  return {
    op: 'concat', bad, dtype,
    run: () => nf.concat(parts as Tensor[], d),
    reference: () => concatRef(list.map((t, i) => ({ data: host(t), shape: shapes[i] })), dim),
  };
};

const slice: Builder = (g, invalid) => {
  const dtype = g.rng.pick<DType>([...FLOATS, 'int32']);
  const shape = g.shape(1, 3);
  const dim = g.rng.int(0, shape.length - 1);
  const size = shape[dim];
  const start = g.rng.int(0, size);
  const end = g.rng.int(start, size);
  const bad = g.mutation(invalid, { reversed: start + 1 <= size, past: true, start: true, dim: true, disposed: true, notTensor: true });
  let x: unknown = g.randn(shape, dtype);
  if (bad === 'disposed') x = g.disposed(x as Tensor);
  if (bad === 'notTensor') x = g.rng.pick(NOT_TENSORS);
  let args: [number, number, number | undefined] = [g.rng.chance(0.3) ? dim - shape.length : dim, start, g.rng.chance(0.2) && end === size ? undefined : end];
  if (bad === 'reversed') args = [dim, start + 1, start];
  if (bad === 'past') args = [dim, start, size + 1];
  if (bad === 'start') args = [dim, g.rng.pick([NaN, 0.5, Infinity, 'x' as unknown as number]), end];
  if (bad === 'dim') args = [g.rng.pick([shape.length, -shape.length - 1, 1.5, NaN]), start, end];
  return {
    op: 'slice', bad, dtype,
    run: () => { const v = nf.slice(x as Tensor, ...args); g.track(v); return v; },
    reference: () => {
      const outShape = shape.map((d, i) => (i === dim ? end - start : d));
      const xs = host(x as Tensor);
      const strides = rowMajorStrides(shape);
      const out = Array.from({ length: numel(outShape) }, (_, i) => {
        const index = unravel(i, outShape);
        index[dim] += start;
        return xs[index.reduce((s, v, j) => s + v * strides[j], 0)];
      });
      return { out, shape: outShape };
    },
  };
};

const permute: Builder = (g, invalid) => {
  const dtype = g.rng.pick<DType>([...FLOATS, 'int32', 'uint8']);
  const shape = g.shape(1, 4);
  const rank = shape.length;
  const dims = shape.map((_, i) => i);
  for (let i = rank - 1; i > 0; i--) { const j = g.rng.int(0, i); [dims[i], dims[j]] = [dims[j], dims[i]]; }
  const useTranspose = g.rng.chance(0.4);
  const [d0, d1] = [g.rng.int(0, rank - 1), g.rng.int(0, rank - 1)];
  const bad = g.mutation(invalid, { length: true, duplicate: rank > 1, range: true, fraction: true, disposed: true });
  let x = g.randn(shape, dtype);
  if (bad === 'disposed') x = g.disposed(x);
  let perm: number[] = dims;
  if (bad === 'length') perm = [...dims, rank];
  if (bad === 'duplicate') perm = dims.map((d, i) => (i === 1 ? dims[0] : d));
  if (bad === 'range') perm = dims.map((d, i) => (i === 0 ? rank : d));
  if (bad === 'fraction') perm = dims.map((d, i) => (i === 0 ? d + 0.5 : d));
  if (useTranspose) {
    const td = [d0, d1];
    if (bad === 'range' || bad === 'length') td[1] = rank;
    if (bad === 'fraction' || bad === 'duplicate') td[0] = NaN;
    const tdims = shape.map((_, i) => i);
    [tdims[d0], tdims[d1]] = [tdims[d1], tdims[d0]];
    return {
      op: 'transpose', bad, dtype,
      run: () => nf.transpose(x, td[0], td[1]),
      reference: () => permuteRef(host(x), shape, tdims),
    };
  }
  return { op: 'permute', bad, dtype, run: () => nf.permute(x, perm), reference: () => permuteRef(host(x), shape, dims) };
};

const mean: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const shape = g.shape(1, 3);
  const dim = g.rng.int(0, shape.length - 1);
  const keepDim = g.rng.chance(0.3);
  const bad = g.mutation(invalid, { dim: true, keepDim: true, intX: true, disposed: true });
  let x = g.randn(shape, bad === 'intX' ? 'int32' : dtype);
  if (bad === 'disposed') x = g.disposed(x);
  const d = bad === 'dim' ? g.rng.pick([shape.length, -shape.length - 1, 0.5, NaN]) : dim;
  return {
    op: 'mean', bad, dtype,
    run: () => nf.mean(x, d, { keepDim: bad === 'keepDim' ? ('yes' as unknown as boolean) : keepDim }),
    reference: () => {
      const r = meanRef(host(x), shape, dim);
      return { out: r.out, shape: keepDim ? shape.map((s, i) => (i === dim ? 1 : s)) : r.shape };
    },
  };
};

const cast: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const to = g.dtype();
  const shape = g.shape(0, 3);
  const bad = g.mutation(invalid, { dtype: true, disposed: true });
  let x = g.randn(shape, dtype);
  if (bad === 'disposed') x = g.disposed(x);
  const target = bad === 'dtype' ? g.rng.pick(['float64', 'int8', 'half', '', 42, null]) : to;
  return {
    op: 'cast', bad, dtype: to,
    run: () => x.cast(target as DType),
    reference: () => ({ out: Array.from(host(x), (v) => roundTo(to, v)), shape }),
  };
};

const patchEmbed: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const P = g.rng.int(1, 3);
  const [B, C, E] = [g.dim(2), g.rng.int(1, 3), g.rng.int(1, 4)];
  const [gh, gw] = [g.rng.int(1, 3), g.rng.int(1, 3)];
  const bad = g.mutation(invalid, { size: P > 1, patch: true, weightC: true, rank: true, bias: true, dtype: true, device: g.other !== null });
  const shape = [B, C, gh * P + (bad === 'size' ? 1 : 0), gw * P];
  const images = g.randn(bad === 'rank' ? shape.slice(1) : shape, dtype);
  let weight = g.randn([E, bad === 'weightC' ? C + 1 : C, P, P], dtype);
  const bias = g.rng.chance(0.6) || bad === 'bias' ? g.randn([bad === 'bias' ? E + 1 : E], dtype) : null;
  if (bad === 'dtype') weight = g.otherDtype(weight);
  if (bad === 'device') weight = g.elsewhere(weight);
  const patch = bad === 'patch' ? g.rng.pick([0, -1, 1.5, NaN, 'x' as unknown as number]) : P;
  return {
    op: 'patchEmbed', bad, dtype,
    run: () => nf.patchEmbed(images, weight, bias, patch),
    reference: () => ({ out: patchEmbedRef(host(images), shape, host(weight), E, bias && host(bias), P), shape: [B, gh * gw, E] }),
  };
};

const attention: Builder = (g, invalid) => {
  const dtype = g.dtype();
  const [B, Nq, Nk, H, D] = [g.rng.int(1, 2), g.rng.int(1, 6), g.rng.int(1, 6), g.rng.int(1, 2), g.rng.int(1, 8)];
  const mechanism = g.rng.pick(['memory_efficient', 'vanilla']);
  const causal = g.rng.chance(0.3);
  const scale = g.rng.chance(0.5) ? undefined : g.rng.pick([0.3, 1]);
  const bad = g.mutation(invalid, {
    mechanism: true, maskSize: true, maskDtype: true, rank: true, headDim: true, dtype: true, causal: true, scale: true, disposed: true,
    biasSize: true, device: g.other !== null,
  });
  let q = g.randn(bad === 'rank' ? [B * Nq, H, D] : [B, Nq, H, D], dtype);
  const k = g.randn([B, Nk, H, bad === 'headDim' ? D + 1 : D], dtype);
  let v = g.randn([B, Nk, H, D], dtype);
  const maskShape = g.rng.pick([[Nq, Nk], [1, H, Nq, Nk], [B, H, Nq, Nk]]);
  let mask: Tensor | null = g.rng.chance(0.4) || bad === 'maskSize' || bad === 'maskDtype' ? g.mask(bad === 'maskSize' ? [Nq, Nk + 1] : maskShape) : null;
  if (bad === 'maskDtype') mask = g.randn(maskShape, 'float32');
  const bias = g.rng.chance(0.3) || bad === 'biasSize' ? g.randn(bad === 'biasSize' ? [Nq + 1, Nk] : [Nq, Nk], 'float32') : null;
  if (bad === 'dtype') v = g.otherDtype(v);
  if (bad === 'disposed') v = g.disposed(v);
  if (bad === 'device') q = g.elsewhere(q);
  const options = {
    mechanism: bad === 'mechanism' ? g.rng.pick(['flash', '', 'Vanilla', 42]) : mechanism,
    causal: bad === 'causal' ? 'yes' : causal,
    scale: bad === 'scale' ? g.rng.pick([NaN, 'x']) : scale,
    mask, bias,
  };
  return {
    op: 'attention', bad, dtype,
    run: () => nf.attention(q, k, v, options as nf.AttentionOptions),
    reference: () => {
      const full = B * H * Nq * Nk;
      const m = mask && host(mask);
      const bs = bias && host(bias);
      const fullShape = [B, H, Nq, Nk];
      const expandMask = m && Uint8Array.from({ length: full }, (_, i) => m[broadcastOffset(unravel(i, fullShape), maskShape)]);
      const expandBias = bs && Float64Array.from({ length: full }, (_, i) => bs[i % (Nq * Nk)]);
      const out = attentionReference({ B, Nq, Nk, H, D, scale: scale ?? 1 / Math.sqrt(D), causal, mask: expandMask, bias: expandBias }, host(q), host(k), host(v));
      return { out, shape: [B, Nq, H, D] };
    },
  };
};

// The sparse mechanisms: 'sparse' over a SparseMask (shared or per-head, any path) and
// 'block_sparse' over a BlockSparseLayout of 16-blocks; invalid: a mask or layout of the
// wrong size or head count, disposed, given to another mechanism, or with options the
// mechanism refuses (bias or causal with 'sparse', a missing layout).
const sparseAttention: Builder = (g, invalid) => {
  const gpu = g.device !== 'cpu';
  const blockSparse = g.rng.chance(0.35);
  // block_sparse runs the tensor-core tiles on CUDA: 16-bit only there
  const dtype = blockSparse && gpu ? g.rng.pick<FloatDType>(['float16', 'bfloat16']) : g.dtype();
  const [B, Nq, Nk, H, D] = [g.rng.int(1, 2), g.rng.int(1, 40), g.rng.int(1, 40), g.rng.int(1, 3), g.rng.pick([4, 8, 12, 16])];
  const bad = blockSparse
    ? g.mutation(invalid, { layoutSize: true, layoutHeads: true, layoutDisposed: true, layoutMissing: true, headDim: true })
    : g.mutation(invalid, { maskSize: true, maskHeads: true, maskDisposed: true, otherMechanism: true, bias: true, causal: true, sparsePath: true, device: g.other !== null });
  const perHead = !blockSparse && (bad === 'maskHeads' || g.rng.chance(0.4));
  let q = g.randn([B, Nq, H, D], dtype);
  const k = g.randn([B, Nk, H, bad === 'headDim' ? D + 1 : D], dtype);
  const v = g.randn([B, Nk, H, D], dtype);
  if (bad === 'device') q = g.elsewhere(q);
  let allowed: (h: number, i: number, j: number) => boolean;
  let options: Record<string, unknown>;
  if (blockSparse) {
    const bs = 16;
    const rows = Math.ceil(Nq / bs) + (bad === 'layoutSize' ? 1 : 0), cols = Math.ceil(Nk / bs);
    const heads = bad === 'layoutHeads' ? H + 1 : g.rng.chance(0.5) ? 1 : H;
    const blocks = Uint8Array.from({ length: heads * rows * cols }, () => (g.rng.chance(0.6) ? 1 : 0));
    const layout = g.track(nf.BlockSparseLayout.fromDense(blocks, bs, { device: g.device, shape: heads === 1 ? [rows, cols] : [heads, rows, cols] }));
    if (bad === 'layoutDisposed') layout.dispose();
    allowed = (h, i, j) => blocks[((heads === 1 ? 0 : h) * rows + Math.floor(i / bs)) * cols + Math.floor(j / bs)] !== 0;
    options = { mechanism: 'block_sparse', layout: bad === 'layoutMissing' ? undefined : layout };
  } else {
    const mh = perHead ? (bad === 'maskHeads' ? H + 1 : H) : 1;
    const cols = Nk + (bad === 'maskSize' ? 1 : 0);
    const dense = Uint8Array.from({ length: mh * Nq * cols }, () => (g.rng.chance(0.3) ? 1 : 0));
    const mask = g.track(nf.SparseMask.fromDense(dense, perHead ? [mh, Nq, cols] : [Nq, cols], { device: g.device }));
    if (bad === 'maskDisposed') mask.dispose();
    allowed = (h, i, j) => dense[((perHead ? h : 0) * Nq + i) * cols + j] !== 0;
    options = {
      mechanism: bad === 'otherMechanism' ? 'memory_efficient' : 'sparse', mask,
      sparsePath: bad === 'sparsePath' ? 'fast' : g.rng.pick(['auto', 'csr', ...(gpu && dtype === 'float32' ? [] : ['block'])]),
      ...(bad === 'bias' ? { bias: g.randn([Nq, Nk], 'float32') } : {}),
      ...(bad === 'causal' ? { causal: true } : {}),
    };
  }
  return {
    op: 'attention', bad, dtype,
    run: () => nf.attention(q, k, v, options as nf.AttentionOptions),
    reference: () => {
      const full = Uint8Array.from({ length: B * H * Nq * Nk }, (_, x) => {
        const j = x % Nk, i = Math.floor(x / Nk) % Nq, h = Math.floor(x / (Nk * Nq)) % H;
        return allowed(h, i, j) ? 1 : 0;
      });
      const out = attentionReference({ B, Nq, Nk, H, D, scale: 1 / Math.sqrt(D), causal: false, mask: full, bias: null }, host(q), host(k), host(v));
      return { out, shape: [B, Nq, H, D] };
    },
  };
};

// Creation, reshape and device moves: non-integer / negative / NaN dims, unknown dtypes and devices.
const create: Builder = (g, invalid) => {
  const dtype = g.rng.pick<DType>(['float32', 'float16', 'bfloat16', 'int32', 'uint8']);
  const shape = g.shape(0, 3);
  const which = g.rng.pick(['zeros', 'ones', 'full', 'empty', 'randn', 'tensor', 'reshape', 'to'] as const);
  const bad = g.mutation(invalid, {
    shape: which !== 'to', dtype: which !== 'reshape' && which !== 'to', device: which !== 'reshape', rank: which !== 'to' && which !== 'reshape',
  });
  const badShape = () => g.rng.pick([[NaN], [-1], [1.5], [2, Infinity], 'x', [2, '3'], null]) as number[];
  let s = bad === 'shape' ? badShape() : bad === 'rank' ? [1, 1, 1, 1, 1, 1, 1, 1, 1] : shape;
  if (which === 'reshape' && Array.isArray(s) && s[0] === -1) s = [-2]; // reshape infers -1: valid
  const opts = {
    dtype: bad === 'dtype' ? g.rng.pick(['float64', 'int8', 'Float32', 3]) : which === 'randn' ? g.dtype() : dtype,
    device: bad === 'device' ? g.rng.pick(['tpu', 'cuda:', 'cuda:-1', 'cuda:x', 'gpu', 'CPU', 0]) : g.device,
  } as nf.TensorOptions;
  const values = Array.from({ length: numel(shape) }, (_, i) => i % 7);
  const expected = (v: number[]) => () => ({ out: v, shape: which === 'reshape' ? [numel(shape)] : shape });
  const calls = {
    zeros: () => nf.zeros(s, opts),
    ones: () => nf.ones(s, opts),
    full: () => nf.full(s, 3, opts),
    empty: () => nf.zeros(s, opts),
    randn: () => nf.randn(s, { ...opts, seed: 5 }),
    tensor: () => nf.tensor(values, s, opts),
    reshape: () => g.randn(shape, 'float32').reshape(bad === 'shape' ? s : [numel(shape)]),
    to: () => g.track(nf.tensor(values, shape, { dtype, device: g.device })).to(opts.device as Device),
  };
  const ref = which === 'zeros' || which === 'empty' ? expected(values.map(() => 0)) : which === 'ones' ? expected(values.map(() => 1))
    : which === 'full' ? expected(values.map(() => 3)) : which === 'tensor' || which === 'to' ? expected(values) : undefined;
  const op = which === 'empty' ? 'zeros' : which;
  return { op, bad, dtype: which === 'randn' ? (opts.dtype as DType) : dtype, run: calls[which], reference: ref };
};

const BUILDERS: [string, Builder][] = [
  ['linear', linear], ['matmul', matmul], ['layerNorm', norm(false)], ['rmsNorm', norm(true)], ['softmax', softmax],
  ['activations', activations], ['biasActivation', biasActivation], ['binary', binary], ['residualAdd', residualAdd],
  ['concat', concat], ['slice', slice], ['permute', permute], ['mean', mean], ['cast', cast], ['patchEmbed', patchEmbed],
  ['attention', attention], ['sparseAttention', sparseAttention], ['create', create],
];

/** ‖a − r‖ ≤ tol · max(‖r‖, √n): relative to the reference, or to unit-sized values when it cancels to nearly nothing. */
function closeEnough(actual: ArrayLike<number>, reference: ArrayLike<number>, tol: number): string | null {
  if (actual.length !== reference.length) return `${actual.length} values, expected ${reference.length}`;
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(actual[i]) !== Number.isNaN(reference[i])) return `element ${i}: ${actual[i]} vs ${reference[i]}`;
    if (Number.isNaN(actual[i])) continue;
    num += (actual[i] - reference[i]) ** 2;
    den += reference[i] ** 2;
  }
  const err = Math.sqrt(num) / Math.max(Math.sqrt(den), Math.sqrt(actual.length), 1e-30);
  return err <= tol ? null : `relative error ${err.toExponential(3)} > ${tol}`;
}

function otherDevice(device: Device): Device | null {
  if (!nf.backends().includes('cuda')) return null;
  return device === 'cpu' ? 'cuda:0' : 'cpu';
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message.split('\n')[0]}` : `a non-Error ${typeof e}: ${String(e)}`;
}

for (const device of DEVICES) {
  describeDevice(device, 'fuzz', () => {
    it(`${CALLS} random calls of the public ops: every invalid one throws an Error naming the function, every valid one matches float64`, function () {
      const seed = SEED + (device === 'cpu' ? 0 : 1);
      console.log(`      fuzz seed ${seed} (replay: NODEFORMERS_FUZZ_SEED=${SEED})`);
      const rng = new Rng(seed);
      const g = new Gen(rng, device, otherDevice(device));
      if (device !== 'cpu') nf.cuda.synchronize(device); // earlier tests' frees are stream-ordered
      const before = device === 'cpu' ? null : nf.cuda.memory(device).allocated;
      let storagesBefore = liveStorage().storages;
      const counts = { valid: 0, invalid: 0 };
      const perOp = new Map<string, { valid: number; invalid: number }>();
      const failures: string[] = [];
      for (let i = 0; i < CALLS; i++) {
        const [name, build] = rng.pick(BUILDERS);
        const invalid = rng.chance(0.5);
        let call: Call;
        try {
          call = build(g, invalid);
        } catch (e) {
          g.free();
          throw new Error(`fuzz call ${i} (${name}): building the case failed: ${describeError(e)}`);
        }
        const label = `call ${i} ${call.op}${call.bad ? ` (${call.bad})` : ''} ${call.dtype}`;
        const tally = perOp.get(call.op) ?? { valid: 0, invalid: 0 };
        perOp.set(call.op, tally);
        let result: unknown;
        let thrown: unknown = null;
        let threw = false;
        try {
          result = call.run();
        } catch (e) {
          threw = true;
          thrown = e;
        }
        if (call.bad !== null) {
          counts.invalid++;
          tally.invalid++;
          if (!threw) failures.push(`${label}: did not throw`);
          else if (!(thrown instanceof Error)) failures.push(`${label}: threw ${describeError(thrown)}`);
          else if (!thrown.message.includes(`${call.op}:`) || thrown.message.length < call.op.length + 12) {
            failures.push(`${label}: the message does not name the function and the problem: ${describeError(thrown)}`);
          }
        } else {
          counts.valid++;
          tally.valid++;
          if (threw) failures.push(`${label}: a valid call threw ${describeError(thrown)}`);
          else if (call.reference) {
            const out = result as Tensor;
            const expected = call.reference();
            if (out.shape.join() !== expected.shape.join()) failures.push(`${label}: shape [${out.shape}] expected [${expected.shape}]`);
            else if (out.dtype !== call.dtype) failures.push(`${label}: dtype ${out.dtype} expected ${call.dtype}`);
            else {
              const why = closeEnough(out.dataSync(), expected.out, TOLERANCE[call.dtype]);
              if (why) failures.push(`${label}: ${why}`);
            }
          }
        }
        if (result && typeof result === 'object' && 'dispose' in result) (result as Tensor).dispose();
        g.free();
        // A call that throws must not leave what it allocated to the garbage collector.
        const storagesNow = liveStorage().storages;
        if (storagesNow > storagesBefore) failures.push(`${label}: left ${storagesNow - storagesBefore} storage(s) alive${threw ? ` after throwing ${describeError(thrown)}` : ''}`);
        storagesBefore = Math.min(storagesBefore, storagesNow); // an earlier test's garbage collected meanwhile
        if (failures.length >= 10) break;
      }
      const table = [...perOp.entries()].sort().map(([op, c]) => `${op} ${c.valid}/${c.invalid}`).join(', ');
      console.log(`      ${counts.valid} valid, ${counts.invalid} invalid calls (valid/invalid by op: ${table})`);
      assert.deepEqual(failures, [], `seed ${seed}`);
      assert.ok(counts.valid >= 600 && counts.invalid >= 600, `too few valid (${counts.valid}) or invalid (${counts.invalid}) calls`);
      if (before !== null) {
        nf.cuda.synchronize(device);
        assert.equal(nf.cuda.memory(device).allocated, before, 'every tensor of the fuzz (and of its failed calls) was freed');
      }
    });

    it(`${RAW_CALLS} forged calls straight into the addon each throw, never crash`, function () {
      const seed = SEED + 7 + (device === 'cpu' ? 0 : 1);
      const rng = new Rng(seed);
      const stats = rawFuzz(rng, device);
      console.log(`      ${stats.calls} forged addon calls (seed ${seed}), all threw Errors; ${stats.validControls} valid controls ran`);
    });
  });
}

// ---- forged calls straight into the addon -------------------------------------------------

/** A plain object laid out like a Tensor, as the addon reads one. */
interface Forged { _storage: unknown; offset: unknown; shape: unknown; strides: unknown; dtype: unknown }

function forge(t: Tensor): Forged {
  return { _storage: t._storage, offset: t.offset, shape: [...t.shape], strides: [...t.strides], dtype: t.dtype };
}

/** An array of `n` (at least 1) elements whose first element's getter throws. */
function throwingArray(n: number): unknown[] {
  const a = new Array<number>(Math.max(1, n)).fill(1);
  Object.defineProperty(a, 0, { get() { throw new Error('forged getter'); } });
  return a;
}

/** The label of a forged argument (JSON, or a note when reading it throws). */
function printable(v: unknown): string {
  try {
    return JSON.stringify(v, (_, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x))?.slice(0, 160) ?? String(v);
  } catch {
    return '(an object whose reading throws)';
  }
}

/** Ways to corrupt one tensor argument; each must make the call throw. */
function corruptTensor(rng: Rng, t: Tensor, output: boolean, optional: boolean): unknown {
  const f = forge(t);
  const storageCtor = (t._storage as object).constructor as new () => unknown;
  const n = t.shape.length;
  const kinds: (() => unknown)[] = [
    () => rng.pick([...(optional ? [] : [null, undefined]), 0, 'tensor', true, [], () => 1, Symbol('t')]),
    () => ({}),
    () => ({ ...f, _storage: rng.pick([{}, null, 5, [], { bytes: 1 << 30 }, new Uint8Array(64)]) }),
    () => ({ ...f, _storage: new storageCtor() }),
    () => ({ ...f, offset: rng.pick([-1, 0.5, NaN, Infinity, 2 ** 60, '0', null, t.size + 1, 1e300]) }),
    () => ({ ...f, dtype: rng.pick(['float64', 'int8', '', 7, null, 'FLOAT32']) }),
    () => ({ ...f, shape: rng.pick(['x', null, 3, { length: 2 }]) }),
    () => ({ ...f, shape: [...t.shape, 1], strides: [...t.strides] }),
    () => ({ ...f, shape: Array(9).fill(1), strides: Array(9).fill(1) }),
    () => ({ ...f, shape: t.shape.map((d, i) => (i === 0 ? rng.pick([d + 1, d * 1000 + 7, 2 ** 40, 1e300]) : d)) }),
    () => ({ ...f, shape: t.shape.map((d, i) => (i === 0 ? rng.pick([-1, 0.5, NaN, Infinity, '2']) : d)) }),
    () => ({ ...f, strides: t.strides.map((s, i) => (i === 0 ? rng.pick([-1, 0.5, NaN, 2 ** 62, 1e300]) : s)) }),
    () => ({ ...f, strides: t.strides.map(() => rng.pick([-1, NaN])) }),
    () => ({ ...f, shape: [0, 2 ** 52, 2 ** 52], strides: [1, 1, 1] }), // empty, but sizes whose product overflows
    () => ({ ...f, _storage: nf.ones([1])._storage }),  // a live storage too small for the view
    () => ({ ...f, [rng.pick(['shape', 'strides'])]: throwingArray(t.shape.length) }),  // the addon's element read raises
    () => { const u = nf.ones([...t.shape], { dtype: t.dtype }); const g = forge(u); (u._storage as { dispose(): void }).dispose(); return g; },
  ];
  if (output && n >= 1 && t.shape[n - 1] > 1) kinds.push(() => ({ ...f, strides: t.strides.map((s, i) => (i === n - 1 ? 0 : s)) })); // a broadcast output
  return rng.pick(kinds)();
}

interface RawOp {
  name: string;
  /** The arguments of a valid call, and which of them are tensors (and outputs). */
  make(): { args: unknown[]; tensors: number[]; outputs: number[]; numbers: number[]; optional?: number[] };
}

function rawOps(device: Device): RawOp[] {
  const f32 = (shape: number[]) => nf.randn(shape, { device, seed: 1 });
  return [
    { name: 'copy', make: () => ({ args: [f32([3, 4]), f32([3, 4])], tensors: [0, 1], outputs: [0], numbers: [] }) },
    { name: 'fill', make: () => ({ args: [f32([5]), 2], tensors: [0], outputs: [0], numbers: [1] }) },
    {
      name: 'gemm',
      make: () => ({ args: [f32([1, 3, 4]), f32([1, 4, 5]), f32([1, 3, 5]), f32([5]), false, false, 1, 1, 0, 0, false], tensors: [0, 1, 2, 3], outputs: [2], numbers: [6, 7], optional: [3] }),
    },
    {
      name: 'gemm', // with a residual (no activation then)
      make: () => ({ args: [f32([1, 3, 4]), f32([1, 4, 5]), f32([1, 3, 5]), f32([5]), false, false, 1, 0, 0, 0, false, f32([1, 3, 5])], tensors: [0, 1, 2, 3, 11], outputs: [2], numbers: [6, 7], optional: [3, 11] }),
    },
    { name: 'norm', make: () => ({ args: [f32([2, 6]), f32([2, 6]), f32([6]), f32([6]), 1e-5, false], tensors: [0, 1, 2, 3], outputs: [0], numbers: [4], optional: [2, 3] }) },
    {
      name: 'softmax',
      make: () => ({ args: [f32([2, 6]), f32([2, 6]), nf.ones([2, 6], { dtype: 'uint8', device }), 1], tensors: [0, 1, 2], outputs: [0], numbers: [3], optional: [2] }),
    },
    { name: 'biasActivation', make: () => ({ args: [f32([2, 6]), f32([2, 6]), f32([6]), 2, 0, 0], tensors: [0, 1, 2], outputs: [0], numbers: [3, 4, 5], optional: [2] }) },
    { name: 'binary', make: () => ({ args: [f32([2, 6]), f32([2, 6]), f32([2, 6]), 0, 1], tensors: [0, 1, 2], outputs: [0], numbers: [3, 4] }) },
    { name: 'mean', make: () => ({ args: [f32([2, 3]), f32([2, 4, 3]), 2, 4, 3], tensors: [0, 1], outputs: [0], numbers: [2, 3, 4] }) },
    { name: 'patchGather', make: () => ({ args: [f32([1, 4, 12]), f32([1, 3, 4, 4]), 2], tensors: [0, 1], outputs: [0], numbers: [2] }) },
    {
      name: 'attention',
      make: () => ({ args: [f32([1, 5, 2, 4]), f32([1, 5, 2, 4]), f32([1, 6, 2, 4]), f32([1, 6, 2, 4]), null, null, 0.5, false], tensors: [0, 1, 2, 3], outputs: [0], numbers: [6] }),
    },
    {
      name: 'encoderBlock', // out, x, then the block's 12 weights (C 4, 2 heads, hidden 8), heads, eps1, eps2, activation (3), scale, plan
      make: () => ({
        args: [f32([1, 3, 4]), f32([1, 3, 4]), f32([4]), f32([4]), f32([12, 4]), f32([12]), f32([4, 4]), f32([4]), f32([4]), f32([4]), f32([8, 4]), f32([8]),
          f32([4, 8]), f32([4]), 2, 1e-5, 1e-5, 2, 0, 0, 0.5, null],
        tensors: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], outputs: [0], numbers: [14, 17], optional: [2, 3, 5, 7, 8, 9, 11, 13],
      }),
    },
  ];
}

/** Numbers the addon must refuse in place of each op's checked numeric arguments. */
const BAD_RAW_NUMBERS: unknown[] = ['1', null, undefined, {}, [], NaN, -1, 1.5, 1e300, -Infinity];
/** Which numeric arguments the addon checks (the others, e.g. alpha or eps, are any number, NaN included). */
const CHECKED_NUMBERS: Record<string, number[]> = {
  copy: [], fill: [], gemm: [7], norm: [], softmax: [], biasActivation: [3], binary: [3], mean: [2, 3, 4], patchGather: [2], attention: [],
  encoderBlock: [14, 17],
};

function expectThrow(label: string, fn: () => unknown): void {
  let threw = false;
  try {
    const r = fn();
    if (r instanceof Promise) r.catch(() => undefined);
  } catch (e) {
    threw = true;
    if (!(e instanceof Error)) assert.fail(`${label}: threw a non-Error ${String(e)}`);
  }
  if (!threw) assert.fail(`${label}: did not throw`);
}

function rawFuzz(rng: Rng, device: Device): { calls: number; validControls: number } {
  const addon = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const ops = rawOps(device);
  let calls = 0;
  let validControls = 0;
  for (const op of ops) {
    // The valid call itself runs (so a corruption below is the only difference).
    const control = op.make();
    addon[op.name](...control.args);
    validControls++;
    for (const a of control.args) if (a && typeof a === 'object' && 'dispose' in a) (a as Tensor).dispose();
  }
  for (let i = 0; i < RAW_CALLS; i++) {
    const op = rng.pick(ops);
    const { args, tensors, outputs, numbers, optional = [] } = op.make();
    const checked = CHECKED_NUMBERS[op.name].filter((k) => numbers.includes(k));
    const mode = rng.int(0, 9);
    let label: string;
    const forgedArgs = [...args];
    if (mode === 0) {
      label = `${op.name}() with no arguments`;
      forgedArgs.length = rng.int(0, Math.min(2, args.length - 1));
    } else if (mode === 1 && checked.length > 0) {
      const k = rng.pick(checked);
      forgedArgs[k] = rng.pick(BAD_RAW_NUMBERS);
      label = `${op.name} argument ${k} = ${String(forgedArgs[k])}`;
    } else {
      const k = rng.pick(tensors);
      forgedArgs[k] = corruptTensor(rng, args[k] as Tensor, outputs.includes(k), optional.includes(k));
      label = `${op.name} tensor argument ${k} forged as ${printable(forgedArgs[k])}`;
    }
    expectThrow(label, () => addon[op.name](...forgedArgs));
    calls++;
    for (const a of args) if (a && typeof a === 'object' && 'dispose' in a) (a as Tensor).dispose();
  }
  // Storage methods and allocate, with forged offsets, sizes, devices and receivers.
  const t = nf.ones([4], { device });
  const storage = t._storage as unknown as Record<string, (...args: unknown[]) => unknown>;
  const storageCases: [string, () => unknown][] = [
    ['allocate bytes -1', () => native().allocate(device, -1)],
    ['allocate bytes NaN', () => native().allocate(device, NaN)],
    ['allocate bytes 1.5', () => native().allocate(device, 1.5)],
    ['allocate bytes 2^60', () => native().allocate(device, 2 ** 60)],
    ['allocate bytes string', () => native().allocate(device, '8' as unknown as number)],
    ['allocate device tpu', () => native().allocate('tpu', 8)],
    ['allocate device 42', () => native().allocate(42 as unknown as string, 8)],
    ['allocate device cuda:99', () => native().allocate('cuda:99', 8)],
    ['allocate device cuda:99999999', () => native().allocate('cuda:99999999', 8)],
    ['upload past the end', () => storage.upload(8, new Uint8Array(16))],
    ['upload offset NaN', () => storage.upload(NaN, new Uint8Array(4))],
    ['upload offset -1', () => storage.upload(-1, new Uint8Array(4))],
    ['upload not bytes', () => storage.upload(0, new Float32Array(4))],
    ['upload array', () => storage.upload(0, [1, 2, 3])],
    ['readSync past the end', () => storage.readSync(4, new Uint8Array(16))],
    ['readSync offset 1e300', () => storage.readSync(1e300, new Uint8Array(1))],
    ['readSync no target', () => storage.readSync(0)],
    ['read past the end', () => storage.read(0, new Uint8Array(17))],
    ['read offset 0.5', () => storage.read(0.5, new Uint8Array(1))],
    ['upload with another receiver', () => storage.upload.call({}, 0, new Uint8Array(1))],
    ['readSync with a primitive receiver', () => storage.readSync.call(5, 0, new Uint8Array(1))],
    ['read with an unwrapped Storage', () => { const s = new ((t._storage as object).constructor as new () => Record<string, (...a: unknown[]) => unknown>)(); return s.read(0, new Uint8Array(1)); }],
    ['sparsePlan offsets past nnz', () => native().sparsePlan(device, Int32Array.from([0, 5]), new Int32Array(1), 1, 1, 1)],
    ['sparsePlan columns a Float64Array', () => native().sparsePlan(device, new Int32Array(1), new Float64Array(0) as never, 1, 0, 0)],
    ['blockPlan of a number', () => native().blockPlan(device, 5 as never)],
    ['blockPlan layout short', () => native().blockPlan(device, { layout: new Uint8Array(3), heads: 1, rows: 2, cols: 2, block: 16 })],
    ['synchronize tpu', () => native().synchronize('tpu')],
    // mean's sizes whose products overflow int64 into a match (this wrote 2^64 elements through a null pointer).
    ['mean outer = inner = 2^32, n = 0', () => native().mean(nf.empty([0], { device }), nf.empty([0], { device }), 2 ** 32, 0, 2 ** 32)],
    ['mean sizes NaN', () => native().mean(nf.empty([0], { device }), nf.empty([0], { device }), NaN, 0, NaN)],
    ['patchGather patch 1e300', () => native().patchGather(nf.empty([1, 1, 3], { device }), nf.empty([1, 3, 1, 1], { device }), 1e300)],
  ];
  for (const [label, fn] of storageCases) {
    expectThrow(label, fn);
    calls++;
  }
  t.dispose();
  for (const [label, fn] of [
    ['upload after dispose', () => storage.upload(0, new Uint8Array(4))],
    ['readSync after dispose', () => storage.readSync(0, new Uint8Array(4))],
    ['read after dispose', () => storage.read(0, new Uint8Array(4))],
  ] as [string, () => unknown][]) {
    expectThrow(label, fn);
    calls++;
  }
  return { calls, validControls };
}
