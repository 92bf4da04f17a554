import * as assert from 'node:assert/strict';
import {
  attention, attentionMechanisms, BlockSparseLayout, FLOAT_DTYPES, FloatDType, randn, rand, registerAttention, SparseMask, splitQkv, tensor, Tensor, Device,
} from '../ts/index';
import type { AttentionInputs, AttentionPrecision } from '../ts/index';
import { PRECISION_CODES } from '../ts/attention/dense';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed } from './helpers';
import { attentionReference } from './attention_reference';

interface Shape { B: number; Nq: number; Nk: number; H: number; D: number }

const cpuShapes: Shape[] = [
  { B: 1, Nq: 1, Nk: 1, H: 1, D: 1 },
  { B: 2, Nq: 7, Nk: 7, H: 3, D: 8 },
  { B: 2, Nq: 197, Nk: 197, H: 2, D: 12 },
  { B: 1, Nq: 197, Nk: 150, H: 2, D: 64 },
  { B: 1, Nq: 33, Nk: 1000, H: 1, D: 80 },
];
const cudaShapes: Shape[] = [
  ...cpuShapes,
  ...[1, 8, 12, 16, 32, 64, 80, 96, 128, 256].map((D) => ({ B: 2, Nq: 197, Nk: 197, H: 3, D })),
  { B: 1, Nq: 1000, Nk: 1000, H: 2, D: 64 },
  { B: 1, Nq: 4096, Nk: 4096, H: 1, D: 64 },
  { B: 1, Nq: 1, Nk: 4096, H: 4, D: 128 },
  { B: 64, Nq: 197, Nk: 197, H: 8, D: 12 },
];

function host(t: Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

// vanilla and memory_efficient read the same fresh inputs for one (device, dtype, case), so
// the float64 reference (about 10 s at Nq = Nk = 4096 on the GPU machine's host) is computed
// once for the two: the first run of a case draws the seed and computes it, the second
// takes both and drops the entry.
const sharedCases = new Map<string, { seed: number; ref: Float64Array | null; uses: number }>();

interface RunOptions { mask?: 'random' | 'emptyRows'; bias?: boolean; causal?: boolean; precision?: AttentionPrecision; layout?: boolean }

function run(device: Device, mechanism: string, dtype: FloatDType, s: Shape, opts: RunOptions = {}) {
  const key = `${device} ${dtype} ${JSON.stringify(s)} ${JSON.stringify(opts)}`;
  const shared = sharedCases.get(key) ?? { seed: freshSeed(), ref: null, uses: 0 };
  sharedCases.set(key, shared);
  if (++shared.uses === 2) sharedCases.delete(key);
  const seed = shared.seed;
  const q = randn([s.B, s.Nq, s.H, s.D], { device, dtype, seed });
  const k = randn([s.B, s.Nk, s.H, s.D], { device, dtype, seed: seed + 1 });
  const v = randn([s.B, s.Nk, s.H, s.D], { device, dtype, seed: seed + 2 });
  let mask: Tensor | null = null;
  let maskHost: Uint8Array | null = null;
  if (opts.mask) {
    // [1, H, Nq, Nk] broadcast over the batch; some rows fully masked when asked.
    maskHost = new Uint8Array(s.H * s.Nq * s.Nk);
    let r = seed;
    for (let i = 0; i < maskHost.length; i++) {
      r = (Math.imul(r, 1103515245) + 12345) >>> 0;
      const row = Math.floor(i / s.Nk) % s.Nq;
      maskHost[i] = opts.mask === 'emptyRows' && row % 3 === 1 ? 0 : r % 4 !== 0 ? 1 : 0;
    }
    mask = tensor(maskHost, [1, s.H, s.Nq, s.Nk], { device });
  }
  const bias = opts.bias ? randn([s.Nq, s.Nk], { device, dtype: 'float32', seed: seed + 3 }) : null;
  const scale = 1 / Math.sqrt(s.D);
  // A layout of 16-blocks, all on: block_sparse computes what memory_efficient does.
  const layout = opts.layout ? BlockSparseLayout.fromDense(new Uint8Array(Math.ceil(s.Nq / 16) * Math.ceil(s.Nk / 16)).fill(1), 16, { device, shape: [Math.ceil(s.Nq / 16), Math.ceil(s.Nk / 16)] }) : undefined;
  const out = attention(q, k, v, { mechanism, mask, bias, causal: opts.causal ?? false, precision: opts.precision, layout });
  assert.deepEqual(out.shape, [s.B, s.Nq, s.H, s.D]);
  assert.equal(out.dtype, dtype);
  const full = s.B * s.H * s.Nq * s.Nk;
  const expandMask = maskHost && Uint8Array.from({ length: full }, (_, i) => maskHost![i % (s.H * s.Nq * s.Nk)]);
  const biasHost = bias && host(bias);
  const expandBias = biasHost && Float64Array.from({ length: full }, (_, i) => biasHost[i % (s.Nq * s.Nk)]);
  const ref = shared.ref ?? attentionReference({ ...s, scale, causal: opts.causal ?? false, mask: expandMask, bias: expandBias }, host(q), host(k), host(v));
  shared.ref = ref;
  const got = host(out);
  assertClose(got, ref, TOLERANCE[dtype], `${mechanism} ${dtype} seed ${seed}`);
  if (opts.mask === 'emptyRows') {
    // Rows with no allowed key are exact zeros.
    for (let b = 0; b < s.B; b++) for (let i = 1; i < s.Nq; i += 3) for (let h = 0; h < s.H; h++)
      for (let d = 0; d < s.D; d++) assert.equal(got[((b * s.Nq + i) * s.H + h) * s.D + d], 0);
  }
  for (const t of [q, k, v, out, mask, bias, layout]) t?.dispose();
}

for (const device of DEVICES) {
  describeDevice(device, 'attention', () => {
    const shapes = device === 'cpu' ? cpuShapes : cudaShapes;
    for (const mechanism of ['memory_efficient', 'vanilla']) {
      for (const dtype of FLOAT_DTYPES) {
        for (const s of shapes) {
          if (mechanism === 'vanilla' && s.Nq * s.Nk * s.B * s.H > 2e7) continue;
          it(`${mechanism} matches float64 at B${s.B} Nq${s.Nq} Nk${s.Nk} H${s.H} D${s.D}, ${dtype}`, () => run(device, mechanism, dtype, s));
        }
        it(`${mechanism} ${dtype}: a mask with empty rows gives zeros there`, () => run(device, mechanism, dtype, { B: 2, Nq: 37, Nk: 45, H: 2, D: 16 }, { mask: 'emptyRows' }));
        it(`${mechanism} ${dtype}: random mask and additive bias`, () => run(device, mechanism, dtype, { B: 2, Nq: 97, Nk: 131, H: 2, D: 24 }, { mask: 'random', bias: true }));
        it(`${mechanism} ${dtype}: causal, Nq != Nk`, () => run(device, mechanism, dtype, { B: 1, Nq: 100, Nk: 130, H: 2, D: 32 }, { causal: true }));
        it(`${mechanism} ${dtype}: causal with a mask`, () => run(device, mechanism, dtype, { B: 1, Nq: 64, Nk: 64, H: 3, D: 12 }, { causal: true, mask: 'random' }));
      }
      for (const precision of ['highest', 'high'] as const) {
        it(`${mechanism} float32 with precision '${precision}' matches float64, with a mask and a bias`, () =>
          run(device, mechanism, 'float32', { B: 2, Nq: 97, Nk: 131, H: 2, D: 24 }, { mask: 'random', bias: true, precision }));
      }
      it(`${mechanism} reads a fused qkv [B, N, 3, H, D] in place through splitQkv`, () => {
        const [B, N, H, D] = [2, 50, 3, 16];
        const qkv = randn([B, N, 3, H, D], { device, seed: freshSeed() });
        const { q, k, v } = splitQkv(qkv);
        assert.equal(q.isContiguous, false);
        const out = attention(q, k, v, { mechanism });
        const ref = attentionReference({ B, Nq: N, Nk: N, H, D, scale: 1 / Math.sqrt(D), causal: false, mask: null, bias: null }, host(q), host(k), host(v));
        assertClose(host(out), ref, TOLERANCE.float32, mechanism);
      });
    }
  });
}

for (const device of DEVICES) {
  describeDevice(device, 'attention precision', () => {
    for (const precision of ['highest', 'high'] as const) {
      it(`block_sparse float32 with precision '${precision}' matches float64`, () =>
        run(device, 'block_sparse', 'float32', { B: 1, Nq: 100, Nk: 130, H: 2, D: 32 }, { mask: 'random', causal: true, layout: true, precision }));
      it(`sparse's block path, float32 with precision '${precision}', matches float64`, () => {
        const [B, N, H, D] = [1, 70, 2, 16];
        const seed = freshSeed();
        const q = randn([B, N, H, D], { device, seed });
        const mask = SparseMask.fromDense(new Uint8Array(N * N).fill(1), [N, N], { device });
        const out = attention(q, q, q, { mechanism: 'sparse', mask, sparsePath: 'block', precision });
        const ref = attentionReference({ B, Nq: N, Nk: N, H, D, scale: 1 / Math.sqrt(D), causal: false, mask: null, bias: null }, host(q), host(q), host(q));
        assertClose(host(out), ref, TOLERANCE.float32, `sparse block ${precision} seed ${seed}`);
        for (const t of [q, out, mask]) t.dispose();
      });
    }
  });
}

describe('attention API', () => {
  it('lists the registered mechanisms and uses one registered by name', () => {
    assert.ok(attentionMechanisms().includes('memory_efficient') && attentionMechanisms().includes('vanilla'));
    let called = 0;
    registerAttention('test_double_v', {
      notSupportedReasons: () => [],
      forward: ({ v }) => { called++; return v.contiguous(); },
    });
    const q = randn([1, 3, 1, 4], { seed: 1 });
    const out = attention(q, q, q, { mechanism: 'test_double_v' });
    assert.equal(called, 1);
    assert.deepEqual(Array.from(out.dataSync()), Array.from(q.dataSync()));
  });

  it('an unservable combination throws an Error listing the reasons', () => {
    registerAttention('test_refuses', { notSupportedReasons: () => ['reason one', 'reason two'], forward: () => { throw new Error('unreachable'); } });
    const q = randn([1, 2, 1, 4], { seed: 1 });
    assert.throws(() => attention(q, q, q, { mechanism: 'test_refuses' }), /cannot serve these inputs[\s\S]*reason one[\s\S]*reason two/);
    const big = randn([1, 2, 1, 300], { seed: 1 });
    assert.throws(() => attention(big, big, big), /head dim 300 is above 256/);
  });

  it("options.precision is 'highest' or 'high', reaches the mechanism as inputs.precision, and is refused otherwise", () => {
    let seen: AttentionInputs | null = null;
    registerAttention('test_precision', { notSupportedReasons: () => [], forward: (inputs) => { seen = inputs; return inputs.v.contiguous(); } });
    const q = randn([1, 3, 1, 4], { seed: 1 });
    for (const precision of ['highest', 'high', undefined] as const) {
      attention(q, q, q, { mechanism: 'test_precision', precision }).dispose();
      assert.equal(seen!.precision, precision);
      assert.equal('precision' in seen!.extra, false, 'not left in extra');
    }
    assert.deepEqual(PRECISION_CODES, { high: 0, highest: 1 }, 'the codes the native side decodes');
    for (const bad of ['medium', 'HIGH', 1, null, true]) {
      for (const mechanism of ['memory_efficient', 'vanilla', 'test_precision']) {
        assert.throws(() => attention(q, q, q, { mechanism, precision: bad as never }),
          { name: 'TypeError', message: /^attention: expected options.precision to be one of 'high', 'highest', got / }, `${String(bad)} for ${mechanism}`);
      }
    }
    // float16 and bfloat16 are not affected, but take the option.
    const h = q.cast('float16');
    assert.deepEqual(Array.from(attention(h, h, h, { precision: 'highest' }).dataSync()), Array.from(attention(h, h, h).dataSync()));
    q.dispose();
    h.dispose();
  });

  it('rejects bad arguments before native code runs', () => {
    const q = randn([1, 4, 2, 8], { seed: 1 });
    assert.throws(() => attention(q, q, q, { mechanism: 'nope' }), { name: 'TypeError', message: /attention: expected options.mechanism to be one of/ });
    assert.throws(() => attention(q.reshape([4, 2, 8]), q, q), { name: 'RangeError', message: /attention: q must be \[B, N, H, D\]/ });
    assert.throws(() => attention(q, randn([1, 4, 2, 4], { seed: 1 }), q), { name: 'RangeError', message: /shapes disagree/ });
    assert.throws(() => attention(q, q.cast('float16'), q), { name: 'TypeError', message: /share one dtype/ });
    assert.throws(() => attention(q, q, q, { mask: rand([4, 4], { seed: 1 }) }), { name: 'TypeError', message: /options.mask to be a uint8 tensor/ });
    assert.throws(() => attention(q, q, q, { mask: tensor(new Uint8Array(15), [3, 5]) }), { name: 'RangeError', message: /does not broadcast/ });
    const d = randn([1, 4, 2, 8], { seed: 1 });
    d.dispose();
    assert.throws(() => attention(q, d, q), { name: 'TypeError', message: /attention: k has been disposed/ });
  });
});

describeDevice('cuda:0', 'attention memory', () => {
  it("memory_efficient's extra device memory is the output alone (no N x N scores)", async () => {
    const { cuda } = await import('../ts/index');
    const [B, N, H, D] = [4, 4096, 16, 64]; // enough query tiles that the keys are not split
    const q = randn([B, N, H, D], { device: 'cuda', dtype: 'float16', seed: 1 });
    attention(q, q, q).dispose(); // warm up: kernels loaded, cuBLASLt untouched
    cuda.synchronize();
    const before = cuda.memory().allocated;
    cuda.resetPeak();
    const out = attention(q, q, q);
    cuda.synchronize();
    const extra = cuda.memory().peak - before;
    const outBytes = B * N * H * D * 2;
    assert.ok(extra <= outBytes + (1 << 20), `extra ${extra} bytes vs output ${outBytes} (scores would be ${B * H * N * N * 2})`);
    out.dispose();
  });
});
