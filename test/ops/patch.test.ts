import * as assert from 'node:assert/strict';
import { Device, empty, FLOAT_DTYPES, FloatDType, patchEmbed, randn, tensor } from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, poisoned, host } from '../helpers';
import { patchEmbedRef } from '../reference';

interface Case { B: number; C: number; H: number; W: number; P: number; E: number; bias?: boolean; strided?: boolean }

function check(device: Device, dtype: FloatDType, c: Case): void {
  const seed = freshSeed();
  const K = c.C * c.P * c.P;
  // images [B, C, H, W], either contiguous or as a permuted view of [B, H, W, C] (channels-last).
  const stored = c.strided ? [c.B, c.H, c.W, c.C] : [c.B, c.C, c.H, c.W];
  const base = randn(stored, { dtype, device, seed });
  const images = c.strided ? base.permute([0, 3, 1, 2]) : base;
  const weight = tensor(randn([c.E, c.C, c.P, c.P], { seed: seed + 1 }).dataSync().map((v) => v / Math.sqrt(K)), [c.E, c.C, c.P, c.P], { dtype, device });
  const bias = c.bias === false ? null : randn([c.E], { dtype, device, seed: seed + 2 });
  const patches = (c.H / c.P) * (c.W / c.P);
  const out = poisoned([c.B, patches, c.E], dtype, device);
  assert.equal(patchEmbed(images, weight, bias, c.P, { out }), out);
  const ref = patchEmbedRef(host(images), [c.B, c.C, c.H, c.W], host(weight), c.E, bias && host(bias), c.P);
  assertClose(host(out), ref, TOLERANCE[dtype], `patchEmbed ${JSON.stringify(c)} ${dtype} seed ${seed}`);
  for (const t of [base, images, weight, bias, out]) t?.dispose();
}

for (const device of DEVICES) {
  describeDevice(device, 'patchEmbed', () => {
    for (const dtype of FLOAT_DTYPES) {
      it(`patchEmbed matches a float64 direct convolution at B=2, C=3, 32x32, P=16, E=96, ${dtype}`, () => {
        check(device, dtype, { B: 2, C: 3, H: 32, W: 32, P: 16, E: 96 });
      });
      it(`patchEmbed matches float64 on non-square images without bias (B=1, C=1, 8x12, P=4, E=5), ${dtype}`, () => {
        check(device, dtype, { B: 1, C: 1, H: 8, W: 12, P: 4, E: 5, bias: false });
      });
      it(`patchEmbed matches float64 at P=1 (a 1x1 convolution) and on channels-last (strided) images, ${dtype}`, () => {
        check(device, dtype, { B: 2, C: 2, H: 3, W: 5, P: 1, E: 7 });
        check(device, dtype, { B: 2, C: 3, H: 32, W: 48, P: 16, E: 12, strided: true });
      });
      it(`patchEmbed matches float64 when the batch is gathered in chunks (B=29, C=3, 224x224, P=16, E=8: 4.4M patch elements), ${dtype}`, () => {
        check(device, dtype, { B: 29, C: 3, H: 224, W: 224, P: 16, E: 8 });
      });
      it(`patchEmbed allocates [B, patches, E] without out, and handles B = 0, ${dtype}`, () => {
        const images = randn([1, 3, 16, 16], { dtype, device });
        const weight = randn([8, 3, 8, 8], { dtype, device });
        const y = patchEmbed(images, weight, null, 8);
        assert.deepEqual(y.shape, [1, 4, 8]);
        assert.equal(y.isContiguous, true);
        assert.equal(y.dtype, dtype);
        assertClose(host(y), patchEmbedRef(host(images), [1, 3, 16, 16], host(weight), 8, null, 8), TOLERANCE[dtype]);
        const none = patchEmbed(empty([0, 3, 16, 16], { dtype, device }), weight, null, 8);
        assert.deepEqual(none.shape, [0, 4, 8]);
        for (const t of [images, weight, y, none]) t.dispose();
      });
    }
  });
}

describe('patchEmbed argument errors', () => {
  const images = randn([2, 3, 32, 32]);
  const weight = randn([96, 3, 16, 16]);
  it('rejects wrong ranks, image sizes that are not multiples of the patch, and mismatched weights', () => {
    assert.throws(() => patchEmbed(randn([3, 32, 32]), weight, null, 16), { name: 'RangeError', message: /^patchEmbed: images must be \[B, C, H, W\], got \[3, 32, 32\]/ });
    assert.throws(() => patchEmbed(randn([2, 3, 32, 30]), weight, null, 16), { name: 'RangeError', message: /^patchEmbed: images \[2, 3, 32, 30\]: H and W must be multiples of the patch size 16/ });
    assert.throws(() => patchEmbed(images, randn([96, 4, 16, 16]), null, 16), { name: 'RangeError', message: /^patchEmbed: weight must be \[E, 3, 16, 16\] for images \[2, 3, 32, 32\] and patch 16, got \[96, 4, 16, 16\]/ });
    assert.throws(() => patchEmbed(images, weight, null, 8), { name: 'RangeError', message: /^patchEmbed: weight must be \[E, 3, 8, 8\]/ });
    assert.throws(() => patchEmbed(images, weight, randn([95]), 16), { name: 'RangeError', message: /^patchEmbed: bias must be \[96\] to match weight/ });
  });
  it('rejects bad patch sizes, dtype mismatches, disposed tensors and a bad out', () => {
    assert.throws(() => patchEmbed(images, weight, null, 0), { name: 'RangeError', message: /^patchEmbed: patch must be at least 1, got 0/ });
    assert.throws(() => patchEmbed(images, weight, null, 2.5), { name: 'TypeError', message: /^patchEmbed: expected patch to be an integer/ });
    assert.throws(() => patchEmbed(images, randn([96, 3, 16, 16], { dtype: 'float16' }), null, 16), { name: 'TypeError', message: /^patchEmbed: expected weight to be a float32 tensor like images/ });
    assert.throws(() => patchEmbed(tensor(new Uint8Array(12), [1, 3, 2, 2]), weight, null, 16), { name: 'TypeError', message: /^patchEmbed: expected images to be a float32, float16 or bfloat16 tensor/ });
    const d = randn([96]);
    d.dispose();
    assert.throws(() => patchEmbed(images, weight, d, 16), { name: 'TypeError', message: /^patchEmbed: bias has been disposed/ });
    assert.throws(() => patchEmbed(images, weight, null, 16, { out: empty([2, 4, 95]) }), { name: 'RangeError', message: /^patchEmbed: options.out must have shape \[2, 4, 96\]/ });
  });
});

describeDevice('cuda:0', 'patchEmbed device mismatch', () => {
  it('rejects a weight, bias or out on another device', () => {
    const images = randn([1, 3, 32, 32], { device: 'cuda:0' });
    const weight = randn([8, 3, 16, 16], { device: 'cuda:0' });
    assert.throws(() => patchEmbed(images, randn([8, 3, 16, 16]), null, 16), { name: 'TypeError', message: /^patchEmbed: expected weight to be on cuda:0 like images/ });
    assert.throws(() => patchEmbed(images, weight, randn([8]), 16), { name: 'TypeError', message: /^patchEmbed: expected bias to be on cuda:0 like weight/ });
    assert.throws(() => patchEmbed(images, weight, null, 16, { out: empty([1, 4, 8]) }), { name: 'TypeError', message: /^patchEmbed: expected options.out to be on cuda:0/ });
    images.dispose();
    weight.dispose();
  });
});
