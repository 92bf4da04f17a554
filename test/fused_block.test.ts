// EncoderBlock as one native call (ts/ops/encoder_block.ts, EncoderBlock.forwardFused, with
// the attention its mechanism's blockPlan() gives): the same backend calls as the op-by-op
// forward (forwardOps), issued by the addon (native/core/encoder_block.h). On the CPU
// the two are equal bit for bit; on CUDA each GEMM may pick a split-K reduction, so they
// agree within one op's tolerance. The float64 check of the block is test/nn.test.ts (its
// pre-norm forms without layer scale run this path). Outputs are poisoned first, so an
// element the fused call leaves unwritten fails.
import * as assert from 'node:assert/strict';
import { Device, EncoderBlock, FloatDType, randn, registerAttention, SparseMask, Tensor } from '../ts/index';
import type { AttentionMechanism } from '../ts/index';
import { memoryEfficient } from '../ts/attention/dense';
import { native } from '../ts/native';
import { encoderBlock, EncoderBlockWeights } from '../ts/ops/encoder_block';
import { DEVICES, TOLERANCE, describeDevice, freshSeed, poisoned, relativeError } from './helpers';

interface Case { B: number; N: number; C: number; H: number; ratio: number; qkvBias: boolean; attention: 'memory_efficient' | 'sparse' | 'sparse-heads' }

const CASES: Case[] = [
  { B: 1, N: 1, C: 12, H: 3, ratio: 3, qkvBias: false, attention: 'memory_efficient' },
  { B: 2, N: 197, C: 96, H: 8, ratio: 3, qkvBias: false, attention: 'memory_efficient' }, // the notebook's block, D = 12
  { B: 2, N: 7, C: 12, H: 1, ratio: 4, qkvBias: true, attention: 'memory_efficient' },
  { B: 1, N: 50, C: 64, H: 2, ratio: 2, qkvBias: true, attention: 'memory_efficient' }, // D = 32
  { B: 2, N: 197, C: 96, H: 8, ratio: 3, qkvBias: false, attention: 'sparse' },
  { B: 1, N: 33, C: 24, H: 2, ratio: 3, qkvBias: true, attention: 'sparse-heads' },
];

/** A band of half-width 8 plus the first row and column (the class token), as [heads, N, N]. */
function bandMask(N: number, heads: number, seed: number): Uint8Array {
  const m = new Uint8Array(heads * N * N);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) m[(h * N + i) * N + j] = Math.abs(i - j) <= 8 || i === 0 || j === 0 || (i * 31 + j * 17 + h + seed) % 23 === 0 ? 1 : 0;
    }
  }
  return m;
}

function blockFor(c: Case, device: Device, dtype: FloatDType, seed: number): { block: EncoderBlock; mask: SparseMask | null } {
  let mask: SparseMask | null = null;
  let attention: Record<string, unknown> = { mechanism: 'memory_efficient' };
  if (c.attention !== 'memory_efficient') {
    const heads = c.attention === 'sparse-heads' ? c.H : 1;
    // segment 16: rows longer than 16 entries are split, so the merge kernel runs too
    mask = SparseMask.fromDense(bandMask(c.N, heads, seed), heads === 1 ? [c.N, c.N] : [heads, c.N, c.N], { device, segment: 16 });
    attention = { mechanism: 'sparse', mask, sparsePath: 'csr' };
  }
  const block = new EncoderBlock(c.C, c.H, { device, dtype, mlpRatio: c.ratio, qkvBias: c.qkvBias, attention, seed });
  // Every parameter random (norm weights and biases too), so a term left out shows.
  const state = new Map<string, Tensor>();
  let s = seed;
  for (const [name, t] of block.parameters()) state.set(name, randn(t.shape, { seed: s++, dtype: 'float32' }));
  block.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return { block, mask };
}

/** Fused and op-by-op outputs agree: bit for bit on the CPU, within one op's tolerance on CUDA (split-K GEMMs). */
function assertSameBlock(got: ArrayLike<number>, want: ArrayLike<number>, device: Device, dtype: FloatDType, label: string): void {
  if (device === 'cpu') {
    assert.deepEqual(Array.from(got), Array.from(want), `${label}: bit for bit`);
  } else {
    const err = relativeError(got, want);
    assert.ok(err <= TOLERANCE[dtype], `${label}: relative difference ${err}`);
  }
}

for (const device of DEVICES) {
  describeDevice(device, 'EncoderBlock as one native call', () => {
    const dtypes: FloatDType[] = ['float32', 'float16', 'bfloat16'];
    for (const dtype of dtypes) {
      for (const c of CASES) {
        it(`equals the op-by-op block at B${c.B} N${c.N} C${c.C} H${c.H} mlp ${c.ratio}, qkv bias ${c.qkvBias}, ${c.attention}, ${dtype}`, () => {
          const seed = freshSeed();
          const { block, mask } = blockFor(c, device, dtype, seed);
          const x = randn([c.B, c.N, c.C], { seed: seed + 1000, device, dtype });
          const fused = block.forwardFused(x);
          assert.ok(fused !== null, 'forwardFused served the block');
          const ops = block.forwardOps(x);
          // The addon call itself, into a poisoned output.
          const out = poisoned([c.B, c.N, c.C], dtype, device);
          const p = (name: string) => block.parameters().get(name) ?? null;
          const scale = 1 / Math.sqrt(c.C / c.H);
          native().encoderBlock(out, x, p('norm1.weight'), p('norm1.bias'), p('attn.qkv.weight')!, p('attn.qkv.bias'), p('attn.proj.weight')!,
            p('attn.proj.bias'), p('norm2.weight'), p('norm2.bias'), p('mlp.fc1.weight')!, p('mlp.fc1.bias'), p('mlp.fc2.weight')!, p('mlp.fc2.bias'),
            c.H, block.norm1.eps, block.norm2.eps, 2, 0, 0, scale, mask ? mask.devicePlan('test') : null); // 2: gelu (erf)
          const want = ops.dataSync();
          for (const [label, got] of [['forwardFused', fused], ['encoderBlock into a poisoned output', out]] as const) {
            const values = got.dataSync();
            assert.ok(values.every(Number.isFinite), `${label}: every element written and finite (seed ${seed})`);
            assertSameBlock(values, want, device, dtype, `${label} (seed ${seed})`);
          }
          for (const t of [x, fused, ops, out]) t.dispose();
          mask?.dispose();
          block.dispose();
        });
      }
    }

    it('serves only what it computes: other forms and attention options run op by op', () => {
      const o = { device, dtype: 'float32' as const, mlpRatio: 2 };
      const x = randn([1, 5, 8], { seed: 1, device });
      const dense = new Uint8Array(25).fill(1);
      const mask = SparseMask.fromDense(dense, [5, 5], { device });
      const cases: [string, EncoderBlock][] = [
        ['post-norm', new EncoderBlock(8, 2, { ...o, preNorm: false })],
        ['layer scale', new EncoderBlock(8, 2, { ...o, layerScale: 0.5 })],
        ['vanilla', new EncoderBlock(8, 2, { ...o, attention: { mechanism: 'vanilla' } })],
        ['causal', new EncoderBlock(8, 2, { ...o, attention: { causal: true } })],
        ['sparse, block path', new EncoderBlock(8, 2, { ...o, attention: { mechanism: 'sparse', mask, sparsePath: 'block' } })],
      ];
      for (const [what, block] of cases) {
        assert.equal(block.forwardFused(x), null, what);
        const y = block.forward(x);
        assert.deepEqual(y.shape, [1, 5, 8], what);
        y.dispose();
        block.dispose();
      }
      const wrong = new EncoderBlock(8, 2, o);
      assert.equal(wrong.forwardFused(x.reshape([5, 8])), null, 'a 2-D x');
      assert.throws(() => wrong.forward(x.reshape([5, 8])), Error); // op by op says why
      wrong.dispose();
      mask.dispose();
      x.dispose();
    });

    it('asks the mechanism for a block plan through the registry, and runs op by op where it offers none', () => {
      const o = { device, dtype: 'float32' as const, mlpRatio: 2, seed: 3 };
      const x = randn([2, 5, 8], { seed: 4, device });
      let asked = 0;
      const planned: AttentionMechanism = {
        notSupportedReasons: (inputs) => memoryEfficient.notSupportedReasons(inputs),
        forward: (inputs) => memoryEfficient.forward(inputs),
        blockPlan: (request) => {
          asked++;
          assert.deepEqual({ ...request, options: undefined }, { heads: 2, tokens: 5, headDim: 4, dtype: 'float32', device, options: undefined });
          if (request.options.refuse) return null;
          assert.deepEqual(request.options, { extraOption: undefined }, 'the options less mechanism and scale');
          return { kind: 'dense' };
        },
      };
      const { blockPlan: _, ...unplanned } = planned;
      registerAttention('test_planned', planned);
      registerAttention('test_unplanned', unplanned);
      const block = new EncoderBlock(8, 2, { ...o, attention: { mechanism: 'test_planned', scale: 0.25, extraOption: undefined } });
      const reference = new EncoderBlock(8, 2, { ...o, attention: { mechanism: 'memory_efficient', scale: 0.25 } });
      reference.loadStateDict(block.parameters());
      const fused = block.forwardFused(x);
      assert.ok(fused !== null, "served: the mechanism's plan is { kind: 'dense' }");
      assert.equal(asked, 1);
      assertSameBlock(fused.dataSync(), reference.forwardOps(x).dataSync(), device, 'float32', 'the dense block at scale 0.25');
      block.attn.attentionConfig = { mechanism: 'test_planned', refuse: true };
      assert.equal(block.forwardFused(x), null, 'the mechanism answered null');
      block.attn.attentionConfig = { mechanism: 'test_unplanned' };
      assert.equal(block.forwardFused(x), null, 'no blockPlan: op by op');
      const y = block.forward(x);
      assert.deepEqual(y.shape, [2, 5, 8]);
      for (const t of [x, fused, y]) t.dispose();
      block.dispose();
      reference.dispose();
    });

    it('fused: false runs forward() op by op, with the same result', () => {
      const x = randn([1, 9, 12], { seed: 6, device });
      const block = new EncoderBlock(12, 3, { device, mlpRatio: 2, seed: 7 });
      const fused = block.forward(x);
      block.fused = false;
      block.forwardFused = () => assert.fail('forwardFused called with fused false');
      const ops = block.forward(x);
      assertSameBlock(ops.dataSync(), fused.dataSync(), device, 'float32', 'op by op');
      const off = new EncoderBlock(12, 3, { device, mlpRatio: 2, seed: 7, fused: false });
      assert.equal(off.fused, false, 'the constructor option');
      for (const t of [x, fused, ops]) t.dispose();
      block.dispose();
      off.dispose();
    });

    it('encoderBlock() checks its arguments in TypeScript, naming encoderBlock', () => {
      const c: Case = { B: 1, N: 9, C: 12, H: 3, ratio: 2, qkvBias: true, attention: 'memory_efficient' };
      const { block } = blockFor(c, device, 'float32', 12);
      const p = (name: string) => block.parameters().get(name) ?? null;
      const weights: EncoderBlockWeights = {
        norm1Weight: p('norm1.weight'), norm1Bias: p('norm1.bias'), qkvWeight: p('attn.qkv.weight')!, qkvBias: p('attn.qkv.bias'),
        projWeight: p('attn.proj.weight')!, projBias: p('attn.proj.bias'), norm2Weight: p('norm2.weight'), norm2Bias: p('norm2.bias'),
        fc1Weight: p('mlp.fc1.weight')!, fc1Bias: p('mlp.fc1.bias'), fc2Weight: p('mlp.fc2.weight')!, fc2Bias: p('mlp.fc2.bias'),
      };
      const x = randn([1, 9, 12], { seed: 8, device });
      const options = { heads: 3, eps1: 1e-5, eps2: 1e-5, activation: 'gelu' as const, scale: 0.5, attention: { kind: 'dense' as const } };
      const y = encoderBlock(x, weights, options);
      assertSameBlock(y.dataSync(), block.forwardOps(x).dataSync(), device, 'float32', 'the block at its default scale 1/sqrt(4)');
      const other = randn([12, 12], { seed: 9, device });
      for (const [what, call, error] of [
        ['x not a tensor', () => encoderBlock({} as Tensor, weights, options), { name: 'TypeError', message: /^encoderBlock: expected x to be a Tensor/ }],
        ['a 2-D x', () => encoderBlock(x.reshape([9, 12]), weights, options), { name: 'RangeError', message: /^encoderBlock: x must be a contiguous float \[B, N, C\], got \[9, 12\]/ }],
        ['heads 5', () => encoderBlock(x, weights, { ...options, heads: 5 }), { name: 'RangeError', message: /C = 12 is not a multiple of heads = 5/ }],
        ['a qkv weight of [12, 12]', () => encoderBlock(x, { ...weights, qkvWeight: other }, options), { name: 'RangeError', message: /qkvWeight must be a contiguous \[36, 12\] float32 tensor/ }],
        ['an infinite scale', () => encoderBlock(x, weights, { ...options, scale: Infinity }), { name: 'RangeError', message: /scale must be a finite number, got Infinity/ }],
        ['no attention plan', () => encoderBlock(x, weights, { ...options, attention: {} as never }), { name: 'TypeError', message: /^encoderBlock: expected options.attention to be a mechanism's block plan/ }],
        ['a bad activation', () => encoderBlock(x, weights, { ...options, activation: 'swish' as never }), { name: 'TypeError', message: /^encoderBlock: expected options.activation/ }],
      ] as const) {
        assert.throws(call as () => void, error, what);
      }
      for (const t of [x, y, other]) t.dispose();
      block.dispose();
    });

    it('the addon refuses bad arguments with an Error naming encoderBlock, and stays usable', () => {
      const c: Case = { B: 1, N: 9, C: 12, H: 3, ratio: 2, qkvBias: true, attention: 'memory_efficient' };
      const { block } = blockFor(c, device, 'float32', 11);
      const p = (name: string) => block.parameters().get(name) ?? null;
      const x = randn([1, 9, 12], { seed: 2, device });
      const out = poisoned([1, 9, 12], 'float32', device);
      const call = (over: Partial<Record<string, unknown>>) => () => {
        const a = { out, x, heads: 3, plan: null, qkvW: p('attn.qkv.weight'), fc2W: p('mlp.fc2.weight'), ...over };
        native().encoderBlock(a.out as never, a.x as never, p('norm1.weight'), p('norm1.bias'), a.qkvW as never, p('attn.qkv.bias'), p('attn.proj.weight')!,
          p('attn.proj.bias'), p('norm2.weight'), p('norm2.bias'), p('mlp.fc1.weight')!, p('mlp.fc1.bias'), a.fc2W as never, p('mlp.fc2.bias'),
          a.heads as number, 1e-5, 1e-5, 2, 0, 0, 0.5, a.plan as never);
      };
      const sixteen = randn([1, 9, 12], { seed: 3, device, dtype: 'float16' });
      const other = new EncoderBlock(16, 2, { device, mlpRatio: 2 });
      const badMask = SparseMask.fromDense(new Uint8Array(16).fill(1), [4, 4], { device });
      for (const [what, over, why] of [
        ['out is x', { out: x }, /out must not overlap x/],
        ['heads 5 of C 12', { heads: 5 }, /multiple of heads/],
        ['heads 0', { heads: 0 }, /heads must be a positive integer/],
        ['a 2-D x', { x: x.reshape([9, 12]) }, /x must be a contiguous float \[B, N, C\]/],
        ['a float16 out', { out: sixteen }, /out must be a contiguous tensor of x's shape and dtype/],
        ['a qkv weight of another block', { qkvW: other.attn.qkv!.weight }, /qkv weight must be a contiguous \[36, 12\]/],
        ['an fc2 weight of another block', { fc2W: other.mlp.fc2.weight }, /fc2 weight must be a contiguous \[12, 24\]/],
        ['a plan of 4 rows', { plan: badMask.devicePlan('test') }, /the plan's mask must have N rows/],
        ['a plan that is no plan', { plan: {} }, /plan must be a SparsePlan/],
      ] as const) {
        assert.throws(call(over), { code: 'ERR_INVALID_ARG', message: /^encoderBlock: / }, what);
        assert.throws(call(over), { message: why }, what);
      }
      call({})(); // and the right call still runs
      assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
      for (const t of [x, out, sixteen]) t.dispose();
      badMask.dispose();
      other.dispose();
      block.dispose();
    });
  });
}
