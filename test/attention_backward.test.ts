// The attention backward (native attentionBackward and sparseAttentionBackward) and the lse the
// forward writes for it, against float64 references (test/attention_reference.ts) on each
// device and float dtype: dense with a mask (a fully masked row), a bias with broadcast dims and
// its gradient, causal, a block layout with a partial last block, strided (fused qkv) inputs
// and a strided dO; the CSR path with empty rows and 1 or H mask heads. Every output is
// poisoned first, so an element a kernel leaves unwritten fails. Then bad input, disposed
// masks and layouts between forward and backward, and the tape's memory.
import * as assert from 'node:assert/strict';
import {
  attention, backward, BlockSparseLayout, Device, FLOAT_DTYPES, FloatDType, mean, randn, SparseMask, splitQkv, tensor, Tensor, tidy,
  zeroGrad,
} from '../ts/index';
import { broadcastView } from '../ts/attention/attention';
import { liveGradNodes } from '../ts/autograd/graph';
import { native, NativeBlockPlan } from '../ts/native';
import { attentionBackward, sparseAttentionBackward } from '../ts/ops/attention_backward';
import { liveStorage } from '../ts/tensor';
import { AttentionCase, attentionBackwardReference, attentionReference, lseReference } from './attention_reference';
import { DEVICES, TOLERANCE, assertClose, describeDevice, host, poisoned } from './helpers';

/**
 * The gradients are held to the tolerances of the forward (TOLERANCE: float32-accumulated
 * results against float64). Measured on the CPU: float32 3e-7, float16 3e-4 and bfloat16
 * 2.5e-3, each the rounding of the dtype's outputs.
 */
const GRAD_TOLERANCE = TOLERANCE;

interface Case {
  label: string; B: number; Nq: number; Nk: number; H: number; D: number;
  causal?: boolean;
  /** A mask [B, 1, Nq, Nk] of this density whose row 1 is fully masked (in batch 0). */
  mask?: number;
  /** A bias of this shape (broadcast to [B, H, Nq, Nk]) and dtype, with its gradient. */
  bias?: { shape: number[]; dtype: FloatDType | 'q' };
  /** A block layout of 16-blocks, one per head, with these blocks off. */
  layoutOff?: number[];
  /** q, k, v as views of one fused qkv, and dO as a strided view. */
  strided?: boolean;
}

const CASES: Case[] = [
  { label: 'Nq 37, Nk 45, D 12, a mask with a fully masked row, a bias [Nq, Nk]', B: 2, Nq: 37, Nk: 45, H: 2, D: 12, mask: 0.7, bias: { shape: [37, 45], dtype: 'q' } },
  { label: 'causal, Nq 45 > Nk 37, D 40, a float32 bias [1, H, 1, Nk]', B: 1, Nq: 45, Nk: 37, H: 2, D: 40, causal: true, bias: { shape: [1, 2, 1, 37], dtype: 'float32' } },
  { label: 'Nq 1, D 1', B: 3, Nq: 1, Nk: 9, H: 1, D: 1 },
  { label: 'a block layout per head (partial last block), causal, a full bias', B: 1, Nq: 37, Nk: 37, H: 2, D: 8, causal: true, layoutOff: [1, 3, 9 + 6, 9 + 7], bias: { shape: [1, 2, 37, 37], dtype: 'q' } },
  { label: 'a fused qkv (strided q, k, v) and a strided dO, N 33, a mask', B: 2, Nq: 33, Nk: 33, H: 3, D: 16, mask: 0.5, strided: true },
  // The CUDA kernels' head-dim buckets, with lengths that are no multiple of a tile.
  { label: 'N 197, D 64 (the ViT\'s attention)', B: 1, Nq: 197, Nk: 197, H: 2, D: 64 },
  { label: 'Nq 130, Nk 200, D 100 (bucket 128), causal, a mask', B: 1, Nq: 130, Nk: 200, H: 1, D: 100, causal: true, mask: 0.8 },
  { label: 'N 70, D 256, a bias [Nq, Nk]', B: 1, Nq: 70, Nk: 70, H: 1, D: 256, bias: { shape: [70, 70], dtype: 'q' } },
  { label: 'Nq 65, Nk 129, D 24 (bucket 32)', B: 2, Nq: 65, Nk: 129, H: 1, D: 24 },
];

/** A seeded 0/1 [count, rows, cols] pattern of about `density`, the listed rows of the first block all 0. */
function pattern(seed: number, count: number, rows: number, cols: number, density: number, emptyRows: number[] = []): Uint8Array {
  let r = seed >>> 0;
  return Uint8Array.from({ length: count * rows * cols }, (_, x) => {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    return x < rows * cols && emptyRows.includes(Math.floor(x / cols)) ? 0 : (r >>> 8) / 2 ** 24 < density ? 1 : 0;
  });
}

/** A [B, H, Nq, Nk] array with each entry from `at(b, h, i, j)`. */
function full(c: { B: number; H: number; Nq: number; Nk: number }, at: (b: number, h: number, i: number, j: number) => number): Float64Array {
  const out = new Float64Array(c.B * c.H * c.Nq * c.Nk);
  for (let b = 0, x = 0; b < c.B; b++) for (let h = 0; h < c.H; h++) for (let i = 0; i < c.Nq; i++) for (let j = 0; j < c.Nk; j++) out[x++] = at(b, h, i, j);
  return out;
}

/** Values read back in row-major order of their shape (through any strides). */
const values = (t: Tensor) => tidy(() => host(t.contiguous()));

/** Compares lse with the float64 one: -Infinity exactly where a row has no allowed key. */
function assertLse(got: Float32Array, want: Float64Array, tolerance: number, label: string): void {
  want.forEach((w, x) => {
    if (w === -Infinity) assert.equal(got[x], -Infinity, `${label}: lse[${x}] of a row with no allowed key`);
    else assert.ok(Math.abs(got[x] - w) <= tolerance * (1 + Math.abs(w)), `${label}: lse[${x}] = ${got[x]} vs float64 ${w}`);
  });
}

interface Inputs { q: Tensor; k: Tensor; v: Tensor; dO: Tensor }

function inputsFor(c: Case, device: Device, dtype: FloatDType, seed: number): Inputs {
  const { B, Nq, Nk, H, D } = c;
  if (c.strided) {
    const { q, k, v } = splitQkv(randn([B, Nq, 3, H, D], { device, dtype, seed }));
    const wide = randn([B, Nq, 2, H, D], { device, dtype, seed: seed + 1 });
    return { q, k, v, dO: wide._view([B, Nq, H, D], [wide.strides[0], wide.strides[1], wide.strides[3], 1], wide.strides[2]) };
  }
  return {
    q: randn([B, Nq, H, D], { device, dtype, seed }), k: randn([B, Nk, H, D], { device, dtype, seed: seed + 1 }),
    v: randn([B, Nk, H, D], { device, dtype, seed: seed + 2 }), dO: randn([B, Nq, H, D], { device, dtype, seed: seed + 3 }),
  };
}

for (const device of DEVICES) {
  describeDevice(device, 'attention backward against float64', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        it(`${c.label}, ${dtype}`, () => tidy(() => {
          const { B, Nq, Nk, H, D } = c;
          const { q, k, v, dO } = inputsFor(c, device, dtype, 31 + Nq);
          const scale = 1 / Math.sqrt(D);
          const shape = { B, H, Nq, Nk };
          let maskHost: Uint8Array | null = null;
          let maskView: Tensor | null = null;
          if (c.mask !== undefined) {
            maskHost = pattern(7, B, Nq, Nk, c.mask, [1]);
            maskView = broadcastView('test', 'mask', tensor(maskHost, [B, 1, Nq, Nk], { dtype: 'uint8', device }), [B, H, Nq, Nk]);
          }
          let biasView: Tensor | null = null;
          if (c.bias) {
            const bias = randn(c.bias.shape, { device, dtype: c.bias.dtype === 'q' ? dtype : c.bias.dtype, seed: 5 });
            biasView = broadcastView('test', 'bias', bias, [B, H, Nq, Nk]);
          }
          let plan: NativeBlockPlan | null = null;
          let layoutHost: Uint8Array | null = null;
          if (c.layoutOff) {
            layoutHost = new Uint8Array(H * 9).fill(1);
            for (const x of c.layoutOff) layoutHost[x] = 0;
            const layout = BlockSparseLayout.fromDense(layoutHost, 16, { shape: [H, 3, 3], device });
            plan = layout.blockPlan('test');
          }
          const out = poisoned([B, Nq, H, D], dtype, device);
          const lse = poisoned([B, H, Nq], 'float32', device);
          native().attention(out, q, k, v, maskView, biasView, scale, c.causal ?? false, plan, undefined, lse);
          const [dq, dk, dv] = [q, k, v].map((t) => poisoned(t.shape, dtype, device));
          const dbias = biasView ? poisoned([B, H, Nq, Nk], 'float32', device) : null;
          native().attentionBackward(dq, dk, dv, dbias, dO, q, k, v, out, lse, maskView, biasView, scale, c.causal ?? false, plan);

          // The reference sees the layout as part of the mask.
          const mask = maskHost === null && layoutHost === null ? null : full(shape, (b, h, i, j) =>
            (maskHost === null ? 1 : maskHost[(b * Nq + i) * Nk + j]) * (layoutHost === null ? 1 : layoutHost[(h * 3 + Math.floor(i / 16)) * 3 + Math.floor(j / 16)]));
          const ref: AttentionCase = { B, Nq, Nk, H, D, scale, causal: c.causal ?? false, mask, bias: biasView ? values(biasView) : null };
          const [hq, hk, hv, hdO] = [q, k, v, dO].map(values);
          const want = attentionBackwardReference(ref, hq, hk, hv, hdO);
          const tol = GRAD_TOLERANCE[dtype];
          assertClose(host(out), attentionReference(ref, hq, hk, hv), TOLERANCE[dtype] * 2, 'out');
          assertLse(host(lse), lseReference(ref, hq, hk), dtype === 'float32' ? 1e-5 : 1e-4, 'lse');
          assertClose(host(dq), want.dq, tol, 'dq');
          assertClose(host(dk), want.dk, tol, 'dk');
          assertClose(host(dv), want.dv, tol, 'dv');
          if (dbias) assertClose(host(dbias), want.dbias, tol, 'dbias');
          if (c.mask !== undefined) {
            const row = host(dq).subarray(1 * H * D, 2 * H * D); // batch 0, query 1: no allowed key
            assert.ok(row.every((x) => x === 0), 'the fully masked row gets zero dq');
          }
        }));
      }

      for (const maskHeads of [1, 3]) {
        it(`sparse (CSR): ${maskHeads} mask head(s), empty rows, Nq 37 ≠ Nk 29, D 12, ${dtype}`, () => tidy(() => {
          const [B, Nq, Nk, H, D] = [2, 37, 29, 3, 12];
          const maskHost = pattern(11 + maskHeads, maskHeads, Nq, Nk, 0.3, [0, 17, 36]);
          const sm = SparseMask.fromDense(maskHost, maskHeads === 1 ? [Nq, Nk] : [maskHeads, Nq, Nk], { device });
          try {
            const q = randn([B, Nq, H, D], { device, dtype, seed: 1 });
            const k = randn([B, Nk, H, D], { device, dtype, seed: 2 });
            const v = randn([B, Nk, H, D], { device, dtype, seed: 3 });
            const dO = randn([B, Nq, H, D], { device, dtype, seed: 4 });
            const out = poisoned([B, Nq, H, D], dtype, device);
            const lse = poisoned([B, H, Nq], 'float32', device);
            const plan = sm.devicePlan('test');
            native().sparseAttention(out, q, k, v, plan, 0.4, lse);
            const [dq, dk, dv] = [q, k, v].map((t) => poisoned(t.shape, dtype, device));
            native().sparseAttentionBackward(dq, dk, dv, dO, q, k, v, out, lse, plan, 0.4);
            const mask = full({ B, H, Nq, Nk }, (b, h, i, j) => maskHost[((maskHeads === 1 ? 0 : h) * Nq + i) * Nk + j]);
            const ref: AttentionCase = { B, Nq, Nk, H, D, scale: 0.4, causal: false, mask, bias: null };
            const [hq, hk, hv, hdO] = [q, k, v, dO].map(values);
            const want = attentionBackwardReference(ref, hq, hk, hv, hdO);
            assertLse(host(lse), lseReference(ref, hq, hk), dtype === 'float32' ? 1e-5 : 1e-4, 'lse');
            assertClose(host(dq), want.dq, GRAD_TOLERANCE[dtype], 'dq');
            assertClose(host(dk), want.dk, GRAD_TOLERANCE[dtype], 'dk');
            assertClose(host(dv), want.dv, GRAD_TOLERANCE[dtype], 'dv');
          } finally {
            sm.dispose();
          }
        }));
      }
    }

    it('empty sizes: Nq 0 gives zero dk and dv, Nk 0 zero dq, D 0 a zero dbias; nothing is read', () => tidy(() => {
      for (const [Nq, Nk, D] of [[0, 5, 4], [5, 0, 4], [3, 4, 0]]) {
        const q = randn([1, Nq, 2, D], { device }), k = randn([1, Nk, 2, D], { device }), v = randn([1, Nk, 2, D], { device });
        const out = poisoned([1, Nq, 2, D], 'float32', device), lse = poisoned([1, 2, Nq], 'float32', device);
        const [dq, dk, dv] = [q, k, v].map((t) => poisoned(t.shape, 'float32', device));
        const dbias = poisoned([1, 2, Nq, Nk], 'float32', device);
        const bias = randn([1, 2, Nq, Nk], { device });
        native().attentionBackward(dq, dk, dv, dbias, out, q, k, v, out, lse, null, bias, 1, false);
        for (const t of [dq, dk, dv, dbias]) assert.ok(host(t).every((x) => x === 0), `[${t.shape.join(', ')}] zeros`);
      }
    }));
  });
}

describe('attention backward: bad input', () => {
  const B = 1, N = 6, H = 2, D = 4;
  const saved = () => {
    const q = randn([B, N, H, D], { seed: 1 }), k = randn([B, N, H, D], { seed: 2 }), v = randn([B, N, H, D], { seed: 3 });
    const out = randn([B, N, H, D], { seed: 4 });
    const lse = randn([B, H, N], { seed: 5 });
    native().attention(out, q, k, v, null, null, 0.5, false, null, undefined, lse);
    return { q, k, v, out, lse };
  };
  const options = { scale: 0.5, causal: false, mask: null, bias: null, plan: null, biasGrad: false };

  it('a dO of the wrong shape, dtype or device, or disposed, is refused by name', () => tidy(() => {
    const s = saved();
    assert.throws(() => attentionBackward(randn([B, N, H, D + 1]), s, options), /^RangeError: attentionBackward: dout must have out's shape \[1, 6, 2, 4\], got \[1, 6, 2, 5\]/);
    assert.throws(() => attentionBackward(randn([B, N, H, D], { dtype: 'float16' }), s, options), /^TypeError: attentionBackward: expected dout to be a float32 tensor like out/);
    assert.throws(() => attentionBackward({ shape: [1] } as unknown as Tensor, s, options), /^TypeError: attentionBackward: expected dout to be a Tensor/);
    const gone = randn([B, N, H, D]);
    gone.dispose();
    assert.throws(() => attentionBackward(gone, s, options), /^TypeError: attentionBackward: dout has been disposed/);
    const plan = SparseMask.fromDense(new Uint8Array(N * N).fill(1), [N, N]);
    assert.throws(() => sparseAttentionBackward(randn([B, N + 1, H, D]), s, plan.devicePlan('test'), 0.5), /^RangeError: sparseAttentionBackward: dout must have out's shape/);
    plan.dispose();
  }));

  it('a saved tensor disposed, or an lse of the wrong shape, is refused by name', () => tidy(() => {
    const s = saved();
    s.k.dispose();
    assert.throws(() => attentionBackward(randn([B, N, H, D]), s, options), /^TypeError: attentionBackward: k has been disposed/);
    const t = saved();
    assert.throws(() => attentionBackward(randn([B, N, H, D]), { ...t, lse: randn([B, N, H]) }, options), /^RangeError: attentionBackward: lse must be float32 \[B, H, Nq\] = \[1, 2, 6\], got \[1, 6, 2\]/);
  }));

  it('the native contract: overlapping gradients, wrong shapes and dtypes, a missing lse, a plan of other Nk', () => tidy(() => {
    const { q, k, v, out, lse } = saved();
    const g = randn([B, N, H, D], { seed: 9 });
    const [dq, dk, dv] = [0, 1, 2].map(() => randn([B, N, H, D]));
    const refused = (what: RegExp, f: () => void) => assert.throws(f, { code: 'ERR_INVALID_ARG', message: what });
    refused(/^attentionBackward: the gradients must not overlap an input/, () => native().attentionBackward(q, dk, dv, null, g, q, k, v, out, lse, null, null, 0.5, false));
    refused(/^attentionBackward: dq, dk, dv and dbias must not overlap each other/, () => native().attentionBackward(dq, dq, dv, null, g, q, k, v, out, lse, null, null, 0.5, false));
    refused(/^attentionBackward: dq, dk and dv must have q's, k's and v's shapes/, () => native().attentionBackward(dq, randn([B, N - 1, H, D]), dv, null, g, q, k, v, out, lse, null, null, 0.5, false));
    refused(/^attentionBackward: dq, dk and dv must have q's dtype/, () => native().attentionBackward(dq, dk, randn([B, N, H, D], { dtype: 'bfloat16' }), null, g, q, k, v, out, lse, null, null, 0.5, false));
    refused(/^attentionBackward: dbias must be a contiguous float32 \[B, H, Nq, Nk\] tensor/, () => native().attentionBackward(dq, dk, dv, randn([B, H, N, N], { dtype: 'float16' }), g, q, k, v, out, lse, null, null, 0.5, false));
    refused(/^attentionBackward: dout must have out's shape and dtype/, () => native().attentionBackward(dq, dk, dv, null, randn([B, N, H, D], { dtype: 'float16' }), q, k, v, out, lse, null, null, 0.5, false));
    refused(/^attentionBackward: lse must be a Tensor/, () => native().attentionBackward(dq, dk, dv, null, g, q, k, v, out, null as unknown as Tensor, null, null, 0.5, false));
    refused(/^attentionBackward: lse must be \[B, H, Nq\]/, () => native().attentionBackward(dq, dk, dv, null, g, q, k, v, out, randn([B, H, N + 1]), null, null, 0.5, false));
    refused(/^attention: lse must be a contiguous float32 \[B, H, Nq\] tensor/, () => native().attention(out, q, k, v, null, null, 0.5, false, null, undefined, randn([B, H, N], { dtype: 'float16' })));
    const narrow = SparseMask.fromDense(new Uint8Array(N * (N - 1)).fill(1), [N, N - 1]);
    refused(/^sparseAttentionBackward: the plan's mask must have Nk columns/, () => native().sparseAttentionBackward(dq, dk, dv, g, q, k, v, out, lse, narrow.devicePlan('test'), 0.5));
    narrow.dispose();
  }));

  it('a layout or mask disposed between forward and backward is refused by name, and the tape is freed', () => {
    const nodes = liveGradNodes();
    const layout = BlockSparseLayout.fromDense(new Uint8Array([1, 1, 0, 1]), 16, { shape: [2, 2] });
    const csr = SparseMask.fromDense(new Uint8Array(20 * 20).fill(1), [20, 20]);
    const block = SparseMask.fromDense(new Uint8Array(20 * 20).fill(1), [20, 20]);
    const q = randn([1, 20, 1, 4], { seed: 2 }).requiresGrad_();
    const cases: [string, () => Tensor, () => void, RegExp][] = [
      ['block_sparse', () => attention(q, q, q, { mechanism: 'block_sparse', layout }), () => layout.dispose(), /^TypeError: attention backward: layout \(a BlockSparseLayout\) has been disposed/],
      ['sparse csr', () => attention(q, q, q, { mechanism: 'sparse', mask: csr, sparsePath: 'csr' }), () => csr.dispose(), /^TypeError: attention backward: mask \(a SparseMask\) has been disposed/],
      ['sparse block', () => attention(q, q, q, { mechanism: 'sparse', mask: block, sparsePath: 'block' }), () => block.dispose(), /^TypeError: attention backward: mask \(a SparseMask\) has been disposed/],
    ];
    for (const [name, forward, drop, error] of cases) {
      const out = forward();
      drop();
      assert.throws(() => backward(out, randn(out.shape)), error, name);
      assert.throws(() => backward(out, randn(out.shape)), /the tape through 'attention' was freed/, `${name}: freed after the error`);
      out.dispose();
    }
    q.dispose();
    assert.equal(liveGradNodes(), nodes);
  });
});

describe('attention backward: memory', () => {
  it('a training step through each mechanism frees everything the tape held', () => {
    const layout = BlockSparseLayout.fromDense(new Uint8Array([1, 0, 1, 1]), 16, { shape: [2, 2] });
    const mask = SparseMask.fromDense(new Uint8Array(20 * 20).map((_, x) => (x % 3 === 0 ? 1 : 0)), [20, 20]);
    const q = randn([2, 20, 2, 8], { seed: 1 }).requiresGrad_();
    const bias = randn([20, 20], { seed: 2 }).requiresGrad_();
    const step = (options: Record<string, unknown>) => {
      tidy(() => backward(mean(mean(mean(attention(q, q, q, options), 3), 2), 1), randn([2], { seed: 3 })));
      zeroGrad([q, bias]);
    };
    const runs: Record<string, unknown>[] = [
      { mechanism: 'memory_efficient', bias, causal: true }, { mechanism: 'vanilla', bias, causal: true }, { mechanism: 'block_sparse', layout, bias },
      { mechanism: 'sparse', mask, sparsePath: 'csr' }, { mechanism: 'sparse', mask, sparsePath: 'block' },
    ];
    for (const options of runs) step(options); // warm: plans and cached masks are made once
    const before = liveStorage();
    const nodes = liveGradNodes();
    for (const options of runs) {
      step(options);
      assert.deepEqual(liveStorage(), before, `${String(options.mechanism)} ${String(options.sparsePath ?? '')}: storages after the step`);
      assert.equal(liveGradNodes(), nodes);
    }
    for (const t of [q, bias, layout, mask]) t.dispose();
  });
});
