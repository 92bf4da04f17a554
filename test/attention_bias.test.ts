// Attention biases (attnBias: causal from either corner, local windows, block-diagonal masks of
// packed sequences with causal blocks, windows and padded keys) and grouped-/multi-query
// attention, with 'memory_efficient' forward and backward (and 'vanilla' forward) against
// float64 references (test/attention_reference.ts). Each reference mask is built here from
// the bias's definition, not from the library's key ranges. Lengths are awkward (1, 197, no
// multiple of a tile, packed [1, 197, 50, 4096]); gradcheck on the CPU; the CUDA cases against
// the same references; then misuse.
import * as assert from 'node:assert/strict';
import {
  attention, AttentionBias, attnBias, backward, BlockDiagonalOptions, CausalAlignment, Device, FLOAT_DTYPES, FloatDType, gradcheck, randn, registerAttention,
  slice, tensor, Tensor, tidy,
} from '../ts/index';
import { native } from '../ts/native';
import { AttentionCase, attentionBackwardReference, attentionReference } from './attention_reference';
import { TOLERANCE, assertClose, describeDevice, host } from './helpers';

/** A bias as data: what the test builds the library's AttentionBias and its own dense mask from. */
type Spec =
  | { kind: 'bottomRight' }
  | { kind: 'window'; left: number; right: number; alignment?: CausalAlignment }
  | { kind: 'blocks'; q: number[]; k?: number[]; options?: BlockDiagonalOptions };

function biasOf(spec: Spec): AttentionBias {
  if (spec.kind === 'bottomRight') return attnBias.lowerTriangularFromBottomRight();
  if (spec.kind === 'window') return attnBias.localWindow(spec.left, spec.right, { alignment: spec.alignment });
  return attnBias.blockDiagonal(spec.q, spec.k, spec.options);
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

/** The sizes a spec packs: blocks fix Nq and Nk; the others take the case's. */
function sizesOf(spec: Spec, Nq: number, Nk: number): { Nq: number; Nk: number } {
  if (spec.kind !== 'blocks') return { Nq, Nk };
  const k = spec.k ?? spec.q;
  const pad = spec.options?.paddedKeys;
  return { Nq: sum(spec.q), Nk: pad === undefined ? sum(k) : pad * k.length };
}

/** Whether a band allows key j' for query i' of a block of qLen queries and kLen keys. */
function inBand(i: number, j: number, qLen: number, kLen: number, left: number, right: number, alignment: CausalAlignment): boolean {
  const d = i + (alignment === 'bottom_right' ? kLen - qLen : 0);
  return j >= 0 && j < kLen && j >= d - left && j <= d + right;
}

/** The dense [Nq, Nk] mask of a spec, 1 = attend, from its definition. */
function denseOf(spec: Spec, Nq: number, Nk: number): Uint8Array {
  const m = new Uint8Array(Nq * Nk);
  const set = (allowed: (i: number, j: number) => boolean) => {
    for (let i = 0; i < Nq; i++) for (let j = 0; j < Nk; j++) m[i * Nk + j] = allowed(i, j) ? 1 : 0;
  };
  if (spec.kind === 'bottomRight') set((i, j) => j <= i + Nk - Nq);
  else if (spec.kind === 'window') set((i, j) => inBand(i, j, Nq, Nk, spec.left, spec.right, spec.alignment ?? 'top_left'));
  else {
    const k = spec.k ?? spec.q;
    const o = spec.options ?? {};
    const causal = o.causal ?? false;
    const alignment: CausalAlignment = typeof causal === 'string' ? causal : o.alignment ?? 'top_left';
    const left = o.window?.left ?? Infinity;
    const right = causal !== false ? 0 : o.window?.right ?? Infinity;
    let q0 = 0, k0 = 0;
    spec.q.forEach((qLen, s) => {
      const kStart = o.paddedKeys === undefined ? k0 : s * o.paddedKeys;
      for (let i = 0; i < qLen; i++) {
        for (let j = 0; j < Nk; j++) m[(q0 + i) * Nk + j] = inBand(i, j - kStart, qLen, k[s], left, right, alignment) ? 1 : 0;
      }
      q0 += qLen;
      k0 += k[s];
    });
  }
  return m;
}

interface BiasCase {
  label: string; spec: Spec; B: number; H: number; D: number;
  Nq?: number; Nk?: number;
  /** k's and v's heads (grouped-query). */
  Hkv?: number;
  /** An additive float32 bias [Nq, Nk] (with its gradient), and a random element mask [Nq, Nk]. */
  bias?: boolean; mask?: boolean;
}

const CASES: BiasCase[] = [
  { label: 'causal from the bottom right, Nq 37 < Nk 100', spec: { kind: 'bottomRight' }, B: 2, H: 2, D: 12, Nq: 37, Nk: 100 },
  { label: 'causal from the bottom right, Nq 100 > Nk 37 (63 rows attend nothing)', spec: { kind: 'bottomRight' }, B: 1, H: 2, D: 16, Nq: 100, Nk: 37 },
  { label: 'causal from the bottom right, Nq 1, Nk 197 (decoding), a bias', spec: { kind: 'bottomRight' }, B: 2, H: 3, D: 40, Nq: 1, Nk: 197, bias: true },
  { label: 'a causal window (16, 0), N 197', spec: { kind: 'window', left: 16, right: 0 }, B: 1, H: 2, D: 12, Nq: 197, Nk: 197 },
  { label: 'a window (5, 7) from the bottom right, Nq 90, Nk 197, a bias and a mask', spec: { kind: 'window', left: 5, right: 7, alignment: 'bottom_right' }, B: 1, H: 2, D: 24, Nq: 90, Nk: 197, bias: true, mask: true },
  { label: 'the diagonal alone: window (0, 0), N 33', spec: { kind: 'window', left: 0, right: 0 }, B: 1, H: 1, D: 8, Nq: 33, Nk: 33 },
  { label: 'a window (Infinity, 3), Nq 70, Nk 50', spec: { kind: 'window', left: Infinity, right: 3 }, B: 1, H: 1, D: 20, Nq: 70, Nk: 50 },
  { label: 'block-diagonal [1, 197, 50, 130]', spec: { kind: 'blocks', q: [1, 197, 50, 130] }, B: 1, H: 2, D: 12 },
  { label: 'block-diagonal causal from the top left [1, 70, 50, 33], a bias', spec: { kind: 'blocks', q: [1, 70, 50, 33], options: { causal: true } }, B: 1, H: 2, D: 16, bias: true },
  { label: 'block-diagonal causal from the bottom right, q [3, 50, 17], k [10, 40, 64]', spec: { kind: 'blocks', q: [3, 50, 17], k: [10, 40, 64], options: { causal: 'bottom_right' } }, B: 2, H: 1, D: 12 },
  { label: 'block-diagonal with padded keys 16, q [5, 1, 20], k [7, 0, 16] (a block of no key)', spec: { kind: 'blocks', q: [5, 1, 20], k: [7, 0, 16], options: { paddedKeys: 16 } }, B: 1, H: 2, D: 8, mask: true },
  { label: 'block-diagonal causal with a window of 4, [40, 33, 9]', spec: { kind: 'blocks', q: [40, 33, 9], options: { causal: true, window: { left: 4 } } }, B: 1, H: 2, D: 12 },
  { label: 'block-diagonal window (3, 2) from the bottom right, q [20, 9], k [15, 30]', spec: { kind: 'blocks', q: [20, 9], k: [15, 30], options: { window: { left: 3, right: 2 }, alignment: 'bottom_right' } }, B: 1, H: 1, D: 12 },
  { label: 'grouped-query (H 6, Hkv 2), a window (9, 9), a bias and a mask, N 37', spec: { kind: 'window', left: 9, right: 9 }, B: 2, H: 6, Hkv: 2, D: 12, Nq: 37, Nk: 37, bias: true, mask: true },
  { label: 'multi-query (H 4, Hkv 1), causal from the bottom right, Nq 20, Nk 45', spec: { kind: 'bottomRight' }, B: 1, H: 4, Hkv: 1, D: 16, Nq: 20, Nk: 45 },
  { label: 'grouped-query (H 4, Hkv 2), block-diagonal causal [30, 17, 1]', spec: { kind: 'blocks', q: [30, 17, 1], options: { causal: true } }, B: 1, H: 4, Hkv: 2, D: 8 },
];

/** A seeded 0/1 pattern of about 80% ones. */
function randomMask(seed: number, n: number): Uint8Array {
  let r = seed >>> 0;
  return Uint8Array.from({ length: n }, () => {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    return (r >>> 8) / 2 ** 24 < 0.8 ? 1 : 0;
  });
}

/** [Nq, Nk] values broadcast to [B, H, Nq, Nk], as the reference reads a bias. */
function expand(x: ArrayLike<number>, B: number, H: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(B * H * n);
  for (let t = 0; t < B * H; t++) for (let e = 0; e < n; e++) out[t * n + e] = x[e];
  return out;
}

interface Run { out: Tensor; grads: { dq: Tensor; dk: Tensor; dv: Tensor; dbias: Tensor | null } | null; ref: ReturnType<typeof referenceOf> }

function referenceOf(c: BiasCase, Nq: number, Nk: number, q: Tensor, k: Tensor, v: Tensor, bias: Tensor | null, maskHost: Uint8Array | null, dO: Tensor | null) {
  const shared = denseOf(c.spec, Nq, Nk);
  if (maskHost) shared.forEach((x, e) => { shared[e] = x & maskHost[e]; });
  const ref: AttentionCase = {
    B: c.B, Nq, Nk, H: c.H, Hkv: c.Hkv, D: c.D, scale: 1 / Math.sqrt(c.D), causal: false, mask: null,
    bias: bias ? expand(host(bias), c.B, c.H) : null, sharedMask: shared,
  };
  const [hq, hk, hv] = [q, k, v].map(host);
  return { out: attentionReference(ref, hq, hk, hv), grads: dO ? attentionBackwardReference(ref, hq, hk, hv, host(dO)) : null };
}

/** attention() over a case, forward (and backward from a random dO, when asked), with its float64 reference. */
function runCase(c: BiasCase, device: Device, dtype: FloatDType, mechanism: string, withGrad: boolean): Run {
  const { Nq, Nk } = sizesOf(c.spec, c.Nq ?? 0, c.Nk ?? 0);
  const seed = 7 * Nq + Nk;
  const q = randn([c.B, Nq, c.H, c.D], { device, dtype, seed });
  const k = randn([c.B, Nk, c.Hkv ?? c.H, c.D], { device, dtype, seed: seed + 1 });
  const v = randn([c.B, Nk, c.Hkv ?? c.H, c.D], { device, dtype, seed: seed + 2 });
  const bias = c.bias ? randn([Nq, Nk], { device, dtype: 'float32', seed: seed + 3 }) : null;
  const maskHost = c.mask ? randomMask(seed, Nq * Nk) : null;
  const mask = maskHost ? tensor(maskHost, [Nq, Nk], { dtype: 'uint8', device }) : null;
  if (withGrad) for (const t of [q, k, v, bias]) t?.requiresGrad_();
  const out = attention(q, k, v, { mechanism, attnBias: biasOf(c.spec), bias, mask });
  let grads: Run['grads'] = null;
  let dO: Tensor | null = null;
  if (withGrad) {
    dO = randn(out.shape, { device, dtype, seed: seed + 4 });
    backward(out, dO);
    grads = { dq: q.grad as Tensor, dk: k.grad as Tensor, dv: v.grad as Tensor, dbias: bias?.grad ?? null };
  }
  return { out, grads, ref: referenceOf(c, Nq, Nk, q, k, v, bias, maskHost, dO) };
}

/** Holds a run to its reference at the dtype's tolerance. */
function assertRun(r: Run, dtype: FloatDType, label: string): void {
  assertClose(host(r.out), r.ref.out, TOLERANCE[dtype], `${label}: out`);
  if (r.grads === null || r.ref.grads === null) return;
  assertClose(host(r.grads.dq), r.ref.grads.dq, TOLERANCE[dtype], `${label}: dq`);
  assertClose(host(r.grads.dk), r.ref.grads.dk, TOLERANCE[dtype], `${label}: dk`);
  assertClose(host(r.grads.dv), r.ref.grads.dv, TOLERANCE[dtype], `${label}: dv`);
  if (r.grads.dbias) {
    // The bias is [Nq, Nk]: its gradient sums the reference's [B, H, Nq, Nk] over B and H.
    const want = new Float64Array(r.grads.dbias.size);
    r.ref.grads.dbias.forEach((x, e) => { want[e % want.length] += x; });
    assertClose(host(r.grads.dbias), want, TOLERANCE[dtype], `${label}: dbias`);
  }
}

/** The packed [1, 197, 50, 4096] batch of the issue (forward only on the CPU: its reference takes seconds). */
const PACKED: BiasCase = { label: 'block-diagonal [1, 197, 50, 4096]', spec: { kind: 'blocks', q: [1, 197, 50, 4096] }, B: 1, H: 1, D: 8 };

for (const device of ['cpu', 'cuda:0'] as Device[]) {
  describeDevice(device, 'attention biases: memory_efficient forward and backward against float64', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) it(`${c.label}, ${dtype}`, () => tidy(() => assertRun(runCase(c, device, dtype, 'memory_efficient', true), dtype, c.label)));
    }
    it(`${PACKED.label}, causal, float32 (forward)`, () => tidy(() => {
      const c = { ...PACKED, spec: { ...PACKED.spec, options: { causal: true } } as Spec };
      assertRun(runCase(c, device, 'float32', 'memory_efficient', false), 'float32', c.label);
    }));
    it(`${PACKED.label}, float16 (forward)`, () => tidy(() => assertRun(runCase(PACKED, device, 'float16', 'memory_efficient', false), 'float16', PACKED.label)));
  });
}

describeDevice('cuda:0', 'attention biases: long sequences on CUDA (tile skipping, split keys)', () => {
  const long: BiasCase[] = [
    { label: 'block-diagonal [1, 197, 50, 4096], grouped-query (H 4, Hkv 1), D 64', spec: { kind: 'blocks', q: [1, 197, 50, 4096] }, B: 1, H: 4, Hkv: 1, D: 64 },
    { label: 'decoding: causal from the bottom right, Nq 1, Nk 4096, D 128', spec: { kind: 'bottomRight' }, B: 1, H: 4, D: 128, Nq: 1, Nk: 4096 },
    { label: 'a causal window (256, 0), N 4096, D 64', spec: { kind: 'window', left: 256, right: 0 }, B: 1, H: 2, D: 64, Nq: 4096, Nk: 4096 },
    { label: 'grouped-query (H 8, Hkv 2), N 197, D 64, a bias (no key ranges)', spec: { kind: 'window', left: Infinity, right: Infinity }, B: 2, H: 8, Hkv: 2, D: 64, Nq: 197, Nk: 197, bias: true },
    { label: 'grouped-query (H 8, Hkv 2), a window (64, 64), N 1000, D 128', spec: { kind: 'window', left: 64, right: 64 }, B: 1, H: 8, Hkv: 2, D: 128, Nq: 1000, Nk: 1000 },
  ];
  for (const dtype of FLOAT_DTYPES) {
    for (const c of long) it(`${c.label}, ${dtype}`, () => tidy(() => assertRun(runCase(c, 'cuda:0', dtype, 'memory_efficient', true), dtype, c.label)));
  }
});

describe('attention biases: more of memory_efficient and vanilla on the CPU', () => {
  for (const c of CASES.filter((x) => x.Hkv === undefined)) {
    it(`vanilla: ${c.label}`, () => tidy(() => assertRun(runCase(c, 'cpu', 'float32', 'vanilla', true), 'float32', `vanilla ${c.label}`)));
  }

  it('lowerTriangular() and causal: true take the same path, bit for bit; so does the bottom right at Nq = Nk', () => tidy(() => {
    const q = randn([1, 40, 2, 8], { seed: 1 }), k = randn([1, 40, 2, 8], { seed: 2 }), v = randn([1, 40, 2, 8], { seed: 3 });
    const want = host(attention(q, k, v, { causal: true }));
    assert.deepEqual(host(attention(q, k, v, { attnBias: attnBias.lowerTriangular() })), want);
    assert.deepEqual(host(attention(q, k, v, { causal: 'top_left' })), want);
    assert.deepEqual(host(attention(q, k, v, { causal: 'bottom_right' })), want);
    assert.deepEqual(host(attention(q, k, v, { attnBias: attnBias.lowerTriangularFromBottomRight() })), want);
  }));

  it('localWindow(Infinity, Infinity) is no rule at all: the plain path, bit for bit', () => tidy(() => {
    const q = randn([1, 30, 2, 8], { seed: 1 }), k = randn([1, 45, 2, 8], { seed: 2 });
    assert.deepEqual(host(attention(q, k, k, { attnBias: attnBias.localWindow(Infinity, Infinity) })), host(attention(q, k, k)));
  }));

  it("causal: 'bottom_right' is lowerTriangularFromBottomRight(), Nq ≠ Nk", () => tidy(() => {
    const q = randn([1, 9, 1, 8], { seed: 1 }), k = randn([1, 30, 1, 8], { seed: 2 }), v = randn([1, 30, 1, 8], { seed: 3 });
    assert.deepEqual(host(attention(q, k, v, { causal: 'bottom_right' })), host(attention(q, k, v, { attnBias: attnBias.lowerTriangularFromBottomRight() })));
  }));

  it('a block-diagonal call equals each sequence attended alone', () => tidy(() => {
    const lengths = [1, 197, 50, 33];
    const N = sum(lengths);
    const q = randn([1, N, 2, 12], { seed: 4 }), k = randn([1, N, 2, 12], { seed: 5 }), v = randn([1, N, 2, 12], { seed: 6 });
    const packed = host(attention(q, k, v, { attnBias: attnBias.blockDiagonal(lengths, undefined, { causal: true }) }));
    let at = 0;
    for (const n of lengths) {
      const part = (t: Tensor) => slice(t, 1, at, at + n);
      const alone = host(attention(part(q), part(k), part(v), { causal: true }));
      assertClose(packed.subarray(at * 24, (at + n) * 24), alone, 1e-6, `sequence at ${at}`);
      at += n;
    }
  }));

  it('materialize() gives the dense pattern each bias allows', () => {
    const specs: Spec[] = [
      { kind: 'bottomRight' }, { kind: 'window', left: 2, right: 1, alignment: 'bottom_right' },
      { kind: 'blocks', q: [2, 3], k: [4, 1], options: { causal: 'bottom_right', paddedKeys: 5 } },
    ];
    for (const spec of specs) {
      const { Nq, Nk } = sizesOf(spec, 6, 9);
      assert.deepEqual(biasOf(spec).materialize(Nq, Nk).data, denseOf(spec, Nq, Nk), JSON.stringify(spec));
    }
  });

  it('rowRanges() gives a copy: changing it changes nothing the bias serves', () => tidy(() => {
    const b = attnBias.blockDiagonal([3, 2], [2, 4]);
    assert.deepEqual([...b.rowRanges(5, 6)], [0, 2, 0, 2, 0, 2, 2, 6, 2, 6]);
    b.rowRanges(5, 6).fill(0);
    assert.deepEqual([...b.rowRanges(5, 6)], [0, 2, 0, 2, 0, 2, 2, 6, 2, 6]);
    assert.deepEqual(b.sizes, { nq: 5, nk: 6 });
    assert.deepEqual(b.lengths, { q: [3, 2], k: [2, 4] });
    assert.equal(attnBias.localWindow(2, 0).sizes, null);
  }));

  it('a row with no allowed key gives zeros and zero gradients, never NaN', () => tidy(() => {
    const [q, k, v] = [randn([1, 6, 1, 4], { seed: 1 }), randn([1, 3, 1, 4], { seed: 2 }), randn([1, 3, 1, 4], { seed: 3 })].map((t) => t.requiresGrad_());
    const out = attention(q, k, v, { causal: 'bottom_right' });
    const o = host(out);
    assert.ok(o.subarray(0, 3 * 4).every((x) => x === 0), 'rows 0..2 see no key');
    backward(out, randn(out.shape, { seed: 4 }));
    assert.ok(host(q.grad as Tensor).subarray(0, 12).every((x) => x === 0), 'their dq');
    for (const t of [q, k, v]) assert.ok(host(t.grad as Tensor).every(Number.isFinite));
  }));
});

describe('gradcheck: attention biases and grouped-query attention (memory_efficient)', () => {
  let seed = 300;
  const leaf = (shape: number[]) => randn(shape, { seed: seed++ }).requiresGrad_();
  const check = (label: string, f: (...t: Tensor[]) => Tensor, shapes: number[][]) => it(label, () => {
    const ts = shapes.map(leaf);
    try {
      assert.equal(gradcheck(f, ts, { rtol: 1e-4 }), true);
    } finally {
      for (const t of ts) t.dispose();
    }
  });
  const run = (b: AttentionBias) => (q: Tensor, k: Tensor, v: Tensor, bias?: Tensor) => attention(q, k, v, { attnBias: b, bias });
  check('causal from the bottom right, Nq 3 < Nk 6', run(attnBias.lowerTriangularFromBottomRight()), [[1, 3, 2, 5], [1, 6, 2, 5], [1, 6, 2, 5]]);
  check('causal from the bottom right, Nq 6 > Nk 3 (empty rows)', run(attnBias.lowerTriangularFromBottomRight()), [[1, 6, 1, 4], [1, 3, 1, 4], [1, 3, 1, 4]]);
  check('a window (1, 1), N 6, with a bias [Nq, Nk]', run(attnBias.localWindow(1, 1)), [[2, 6, 1, 3], [2, 6, 1, 3], [2, 6, 1, 3], [6, 6]]);
  check('a causal window (2, 0) from the bottom right, Nq 4, Nk 7', run(attnBias.localWindow(2, 0, { alignment: 'bottom_right' })), [[1, 4, 1, 5], [1, 7, 1, 5], [1, 7, 1, 5]]);
  check('block-diagonal causal [2, 3, 1]', run(attnBias.blockDiagonal([2, 3, 1], undefined, { causal: true })), [[1, 6, 2, 3], [1, 6, 2, 3], [1, 6, 2, 3]]);
  check('block-diagonal with padded keys, q [2, 1], k [3, 0], padded to 3', run(attnBias.blockDiagonal([2, 1], [3, 0], { paddedKeys: 3 })), [[1, 3, 1, 4], [1, 6, 1, 4], [1, 6, 1, 4]]);
  check('grouped-query (H 4, Hkv 2), a bias [1, 4, 5, 4]', (q, k, v, b) => attention(q, k, v, { bias: b }), [[1, 5, 4, 3], [1, 4, 2, 3], [1, 4, 2, 3], [1, 4, 5, 4]]);
  check('multi-query (H 3, Hkv 1), block-diagonal [3, 2]', run(attnBias.blockDiagonal([3, 2])), [[2, 5, 3, 4], [2, 5, 1, 4], [2, 5, 1, 4]]);
});

describe('attention biases: misuse', () => {
  const q = () => randn([1, 6, 2, 4], { seed: 1 });
  it('the factories refuse bad lengths and options, naming themselves', () => {
    assert.throws(() => attnBias.blockDiagonal([]), /attnBias\.blockDiagonal: expected qLengths to be a non-empty array of lengths/);
    assert.throws(() => attnBias.blockDiagonal([2, -1]), /attnBias\.blockDiagonal: qLengths\[1\] must be at least 0/);
    assert.throws(() => attnBias.blockDiagonal([1.5]), /attnBias\.blockDiagonal: expected qLengths\[0\] to be an integer/);
    assert.throws(() => attnBias.blockDiagonal([1, 2], [3]), /kLengths has 1 blocks but qLengths 2/);
    assert.throws(() => attnBias.blockDiagonal([1, 2], [3, 4], { paddedKeys: 3 }), /kLengths\[1\] = 4 is more than options.paddedKeys = 3/);
    assert.throws(() => attnBias.blockDiagonal([1], [1], { causal: 'sideways' as CausalAlignment }), /expected options.causal to be one of 'top_left', 'bottom_right'/);
    assert.throws(() => attnBias.blockDiagonal([1], [1], { causal: true, window: { right: 2 } }), /options.window.right must be 0 with causal/);
    assert.throws(() => attnBias.blockDiagonal([1], [1], { causal: 'bottom_right', alignment: 'top_left' }), /contradicts options.causal/);
    assert.throws(() => attnBias.localWindow(-1, 0), /attnBias\.localWindow: left must be at least 0/);
    assert.throws(() => attnBias.localWindow(NaN, 0), /attnBias\.localWindow: expected left to be an integer/);
    assert.throws(() => attnBias.localWindow(1, 1, { alignment: 'middle' as CausalAlignment }), /options.alignment/);
  });

  it('attention() refuses a bias for other sizes, a non-bias, causal with a bias, and a bias for a mechanism without key ranges', () => tidy(() => {
    const x = q();
    assert.throws(() => attention(x, x, x, { attnBias: attnBias.blockDiagonal([2, 3]) }),
      (e: Error) => e instanceof RangeError && /^attention: blockDiagonal\(2 blocks\) packs 5 query rows and 5 keys, but q has 6 rows and k 6 keys/.test(e.message));
    assert.throws(() => attention(x, x, x, { attnBias: {} as AttentionBias }), /attention: expected options.attnBias to be an AttentionBias/);
    assert.throws(() => attention(x, x, x, { attnBias: attnBias.localWindow(1, 1), causal: true }), /attention: options.causal and options.attnBias \(localWindow\(1, 1\)\) cannot be combined/);
    assert.throws(() => attention(x, x, x, { causal: 'yes' as unknown as boolean }), /attention: expected options.causal to be one of 'top_left', 'bottom_right'/);
    registerAttention('test_without_key_ranges', { notSupportedReasons: () => [], forward: (inputs) => inputs.q.contiguous() });
    assert.throws(() => attention(x, x, x, { mechanism: 'test_without_key_ranges', attnBias: attnBias.localWindow(1, 1) }),
      /mechanism 'test_without_key_ranges' cannot serve these inputs[^]*options.attnBias \(localWindow\(1, 1\)\) is served by 'memory_efficient' and 'vanilla'/);
    const longer = randn([1, 9, 2, 4], { seed: 2 });
    assert.throws(() => attention(x, longer, longer, { mechanism: 'test_without_key_ranges', causal: 'bottom_right' }), /options.causal \(lowerTriangularFromBottomRight\(\)\) is served by/);
    assert.ok(attention(x, x, x, { mechanism: 'test_without_key_ranges', causal: true }), 'top-left causal is the causal flag every mechanism reads');
  }));

  it('grouped-query k and v: H must be a multiple of Hkv, and only memory_efficient reads them', () => tidy(() => {
    const x = randn([1, 6, 6, 4], { seed: 1 });
    const kv4 = randn([1, 6, 4, 4], { seed: 2 }), kv2 = randn([1, 6, 2, 4], { seed: 3 });
    assert.throws(() => attention(x, kv4, kv4), (e: Error) => e instanceof RangeError && /H a multiple of Hkv/.test(e.message));
    assert.throws(() => attention(x, kv2, kv2, { mechanism: 'vanilla' }), /k and v have 2 heads and q 6 \(grouped-query attention\), which only 'memory_efficient' reads/);
    assert.throws(() => attention(x, kv2, kv4), /shapes disagree/);
  }));

  it('the native op checks key ranges: length, bounds and order', () => tidy(() => {
    const x = q();
    const out = randn([1, 6, 2, 4]);
    const call = (r: Int32Array) => native().attention(out, x, x, x, null, null, 0.5, false, null, undefined, null, r);
    assert.throws(() => call(new Int32Array(11)), /attention: rowRanges must hold 2 \* Nq = 12 entries, got 11/);
    assert.throws(() => call(Int32Array.from([0, 1, 0, 2, 0, 7, 0, 6, 0, 6, 0, 6])), /rowRanges of row 2 must satisfy 0 <= lo <= hi <= Nk = 6/);
    assert.throws(() => call(Int32Array.from([0, 3, 0, 2, 0, 6, 0, 6, 0, 6, 0, 6])), /rowRanges must be nondecreasing in the row \(at row 1\)/);
    assert.throws(() => call(new Float64Array(12) as unknown as Int32Array), /attention: rowRanges must be an Int32Array/);
  }));
});
