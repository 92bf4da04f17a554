// Sparse attention: mechanisms 'sparse' (both paths) and 'block_sparse' against the float64
// reference on the dense form of the mask / layout, the masks' API and every argument error
// (the plans the kernels read are tested in sparse_plans.test.ts). Kernel outputs are poisoned first (forwardInto), so an element a
// kernel leaves unwritten fails; the 'auto' runs go through attention() itself.
import * as assert from 'node:assert/strict';
import {
  attention, BlockSparseLayout, Device, FLOAT_DTYPES, FloatDType, patterns, randn, splitQkv, SparseMask, tensor, Tensor, tidy,
} from '../ts/index';
import { broadcastView } from '../ts/attention/attention';
import { allocating } from '../ts/attention/mask_input';
import { rangeError } from '../ts/errors';
import type { AttentionInputs } from '../ts/attention/registry';
import { blockSparse, sparse } from '../ts/attention/sparse';
import { native } from '../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, poisoned } from './helpers';
import { attentionReference } from './attention_reference';

/** A seeded 0/1 mask [heads, rows, cols] of about `density`; rows with i % 3 == 1 empty when asked. */
function randomMask(seed: number, heads: number, rows: number, cols: number, density: number, emptyRows = false): Uint8Array {
  const out = new Uint8Array(heads * rows * cols);
  let r = seed >>> 0;
  for (let x = 0; x < out.length; x++) {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    const row = Math.floor(x / cols) % rows;
    out[x] = emptyRows && row % 3 === 1 ? 0 : (r >>> 8) / 2 ** 24 < density ? 1 : 0;
  }
  return out;
}

/** A per-head (or shared) [heads, Nq, Nk] mask expanded to the reference's [B, H, Nq, Nk]. */
function expand(mask: Uint8Array, heads: number, B: number, H: number, Nq: number, Nk: number): Uint8Array {
  const full = new Uint8Array(B * H * Nq * Nk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) full.set(mask.subarray((heads === 1 ? 0 : h) * Nq * Nk, ((heads === 1 ? 0 : h) + 1) * Nq * Nk), (b * H + h) * Nq * Nk);
  return full;
}

/** A layout [heads, Rb, Cb] of bs-blocks as an element mask [heads, Nq, Nk]. */
function layoutToElements(layout: Uint8Array, heads: number, bs: number, Nq: number, Nk: number): Uint8Array {
  const Rb = Math.ceil(Nq / bs);
  const Cb = Math.ceil(Nk / bs);
  const out = new Uint8Array(heads * Nq * Nk);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < Nq; i++)
      for (let j = 0; j < Nk; j++) out[(h * Nq + i) * Nk + j] = layout[(h * Rb + Math.floor(i / bs)) * Cb + Math.floor(j / bs)];
  return out;
}

interface QKV { q: Tensor; k: Tensor; v: Tensor; dispose(): void }

function makeQkv(device: Device, dtype: FloatDType, B: number, Nq: number, Nk: number, H: number, D: number, seed: number, fused: boolean): QKV {
  if (fused) {
    assert.equal(Nq, Nk);
    const qkv = randn([B, Nq, 3, H, D], { device, dtype, seed });
    const { q, k, v } = splitQkv(qkv);
    assert.equal(q.isContiguous, false);
    return { q, k, v, dispose: () => [qkv, q, k, v].forEach((t) => t.dispose()) };
  }
  const q = randn([B, Nq, H, D], { device, dtype, seed });
  const k = randn([B, Nk, H, D], { device, dtype, seed: seed + 1 });
  const v = randn([B, Nk, H, D], { device, dtype, seed: seed + 2 });
  return { q, k, v, dispose: () => [q, k, v].forEach((t) => t.dispose()) };
}

/** Runs a mechanism into a poisoned output, after the same checks attention() makes. */
function forwardPoisoned(mechanism: typeof sparse, inputs: AttentionInputs): Tensor {
  mechanism.checkInputs?.('attention', inputs);
  assert.deepEqual(mechanism.notSupportedReasons(inputs), []);
  const [B, Nq, H, D] = inputs.q.shape;
  const out = poisoned([B, Nq, H, D], inputs.q.dtype, inputs.q.device);
  mechanism.forwardInto(out, inputs);
  return out;
}

// ---- 'sparse' -----------------------------------------------------------------------------

interface SparseCase {
  B: number; Nq: number; Nk: number; H: number; D: number;
  density: number;
  /** One mask per head ([H, Nq, Nk]) instead of one shared ([Nq, Nk]). */
  perHead?: boolean;
  /** Rows i % 3 == 1 empty. */
  emptyRows?: boolean;
  /** These rows made fully dense (long rows the schedule splits). */
  denseRows?: number[];
  /** The schedule's segment (default the kernel's, 256). */
  segment?: number;
  /** q, k, v as strided views of a fused qkv. */
  fused?: boolean;
}

const sparseCases: SparseCase[] = [
  { B: 1, Nq: 1, Nk: 1, H: 1, D: 8, density: 1.0 },
  { B: 2, Nq: 197, Nk: 197, H: 3, D: 12, density: 0.1 },
  { B: 1, Nq: 197, Nk: 197, H: 2, D: 64, density: 0.5, perHead: true, emptyRows: true },
  { B: 2, Nq: 197, Nk: 197, H: 2, D: 8, density: 0.01 },
  { B: 1, Nq: 197, Nk: 197, H: 2, D: 128, density: 0.001, perHead: true },
  { B: 1, Nq: 150, Nk: 197, H: 2, D: 12, density: 0.1, perHead: true },
  { B: 2, Nq: 197, Nk: 197, H: 2, D: 12, density: 0.1, fused: true },
  { B: 1, Nq: 197, Nk: 197, H: 2, D: 8, density: 0.05, denseRows: [0, 100, 196], segment: 16 },
  { B: 1, Nq: 1000, Nk: 1000, H: 2, D: 64, density: 0.01, perHead: true },
  { B: 1, Nq: 1000, Nk: 1000, H: 1, D: 8, density: 1.0 },
  { B: 1, Nq: 1000, Nk: 1000, H: 2, D: 128, density: 0.001, denseRows: [0, 500, 999] },
];
const cudaSparseCases: SparseCase[] = [
  ...sparseCases,
  { B: 2, Nq: 1000, Nk: 1000, H: 4, D: 64, density: 0.1, perHead: true },
  { B: 1, Nq: 1000, Nk: 1000, H: 2, D: 128, density: 0.5, emptyRows: true },
  { B: 1, Nq: 197, Nk: 1000, H: 2, D: 64, density: 0.5, perHead: true },
  { B: 1, Nq: 4096, Nk: 4096, H: 2, D: 64, density: 0.01, denseRows: [0, 4095] },
];

function caseLabel(c: SparseCase): string {
  return `B${c.B} Nq${c.Nq} Nk${c.Nk} H${c.H} D${c.D} density ${c.density}` +
    (c.perHead ? ', per-head' : '') + (c.emptyRows ? ', empty rows' : '') + (c.denseRows ? `, dense rows ${c.denseRows.join('/')}` : '') +
    (c.segment ? `, segment ${c.segment}` : '') + (c.fused ? ', fused qkv' : '');
}

function runSparse(device: Device, dtype: FloatDType, c: SparseCase, path: 'auto' | 'csr' | 'block'): void {
  const seed = freshSeed();
  const heads = c.perHead ? c.H : 1;
  const dense = randomMask(seed + 7, heads, c.Nq, c.Nk, c.density, c.emptyRows);
  for (const i of c.denseRows ?? []) for (let h = 0; h < heads; h++) dense.fill(1, (h * c.Nq + i) * c.Nk, (h * c.Nq + i + 1) * c.Nk);
  const mask = SparseMask.fromDense(dense, c.perHead ? [c.H, c.Nq, c.Nk] : [c.Nq, c.Nk], { device, segment: c.segment });
  const { q, k, v, dispose } = makeQkv(device, dtype, c.B, c.Nq, c.Nk, c.H, c.D, seed, c.fused ?? false);
  const scale = 1 / Math.sqrt(c.D);
  let out: Tensor;
  if (path === 'auto') {
    out = attention(q, k, v, { mechanism: 'sparse', mask });
  } else {
    out = forwardPoisoned(sparse, { q, k, v, scale, causal: false, mask: null, bias: null, extra: { sparseMask: mask, sparsePath: path } });
  }
  const ref = attentionReference({ B: c.B, Nq: c.Nq, Nk: c.Nk, H: c.H, D: c.D, scale, causal: false, mask: expand(dense, heads, c.B, c.H, c.Nq, c.Nk), bias: null },
    host(q), host(k), host(v));
  const got = host(out);
  assertClose(got, ref, TOLERANCE[dtype], `sparse ${path} ${dtype} seed ${seed}`);
  // Rows without an entry are exact zeros.
  for (let b = 0; b < c.B; b++) for (let h = 0; h < c.H; h++) for (let i = 0; i < c.Nq; i++) {
    const r = (c.perHead ? h : 0) * c.Nq + i;
    if (mask.rowOffsets[r] !== mask.rowOffsets[r + 1]) continue;
    for (let d = 0; d < c.D; d++) assert.equal(got[((b * c.Nq + i) * c.H + h) * c.D + d], 0, `row ${i} head ${h} has no entry: zeros`);
  }
  out.dispose();
  dispose();
  mask.dispose();
}

for (const device of DEVICES) {
  describeDevice(device, 'sparse attention', () => {
    for (const c of device === 'cpu' ? sparseCases : cudaSparseCases) {
      for (const dtype of FLOAT_DTYPES) {
        for (const path of ['csr', 'block', 'auto'] as const) {
          it(`sparse (${path}) matches float64 at ${caseLabel(c)}, ${dtype}`, () => runSparse(device, dtype, c, path));
        }
      }
    }

    it('both paths agree with memory_efficient on mask.toDense()', () => {
      const [B, N, H, D] = [2, 97, 2, 16];
      const mask = SparseMask.fromDense(randomMask(freshSeed(), H, N, N, 0.3), [H, N, N], { device });
      const q = randn([B, N, H, D], { device, seed: freshSeed() });
      const dense = mask.toDense();
      const ref = host(attention(q, q, q, { mask: dense.reshape([1, H, N, N]) }));
      for (const sparsePath of ['csr', 'block'] as const) {
        assertClose(host(attention(q, q, q, { mechanism: 'sparse', mask, sparsePath })), ref, TOLERANCE.float32, sparsePath);
      }
    });

    it('the block path keeps its cached dense mask and tile lists across tidy() scopes', () => {
      const [N, D] = [40, 8];
      const mask = SparseMask.fromDense(randomMask(3, 1, N, N, 0.6), [N, N], { device });
      const q = randn([1, N, 1, D], { device, seed: 5 });
      const first = tidy(() => attention(q, q, q, { mechanism: 'sparse', mask, sparsePath: 'block' }));
      const second = tidy(() => attention(q, q, q, { mechanism: 'sparse', mask, sparsePath: 'block' }));
      assert.deepEqual(host(second), host(first));
    });

    it("explain() says which path 'auto' takes and why", () => {
      const [N, D] = [128, 64];
      const q = randn([1, N, 2, D], { device, dtype: 'float16', seed: 1 });
      const full = SparseMask.fromDense(new Uint8Array(N * N).fill(1), [N, N], { device });
      const few = SparseMask.fromCoordinates([0, 5, 9], [3, 100, 77], [N, N], { device });
      // The tiling of the kernel serving float16 at D, as the mask's plan reports it ([0, 0]: none).
      const stats = full.blockPlan('test').stats('float16', D);
      const [tileM, tileN] = stats === null ? [0, 0] : [stats.tileM, stats.tileN];
      if (device === 'cpu') assert.deepEqual([tileM, tileN], [0, 0], 'the CPU kernels have no tiles');
      for (const [mask, dense] of [[full, true], [few, false]] as const) {
        const e = mask.explain(q);
        assert.deepEqual(e.tileShape, [tileM, tileN]);
        assert.equal(e.density, mask.density);
        assert.equal(typeof e.reason, 'string');
        if (tileM === 0) {
          assert.equal(e.path, 'csr');
          assert.equal(e.fill, null);
        } else {
          assert.equal(e.path, dense ? 'block' : 'csr', e.reason);
          assert.ok(e.fill !== null && e.fill > 0 && e.fill <= 1);
        }
        assert.deepEqual(mask.explain({ shape: q.shape, dtype: 'float16', device }), e);
      }
    });
  });
}

// ---- 'block_sparse' ------------------------------------------------------------------------

interface BlockCase {
  B: number; Nq: number; Nk: number; H: number; D: number;
  blockSize: number;
  /** Fraction of blocks on. */
  density: number;
  perHead?: boolean;
  mask?: boolean;
  causal?: boolean;
  bias?: boolean;
  fused?: boolean;
}

const blockCases: BlockCase[] = [
  ...[16, 32, 64, 128].map((blockSize) => ({ B: 2, Nq: 197, Nk: 197, H: 2, D: 16, blockSize, density: 0.4, perHead: true })),
  { B: 1, Nq: 150, Nk: 197, H: 2, D: 12, blockSize: 32, density: 0.5, mask: true },
  { B: 1, Nq: 197, Nk: 197, H: 3, D: 8, blockSize: 64, density: 0.6, causal: true, perHead: true },
  { B: 1, Nq: 100, Nk: 130, H: 2, D: 24, blockSize: 16, density: 0.5, causal: true, mask: true, bias: true },
  { B: 2, Nq: 64, Nk: 64, H: 2, D: 12, blockSize: 16, density: 0.5, fused: true },
  { B: 1, Nq: 1, Nk: 1, H: 1, D: 8, blockSize: 16, density: 1.0 },
];
const cudaBlockCases: BlockCase[] = [
  ...blockCases,
  ...[16, 32, 64, 128].map((blockSize) => ({ B: 1, Nq: 1000, Nk: 1000, H: 2, D: 64, blockSize, density: 0.3, perHead: true })),
  { B: 1, Nq: 1000, Nk: 1000, H: 2, D: 128, blockSize: 64, density: 0.5, causal: true, mask: true },
  { B: 1, Nq: 4096, Nk: 4096, H: 2, D: 64, blockSize: 128, density: 0.1 },
];

function blockLabel(c: BlockCase): string {
  return `B${c.B} Nq${c.Nq} Nk${c.Nk} H${c.H} D${c.D}, ${c.blockSize}-blocks ${c.density}` + (c.perHead ? ', per-head' : '') +
    (c.mask ? ', element mask' : '') + (c.causal ? ', causal' : '') + (c.bias ? ', bias' : '') + (c.fused ? ', fused qkv' : '');
}

function runBlockSparse(device: Device, dtype: FloatDType, c: BlockCase, viaApi: boolean): void {
  const seed = freshSeed();
  const heads = c.perHead ? c.H : 1;
  const Rb = Math.ceil(c.Nq / c.blockSize);
  const Cb = Math.ceil(c.Nk / c.blockSize);
  const blocks = randomMask(seed + 11, heads, Rb, Cb, c.density);
  const layout = BlockSparseLayout.fromDense(blocks, c.blockSize, { device, shape: c.perHead ? [c.H, Rb, Cb] : [Rb, Cb] });
  const { q, k, v, dispose } = makeQkv(device, dtype, c.B, c.Nq, c.Nk, c.H, c.D, seed, c.fused ?? false);
  const maskHost = c.mask ? randomMask(seed + 13, 1, c.Nq, c.Nk, 0.7) : null;
  const mask = maskHost && tensor(maskHost, [c.Nq, c.Nk], { device });
  const bias = c.bias ? randn([c.Nq, c.Nk], { device, seed: seed + 17 }) : null;
  const scale = 1 / Math.sqrt(c.D);
  const causal = c.causal ?? false;
  const full = [c.B, c.H, c.Nq, c.Nk];
  let out: Tensor;
  if (viaApi) {
    out = attention(q, k, v, { mechanism: 'block_sparse', layout, mask, bias, causal });
  } else {
    const maskView = mask && broadcastView('test', 'mask', mask, full);
    const biasView = bias && broadcastView('test', 'bias', bias, full);
    out = forwardPoisoned(blockSparse, { q, k, v, scale, causal, mask: maskView, bias: biasView, extra: { layout } });
    maskView?.dispose();
    biasView?.dispose();
  }
  const elements = layoutToElements(blocks, heads, c.blockSize, c.Nq, c.Nk);
  const refMask = expand(elements, heads, c.B, c.H, c.Nq, c.Nk);
  if (maskHost) for (let x = 0; x < refMask.length; x++) refMask[x] &= maskHost[x % (c.Nq * c.Nk)];
  const biasHost = bias && host(bias);
  const refBias = biasHost && Float64Array.from({ length: refMask.length }, (_, x) => biasHost[x % (c.Nq * c.Nk)]);
  const ref = attentionReference({ B: c.B, Nq: c.Nq, Nk: c.Nk, H: c.H, D: c.D, scale, causal, mask: refMask, bias: refBias }, host(q), host(k), host(v));
  assertClose(host(out), ref, TOLERANCE[dtype], `block_sparse ${dtype} seed ${seed}`);
  for (const t of [out, mask, bias]) t?.dispose();
  dispose();
  layout.dispose();
}

for (const device of DEVICES) {
  describeDevice(device, 'block_sparse attention', () => {
    for (const c of device === 'cpu' ? blockCases : cudaBlockCases) {
      for (const dtype of FLOAT_DTYPES) {
        it(`block_sparse matches float64 at ${blockLabel(c)}, ${dtype}`, () => runBlockSparse(device, dtype, c, false));
      }
      it(`block_sparse through attention() at ${blockLabel(c)}`, () => runBlockSparse(device, 'float32', c, true));
    }

    it('block_sparse with the layout of a SparseMask matches sparse on it where every block is full', () => {
      // Blocks either fully on or off: the layout allows exactly the mask's entries.
      const [N, H, D, bs] = [100, 2, 16, 16];
      const blocks = randomMask(21, H, Math.ceil(N / bs), Math.ceil(N / bs), 0.5);
      const dense = layoutToElements(blocks, H, bs, N, N);
      const mask = SparseMask.fromDense(dense, [H, N, N], { device });
      const layout = BlockSparseLayout.fromMask(mask, bs);
      assert.deepEqual(Array.from(layout.toDense().dataSync()), Array.from(blocks));
      const q = randn([1, N, H, D], { device, seed: freshSeed() });
      const a = host(attention(q, q, q, { mechanism: 'block_sparse', layout }));
      const b = host(attention(q, q, q, { mechanism: 'sparse', mask, sparsePath: 'csr' }));
      assertClose(a, b, TOLERANCE.float32, 'block_sparse vs sparse');
    });
  });
}

// ---- the masks' API, errors ---------------------------------------------------------------------

describe('SparseMask', () => {
  it('counts, shapes and round-trips through toDense()', () => {
    const dense = Uint8Array.from([1, 0, 7, 0, 0, 0, 0, 1, 1]);
    const m = SparseMask.fromDense(dense, [3, 3]);
    assert.equal(m.nnz, 4);
    assert.equal(m.density, 4 / 9);
    assert.deepEqual(m.shape, [3, 3]);
    assert.equal(m.heads, 1);
    assert.equal(m.nq, 3);
    assert.equal(m.nk, 3);
    assert.equal(m.device, 'cpu');
    assert.deepEqual(Array.from(m.rowOffsets), [0, 2, 2, 4]);
    assert.deepEqual(Array.from(m.colIndices), [0, 2, 1, 2]);
    const back = m.toDense();
    assert.equal(back.dtype, 'uint8');
    assert.deepEqual(back.shape, [3, 3]);
    assert.deepEqual(Array.from(back.dataSync()), [1, 0, 1, 0, 0, 0, 0, 1, 1]);
    m.dispose();
  });

  it('reads a uint8 tensor (per-head shape inferred) and a pattern { rows, cols, data }', () => {
    const values = randomMask(9, 3, 5, 6, 0.4);
    const fromTensor = SparseMask.fromDense(tensor(values, [3, 5, 6]));
    assert.deepEqual(fromTensor.shape, [3, 5, 6]);
    assert.equal(fromTensor.heads, 3);
    assert.deepEqual(Array.from(fromTensor.toDense().dataSync()), Array.from(values));
    const pattern = { rows: 5, cols: 6, data: values.subarray(0, 30) };
    const fromPattern = SparseMask.fromDense(pattern, { device: 'cpu' });
    assert.deepEqual(fromPattern.shape, [5, 6]);
    assert.deepEqual(Array.from(fromPattern.toDense().dataSync()), Array.from(values.subarray(0, 30)));
  });

  it('fromCoordinates merges duplicates and sorts columns', () => {
    const m = SparseMask.fromCoordinates([2, 0, 2, 0, 2], [3, 1, 0, 1, 3], [3, 4]);
    assert.equal(m.nnz, 3);
    assert.deepEqual(Array.from(m.rowOffsets), [0, 1, 1, 3]);
    assert.deepEqual(Array.from(m.colIndices), [1, 0, 3]);
    const perHead = SparseMask.fromCoordinates(Int32Array.from([0, 4]), Int32Array.from([2, 2]), [2, 3, 4]);
    assert.deepEqual(Array.from(perHead.toDense().dataSync()), [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('explain() on the CPU takes the CSR path (no tiles)', () => {
    const m = SparseMask.fromDense(new Uint8Array(16).fill(1), [4, 4]);
    const e = m.explain({ shape: [1, 4, 1, 8], dtype: 'float32', device: 'cpu' });
    assert.deepEqual(e, { path: 'csr', reason: e.reason, density: 1, fill: null, tileShape: [0, 0] });
    assert.throws(() => m.explain({ shape: [1, 5, 1, 8], dtype: 'float32', device: 'cpu' }), { name: 'RangeError', message: /SparseMask.explain: q has Nq = 5/ });
  });

  it('dispose() is idempotent, Symbol.dispose works, and a disposed mask is refused', () => {
    const m = SparseMask.fromDense(new Uint8Array(4).fill(1), [2, 2]);
    m[Symbol.dispose]();
    m.dispose();
    assert.equal(m.disposed, true);
    assert.throws(() => m.toDense(), { name: 'TypeError', message: /SparseMask.toDense: mask \(a SparseMask\) has been disposed/ });
    const q = randn([1, 2, 1, 4], { seed: 1 });
    assert.throws(() => attention(q, q, q, { mechanism: 'sparse', mask: m }), { name: 'TypeError', message: /attention: options.mask \(a SparseMask\) has been disposed/ });
  });

  it('rejects bad inputs, naming the function', () => {
    assert.throws(() => SparseMask.fromDense(new Uint8Array(4)), { name: 'TypeError', message: /SparseMask.fromDense: a Uint8Array mask needs a shape/ });
    assert.throws(() => SparseMask.fromDense(new Uint8Array(4), [2, 3]), { name: 'RangeError', message: /SparseMask.fromDense: mask has 4 values but shape \[2, 3\] needs 6/ });
    assert.throws(() => SparseMask.fromDense(new Uint8Array(8), [2, 2, 2, 1]), { name: 'RangeError', message: /shape must be \[Nq, Nk\] or \[H, Nq, Nk\]/ });
    assert.throws(() => SparseMask.fromDense(randn([2, 2], { seed: 1 })), { name: 'TypeError', message: /SparseMask.fromDense: expected mask to be a uint8 tensor/ });
    assert.throws(() => SparseMask.fromDense([1, 0] as unknown as Uint8Array, [1, 2]), { name: 'TypeError', message: /expected mask to be a Uint8Array, a uint8 Tensor or a pattern/ });
    assert.throws(() => SparseMask.fromDense({ rows: 2, cols: 2, data: new Uint8Array(3) }), { name: 'RangeError', message: /mask has 3 values for 2 x 2/ });
    assert.throws(() => SparseMask.fromDense(new Uint8Array(4), [2, 2], { device: 'gpu' as 'cpu' }), { name: 'TypeError', message: /options.device/ });
    assert.throws(() => SparseMask.fromCoordinates([0, 3], [0, 0], [3, 3]), { name: 'RangeError', message: /SparseMask.fromCoordinates: entry 1 \(3, 0\) is outside \[3, 3\]/ });
    assert.throws(() => SparseMask.fromCoordinates([0], [-1], [3, 3]), { name: 'RangeError', message: /entry 0 \(0, -1\)/ });
    assert.throws(() => SparseMask.fromCoordinates([0, 1], [0], [3, 3]), { name: 'RangeError', message: /rows has 2 entries but cols has 1/ });
  });

  // Issue 24, bug 7.4: sizes past int32 wrapped (column 2^32 + 5 stored as 5; with Nk = 2^40
  // the last entry was dropped). Every size is now checked against int32, and every
  // coordinate against the shape as a number, before anything becomes an Int32Array.
  it('fromCoordinates refuses sizes past int32, naming the function and the limit', () => {
    const limit = /past the int32 limit 2\^31 - 1 = 2147483647/;
    for (const [rows, cols, shape, what] of [
      [[0], [2 ** 32 + 5], [1, 2 ** 33], /shape \[1, 8589934592\]: Nk is 8589934592/],
      [[0, 2 ** 10 - 1], [0, 2 ** 40 - 1], [2 ** 10, 2 ** 40], /Nk is 1099511627776/],
      [[0], [0], [2 ** 31, 1], /Nq is 2147483648/],
      [[0], [0], [2 ** 31, 1, 1], /H is 2147483648/],
      [[0], [0], [2 ** 16, 2 ** 15, 1], /the count of row offsets, H · Nq \+ 1, is 2147483649/],
    ] as const) {
      assert.throws(() => SparseMask.fromCoordinates(rows, cols, shape), { name: 'RangeError', message: /^SparseMask.fromCoordinates: / }, String(shape));
      assert.throws(() => SparseMask.fromCoordinates(rows, cols, shape), { message: what }, String(shape));
      assert.throws(() => SparseMask.fromCoordinates(rows, cols, shape), { message: limit }, String(shape));
    }
    // The largest column that fits, stored as itself.
    const edge = SparseMask.fromCoordinates([0, 0], [2 ** 31 - 2, 5], [1, 2 ** 31 - 1]);
    assert.deepEqual(Array.from(edge.colIndices), [5, 2 ** 31 - 2]);
    assert.deepEqual(Array.from(edge.rowOffsets), [0, 2]);
    edge.dispose();
  });

  it('fromCoordinates checks every coordinate as a number: none wraps into range', () => {
    for (const [rows, cols, at] of [
      [[0], [2 ** 32 + 5], '(0, 4294967301)'],
      [[2 ** 32], [1], '(4294967296, 1)'],
      [Float64Array.from([0, 1]), Float64Array.from([1, 2 ** 32 + 1]), '(1, 4294967297)'],
      [[0, 0.5], [1, 1], '(0.5, 1)'],
      [[0], ['1' as unknown as number], '(0, 1)'],
      [[0], [NaN], '(0, NaN)'],
    ] as const) {
      assert.throws(() => SparseMask.fromCoordinates(rows, cols, [2, 10]), { name: 'RangeError', message: new RegExp(`SparseMask.fromCoordinates: entry \\d \\${at.slice(0, -1)}\\) is outside \\[2, 10\\]`) }, at);
    }
  });

  // Issue 24, bug 10.3: 2^25 rows threw a bare "RangeError: Invalid array length" (the work
  // schedule was a plain array of 2^27 numbers). The mask is built in typed arrays now; its
  // bound is int32 (above) and the host's memory (allocating() below).
  it('fromCoordinates builds a mask of 2^25 rows', function () {
    this.timeout(300_000);
    const rows = 2 ** 25;
    const m = SparseMask.fromCoordinates([rows - 1, 0, rows - 1], [7, 3, 2], [rows, 16]);
    assert.equal(m.nnz, 3);
    assert.equal(m.rowOffsets.length, rows + 1);
    assert.deepEqual([m.rowOffsets[1], m.rowOffsets[rows - 1], m.rowOffsets[rows]], [1, 1, 3]);
    assert.deepEqual(Array.from(m.colIndices), [3, 2, 7]);
    assert.equal(m.devicePlan('test').stats().items, rows, 'one item a row');
    m.dispose();
  });

  it("allocating() names the function when the engine cannot allocate, and leaves the library's own errors alone", () => {
    assert.throws(() => allocating('SparseMask.fromDense', 'a mask of 9 rows', () => { throw new RangeError('Invalid array length'); }),
      { name: 'RangeError', message: 'SparseMask.fromDense: a mask of 9 rows could not be allocated (Invalid array length)' });
    const own = rangeError('SparseMask.fromDense', 'options.segment must be from 1 to 2147483647, got 0');
    assert.throws(() => allocating('SparseMask.fromDense', 'a mask', () => { throw own; }), (e) => e === own);
    assert.equal(allocating('f', 'x', () => 5), 5);
  });

  it('fromDense and patterns refuse shapes past int32 before reading a value', () => {
    for (const [mask, shape, what] of [
      [new Uint8Array(0), [0, 2 ** 32], /SparseMask.fromDense: shape \[0, 4294967296\]: Nk is 4294967296/],
      [new Uint8Array(0), [2 ** 31, 0], /Nq is 2147483648/],
      [new Uint8Array(0), [2 ** 16, 2 ** 15, 0], /the count of row offsets, H · Nq \+ 1, is 2147483649/],
      [{ rows: 0, cols: 2 ** 31, data: new Uint8Array(0) }, undefined, /SparseMask.fromDense: shape \[0, 2147483648\]: Nk is 2147483648/],
    ] as const) {
      assert.throws(() => SparseMask.fromDense(mask, shape as number[] | undefined), { name: 'RangeError', message: what });
    }
  });
});

describe('BlockSparseLayout', () => {
  it('counts blocks and round-trips through toDense()', () => {
    const l = BlockSparseLayout.fromDense({ rows: 2, cols: 3, data: Uint8Array.from([1, 0, 0, 5, 1, 0]) }, 32);
    assert.equal(l.blockSize, 32);
    assert.deepEqual(l.shape, [2, 3]);
    assert.equal(l.heads, 1);
    assert.equal(l.activeBlocks, 3);
    assert.equal(l.density, 0.5);
    assert.deepEqual(Array.from(l.toDense().dataSync()), [1, 0, 0, 1, 1, 0]);
    const perHead = BlockSparseLayout.fromDense(tensor(new Uint8Array(12).fill(1), [2, 2, 3]), 64);
    assert.equal(perHead.heads, 2);
    assert.equal(perHead.density, 1);
    l.dispose();
    l.dispose();
    assert.throws(() => l.toDense(), { name: 'TypeError', message: /has been disposed/ });
  });

  it('fromMask turns on a block when any of its entries is, partial last blocks included', () => {
    const [Nq, Nk] = [40, 70]; // 2 x 3 blocks of 32, the last ones partial
    const dense = new Uint8Array(Nq * Nk);
    dense[39 * Nk + 69] = 1; // the corner of the partial block (1, 2)
    dense[0 * Nk + 33] = 1; // block (0, 1)
    const expected = [0, 1, 0, 0, 0, 1];
    for (const input of [dense, tensor(dense, [Nq, Nk]), { rows: Nq, cols: Nk, data: dense }, SparseMask.fromDense(dense, [Nq, Nk])]) {
      const l = BlockSparseLayout.fromMask(input, 32, input instanceof Uint8Array ? { shape: [Nq, Nk] } : undefined);
      assert.deepEqual(l.shape, [2, 3]);
      assert.deepEqual(Array.from(l.toDense().dataSync()), expected);
    }
    const perHead = BlockSparseLayout.fromMask(SparseMask.fromCoordinates([45], [0], [2, Nq, Nk]), 16);
    assert.deepEqual(perHead.shape, [2, 3, 5]);
    assert.equal(perHead.activeBlocks, 1);
    assert.equal(perHead.toDense().dataSync()[15], 1); // head 1, block row 0 (row 5), block col 0
  });

  it('rejects bad block sizes and inputs', () => {
    const data = new Uint8Array(4).fill(1);
    for (const bs of [8, 48, 256, 0]) {
      assert.throws(() => BlockSparseLayout.fromDense(data, bs, { shape: [2, 2] }), { name: 'RangeError', message: /BlockSparseLayout.fromDense: blockSize must be one of 16, 32, 64, 128/ });
    }
    assert.throws(() => BlockSparseLayout.fromMask(data, '16' as unknown as number, { shape: [2, 2] }), { name: 'TypeError', message: /BlockSparseLayout.fromMask: expected blockSize/ });
    assert.throws(() => BlockSparseLayout.fromDense(data, 16), { name: 'TypeError', message: /needs a shape/ });
    assert.throws(() => BlockSparseLayout.fromMask(data, 16, { shape: [3, 3] }), { name: 'RangeError', message: /has 4 values but shape \[3, 3\] needs 9/ });
  });

  it('refuses layouts past int32 elements a side, naming the function and the limit', () => {
    assert.throws(() => BlockSparseLayout.fromDense(new Uint8Array(0), 16, { shape: [0, 2 ** 27 + 1] }),
      { name: 'RangeError', message: /^BlockSparseLayout.fromDense: shape \[0, 134217729\] of 16-blocks covers .* at most 134217728 blocks a side fit the int32 limit/ });
    assert.throws(() => BlockSparseLayout.fromDense(new Uint8Array(0), 128, { shape: [2 ** 24 + 1, 0] }), { name: 'RangeError', message: /at most 16777216 blocks a side/ });
    assert.throws(() => BlockSparseLayout.fromDense(new Uint8Array(0), 16, { shape: [2 ** 31, 0, 0] }), { name: 'RangeError', message: /H is 2147483648, past the int32 limit/ });
    assert.throws(() => BlockSparseLayout.fromMask(new Uint8Array(0), 16, { shape: [0, 2 ** 31] }),
      { name: 'RangeError', message: /^BlockSparseLayout.fromMask: shape \[0, 2147483648\]: Nk is 2147483648, past the int32 limit/ });
    const edge = BlockSparseLayout.fromDense(new Uint8Array(0), 16, { shape: [0, 2 ** 27] }); // covers Nk up to 2^31 - 1
    assert.deepEqual(edge.shape, [0, 2 ** 27]);
    edge.dispose();
  });
});

describe('sparse attention errors', () => {
  const q = randn([1, 12, 2, 8], { seed: 1 });
  const mask = SparseMask.fromDense(new Uint8Array(144).fill(1), [12, 12]);

  it('a SparseMask that does not fit q and k is a RangeError', () => {
    const small = SparseMask.fromDense(new Uint8Array(100).fill(1), [10, 10]);
    assert.throws(() => attention(q, q, q, { mechanism: 'sparse', mask: small }), { name: 'RangeError', message: /attention: options.mask is a \[10, 10\] SparseMask but q and k need \[Nq, Nk\] = \[12, 12\]/ });
    const threeHeads = SparseMask.fromDense(new Uint8Array(3 * 144).fill(1), [3, 12, 12]);
    assert.throws(() => attention(q, q, q, { mechanism: 'sparse', mask: threeHeads }), { name: 'RangeError', message: /options.mask has 3 heads but q has 2/ });
  });

  it('a SparseMask given to another mechanism is a TypeError pointing at toDense()', () => {
    for (const mechanism of ['memory_efficient', 'vanilla', 'block_sparse', undefined]) {
      assert.throws(() => attention(q, q, q, { mechanism, mask }), { name: 'TypeError', message: /attention: options.mask is a SparseMask.*mask.toDense\(\)/ });
    }
  });

  it("'sparse' refuses a dense mask, a bias, causal and an unknown path", () => {
    assert.throws(() => attention(q, q, q, { mechanism: 'sparse', mask: mask.toDense() }), { name: 'TypeError', message: /mechanism 'sparse' needs options.mask to be a SparseMask/ });
    assert.throws(() => attention(q, q, q, { mechanism: 'sparse' }), { name: 'TypeError', message: /needs options.mask to be a SparseMask/ });
    assert.throws(() => attention(q, q, q, { mechanism: 'sparse', mask, bias: randn([12, 12], { seed: 2 }), causal: true }),
      /cannot serve these inputs[\s\S]*bias is not supported[\s\S]*causal is not supported/);
    assert.throws(() => attention(q, q, q, { mechanism: 'sparse', mask, sparsePath: 'dense' as 'csr' }), { name: 'TypeError', message: /expected options.sparsePath to be one of 'auto', 'csr', 'block'/ });
  });

  it("'block_sparse' refuses a missing layout, a disposed one and one that does not cover N", () => {
    assert.throws(() => attention(q, q, q, { mechanism: 'block_sparse' }), { name: 'TypeError', message: /attention: expected options.layout to be a BlockSparseLayout/ });
    const wrong = BlockSparseLayout.fromDense(new Uint8Array(4).fill(1), 16, { shape: [2, 2] }); // covers 17..32, not 12
    assert.throws(() => attention(q, q, q, { mechanism: 'block_sparse', layout: wrong }), { name: 'RangeError', message: /options.layout is \[2, 2\] blocks of 16, but Nq = 12 and Nk = 12 need \[1, 1\]/ });
    const heads = BlockSparseLayout.fromDense(new Uint8Array(3).fill(1), 16, { shape: [3, 1, 1] });
    assert.throws(() => attention(q, q, q, { mechanism: 'block_sparse', layout: heads }), { name: 'RangeError', message: /options.layout has 3 heads but q has 2/ });
    const gone = BlockSparseLayout.fromDense(new Uint8Array(1).fill(1), 16, { shape: [1, 1] });
    gone.dispose();
    assert.throws(() => attention(q, q, q, { mechanism: 'block_sparse', layout: gone }), { name: 'TypeError', message: /options.layout \(a BlockSparseLayout\) has been disposed/ });
  });

  it('forged row offsets and column indices never reach the CPU kernel: sparsePlan checks them all', () => {
    const [B, N, H, D] = [1, 6, 2, 4];
    const x = randn([B, N, H, D], { seed: 3 });
    const out = poisoned([B, N, H, D], 'float32', 'cpu');
    const i32 = (v: number[]) => Int32Array.from(v);
    const forged = i32([0, -1, 6, 2 ** 31 - 1, -(2 ** 31), 5, 3, 1]);
    for (const [offsets, cols, what] of [
      [[0, 8, 2, -5, 2 ** 31 - 1, -(2 ** 31), 3], [0, 1, 3, 5], /must not decrease|past the/], // decreasing, negative, past nnz
      [[-(2 ** 31), -1, 0, 100, 100, 4, 8], forged, /start with 0/],
      [[2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1], forged, /start with 0/],
      [[0, 8, 8, 8, 8, 8, 8], forged, /column index -1 \(entry 1\) is outside \[0, 6\)/],
      [[0, 4, 4, 4, 4, 4, 4], [0, 5, 3, 1], /ascend within a row/],
    ] as const) {
      assert.throws(() => native().sparsePlan('cpu', i32([...offsets]), i32([...cols]), 1, N, N), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: new RegExp(`^sparsePlan: .*${what.source}`) },
        `offsets [${offsets.join(', ')}]`);
    }
    // The in-range columns of the forged row 0, ascending: row 0 attends to them, the rest are empty.
    const plan = native().sparsePlan('cpu', i32([0, 4, 4, 4, 4, 4, 4]), i32([0, 1, 3, 5]), 1, N, N);
    native().sparseAttention(out, x, x, x, plan, 0.5);
    const got = host(out);
    // A plan for 6 rows serves no other Nq, and none once disposed.
    const x5 = randn([B, N - 1, H, D], { seed: 4 }), out5 = poisoned([B, N - 1, H, D], 'float32', 'cpu');
    assert.throws(() => native().sparseAttention(out5, x5, x5, x5, plan, 0.5), { message: /sparseAttention: rowOffsets must hold maskHeads \* Nq \+ 1 entries/ });
    assert.throws(() => native().sparseAttention(out, x, x, x, forged as never, 0.5), { message: /sparseAttention: plan must be a SparsePlan/ });
    plan.dispose();
    assert.throws(() => native().sparseAttention(out, x, x, x, plan, 0.5), { message: /sparseAttention: the plan has been disposed/ });
    for (const t of [x5, out5]) t.dispose();
    for (let i = 1; i < N; i++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) assert.equal(got[(i * H + h) * D + d], 0);
    const row0 = new Uint8Array(H * N * N);
    for (const j of [0, 5, 3, 1]) for (let h = 0; h < H; h++) row0[h * N * N + j] = 1;
    const ref = attentionReference({ B, Nq: N, Nk: N, H, D, scale: 0.5, causal: false, mask: row0, bias: null }, host(x), host(x), host(x));
    assertClose(got, ref, TOLERANCE.float32, 'row 0');
  });
});

describeDevice('cuda:0', 'sparse attention across devices', () => {
  it('a mask or layout on another device than q is a TypeError', () => {
    const q = randn([1, 16, 1, 8], { device: 'cuda', seed: 1 });
    const mask = SparseMask.fromDense(new Uint8Array(256).fill(1), [16, 16], { device: 'cpu' });
    assert.throws(() => attention(q, q, q, { mechanism: 'sparse', mask }), { name: 'TypeError', message: /attention: options.mask is on cpu but q is on cuda:0/ });
    const layout = BlockSparseLayout.fromMask(mask, 16);
    assert.equal(layout.device, 'cpu');
    assert.throws(() => attention(q, q, q, { mechanism: 'block_sparse', layout }), { name: 'TypeError', message: /attention: options.layout is on cpu but q is on cuda:0/ });
    assert.throws(() => mask.explain(q), { name: 'TypeError', message: /SparseMask.explain: the mask is on cpu but q is on cuda:0/ });
  });
});
