// The addon's float32 attention precision (AttentionParams::precision, native/core/ops.h)
// and the head-dim limit it exports (buildInfo.maxHeadDim, native/core/attention_limits.h).
import * as assert from 'node:assert/strict';
import { attention, empty, randn, Device, Tensor } from '../ts/index';
import { MAX_HEAD_DIM } from '../ts/attention/limits';
import { native } from '../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed } from './helpers';
import { attentionReference } from './attention_reference';

const HIGH = 0;
const HIGHEST = 1;

/** float32 memory-efficient attention of fresh [B, N, H, D] inputs through the addon at `precision` (undefined: the default). */
function runAt(device: Device, D: number, precisions: (number | undefined)[]) {
  const [B, N, H] = [2, 197, 3];
  const seed = freshSeed();
  const q = randn([B, N, H, D], { device, seed });
  const k = randn([B, N, H, D], { device, seed: seed + 1 });
  const v = randn([B, N, H, D], { device, seed: seed + 2 });
  const scale = 1 / Math.sqrt(D);
  const outs = precisions.map((precision) => {
    const out = empty([B, N, H, D], { device });
    native().attention(out, q, k, v, null, null, scale, false, undefined, precision);
    const host = out.dataSync() as Float32Array;
    out.dispose();
    return host;
  });
  const ref = attentionReference({ B, Nq: N, Nk: N, H, D, scale, causal: false, mask: null, bias: null },
    q.dataSync() as Float32Array, k.dataSync() as Float32Array, v.dataSync() as Float32Array);
  for (const t of [q, k, v]) t.dispose();
  return { outs, ref };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

for (const device of DEVICES) {
  describeDevice(device, 'attention precision', () => {
    for (const D of [12, 64]) {
      it(`float32 at D${D}: high, highest and the default each match float64`, () => {
        const { outs, ref } = runAt(device, D, [HIGH, HIGHEST, undefined]);
        outs.forEach((got, i) => assertClose(got, ref, TOLERANCE.float32, `precision ${['high', 'highest', 'default'][i]}`));
        assert.ok(sameBits(outs[2], outs[0]), 'the default is high');
      });
    }

    it('float32 at D64: high and highest run the same exact kernel (bit for bit)', () => {
      const { outs } = runAt(device, 64, [HIGH, HIGHEST]);
      assert.ok(sameBits(outs[0], outs[1]));
    });

    if (device === 'cpu') {
      it('the CPU computes float32 exactly whatever the precision (bit for bit at D12)', () => {
        const { outs } = runAt(device, 12, [HIGH, HIGHEST]);
        assert.ok(sameBits(outs[0], outs[1]));
      });
    } else {
      it('float32 at D12 on CUDA: high (3xTF32 tensor cores) and highest (SIMT FMA) are different kernels', () => {
        const { outs } = runAt(device, 12, [HIGH, HIGHEST]);
        assert.ok(!sameBits(outs[0], outs[1]), 'high and highest gave the same bits: one kernel served both');
      });
    }

    it('refuses a precision that is not 0 (high) or 1 (highest)', () => {
      const q = randn([1, 4, 1, 8], { device, seed: 1 });
      const out = empty([1, 4, 1, 8], { device });
      for (const bad of [2, -1, 0.5, NaN]) {
        assert.throws(() => native().attention(out, q, q, q, null, null, 1, false, undefined, bad),
          { code: 'ERR_INVALID_ARG', message: /attention: precision must be 0 \(high\) or 1 \(highest\)/ });
      }
      assert.throws(() => native().attention(out, q, q, q, null, null, 1, false, undefined, 'high' as unknown as number),
        { code: 'ERR_INVALID_ARG', message: /attention: precision must be a number/ });
      for (const t of [q, out] as Tensor[]) t.dispose();
    });
  });
}

describe('attention head-dim limit', () => {
  it('buildInfo.maxHeadDim is 256, ts/attention/limits.ts says the same, and memory_efficient serves D up to it and no further', () => {
    const max = native().buildInfo.maxHeadDim;
    assert.equal(max, 256);
    assert.equal(MAX_HEAD_DIM, max);
    const q = randn([1, 2, 1, max], { seed: freshSeed() });
    const out = attention(q, q, q);
    assert.deepEqual(out.shape, [1, 2, 1, max]);
    out.dispose();
    q.dispose();
    const wide = randn([1, 2, 1, max + 1], { seed: freshSeed() });
    assert.throws(() => attention(wide, wide, wide), { message: new RegExp(`head dim ${max + 1} is above ${max}`) });
    wide.dispose();
  });
});
