// patchEmbed's gradients (the weight's and bias's through the GEMM, the images' through the
// patch scatter) against float64, on every device and dtype; the native scatter itself as the
// exact inverse of the gather; CUDA against the CPU.
import * as assert from 'node:assert/strict';
import { backward, Device, empty, FLOAT_DTYPES, FloatDType, patchEmbed, randn, Tensor, tensor } from '../../ts/index';
import { native } from '../../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, poisoned } from '../helpers';
import { patchEmbedBackwardRef } from '../training_reference';

interface Case { B: number; C: number; H: number; W: number; P: number; E: number; bias?: boolean; strided?: boolean }

interface Grads { dimages: Float32Array; dweight: Float32Array; dbias: Float32Array | null }

/** patchEmbed's gradients on `device` for inputs drawn from `seed` (the same values on every device). */
function grads(device: Device, dtype: FloatDType, c: Case, seed: number): { got: Grads; inputs: { images: Float32Array; weight: Float32Array; g: Float32Array } } {
  const K = c.C * c.P * c.P;
  const patches = (c.H / c.P) * (c.W / c.P);
  const stored = c.strided ? [c.B, c.H, c.W, c.C] : [c.B, c.C, c.H, c.W];
  const base = randn(stored, { dtype, device, seed }).requiresGrad_();
  const images = c.strided ? base.permute([0, 3, 1, 2]) : base;
  const weight = tensor(randn([c.E, c.C, c.P, c.P], { seed: seed + 1 }).dataSync().map((v) => v / Math.sqrt(K)), [c.E, c.C, c.P, c.P], { dtype, device }).requiresGrad_();
  const bias = c.bias === false ? null : randn([c.E], { dtype, device, seed: seed + 2 }).requiresGrad_();
  const g = randn([c.B, patches, c.E], { dtype, device, seed: seed + 3 });
  backward(patchEmbed(images, weight, bias, c.P), g);
  const imagesHost = host(images);
  const dimagesView = c.strided ? base.grad!.permute([0, 3, 1, 2]) : base.grad!;
  const got = { dimages: host(dimagesView), dweight: host(weight.grad!), dbias: bias ? host(bias.grad!) : null };
  const inputs = { images: imagesHost, weight: host(weight), g: host(g) };
  for (const t of [base, images, weight, bias, g, dimagesView]) t?.dispose();
  return { got, inputs };
}

function check(device: Device, dtype: FloatDType, c: Case): void {
  const seed = freshSeed();
  const { got, inputs } = grads(device, dtype, c, seed);
  const ref = patchEmbedBackwardRef(inputs.g, inputs.images, [c.B, c.C, c.H, c.W], inputs.weight, c.E, c.P);
  const label = `patchEmbed backward ${JSON.stringify(c)} ${dtype} seed ${seed}`;
  assertClose(got.dimages, ref.dimages, TOLERANCE[dtype], `${label} dimages`);
  assertClose(got.dweight, ref.dweight, TOLERANCE[dtype], `${label} dweight`);
  if (got.dbias) assertClose(got.dbias, ref.dbias, TOLERANCE[dtype], `${label} dbias`);
}

for (const device of DEVICES) {
  describeDevice(device, 'patchEmbed backward', () => {
    for (const dtype of FLOAT_DTYPES) {
      it(`the images, weight and bias gradients match float64 at B=2, C=3, 8x12, P=4, E=5 and at P=1, ${dtype}`, () => {
        check(device, dtype, { B: 2, C: 3, H: 8, W: 12, P: 4, E: 5 });
        check(device, dtype, { B: 2, C: 2, H: 3, W: 5, P: 1, E: 7, bias: false });
      });
      it(`the gradients match float64 for channels-last (strided) images and at P=16, E=96, ${dtype}`, () => {
        check(device, dtype, { B: 2, C: 3, H: 32, W: 48, P: 16, E: 12, strided: true });
        check(device, dtype, { B: 1, C: 3, H: 32, W: 32, P: 16, E: 96 });
      });
      it(`patchScatter is the exact inverse of patchGather and writes every element, ${dtype} patches into float32 and ${dtype} images`, () => {
        const images = randn([3, 2, 12, 8], { dtype, device, seed: freshSeed() });
        const patches = empty([3, 6, 2 * 16], { dtype, device });
        native().patchGather(patches, images, 4);
        for (const into of ['float32', dtype] as const) {
          const back = poisoned([3, 2, 12, 8], into, device);
          native().patchScatter(back, patches, 4);
          assert.deepEqual(host(back), host(images), `scatter into ${into}`);
          back.dispose();
        }
        for (const t of [images, patches]) t.dispose();
      });
    }
    it('the weight gradient sums over the chunks of a batch gathered in parts (B=29, C=3, 224x224, P=16, E=8), float32', () => {
      check(device, 'float32', { B: 29, C: 3, H: 224, W: 224, P: 16, E: 8 });
    });
    it('an empty batch gives zero weight and bias gradients and an empty images gradient', () => {
      const images = empty([0, 3, 8, 8], { device }).requiresGrad_();
      const weight = randn([4, 3, 4, 4], { device }).requiresGrad_();
      const bias = randn([4], { device }).requiresGrad_();
      backward(patchEmbed(images, weight, bias, 4), empty([0, 4, 4], { device }));
      assert.deepEqual(images.grad!.shape, [0, 3, 8, 8]);
      assert.deepEqual([...host(weight.grad!)], new Array(4 * 48).fill(0));
      assert.deepEqual([...host(bias.grad!)], [0, 0, 0, 0]);
      for (const t of [images, weight, bias]) t.dispose();
    });
  });
}

describeDevice('cuda:0', 'patchEmbed backward, CUDA against the CPU', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`the gradients on CUDA match the CPU's at the notebook's shape (B=4, C=3, 224x224, P=16, E=96), ${dtype}`, () => {
      const c: Case = { B: 4, C: 3, H: 224, W: 224, P: 16, E: 96 };
      const seed = freshSeed();
      const cuda = grads('cuda:0', dtype, c, seed).got;
      const cpu = grads('cpu', dtype, c, seed).got;
      for (const k of ['dimages', 'dweight', 'dbias'] as const) assertClose(cuda[k]!, cpu[k]!, TOLERANCE[dtype], `${k} ${dtype} seed ${seed}`);
    });
  }
});

describe('patchScatter argument errors', () => {
  it('the addon refuses patches of the wrong shape, an image size that is not a multiple of the patch, and overlap', () => {
    const images = empty([1, 3, 8, 8]);
    assert.throws(() => native().patchScatter(images, empty([1, 4, 47]), 4), /^TypeError: patchScatter: patches must be \[B, patches, C \* P \* P\]/);
    assert.throws(() => native().patchScatter(empty([1, 3, 8, 6]), empty([1, 4, 48]), 4), /^TypeError: patchScatter: image size must be a multiple of the patch/);
    const shared = empty([2 * 192]);
    const a = shared._view([1, 3, 8, 8], [192, 64, 8, 1], 0);
    const b = shared._view([1, 4, 48], [192, 48, 1], 100);
    assert.throws(() => native().patchScatter(a, b, 4), /^TypeError: patchScatter: images must not overlap patches/);
    for (const t of [images, shared, a, b] as Tensor[]) t.dispose();
  });
});
