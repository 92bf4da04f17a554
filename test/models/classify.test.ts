import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildViT, classify, createModel, imagesToTensor, rand, softmax, tensor } from '../../ts/index';
import { DEVICES, describeDevice, skipWithoutSharp } from '../helpers';

const IMAGES = path.join(__dirname, '..', 'fixtures', 'images');
const files = ['gradient_61x47.png', 'checker_40x40.png', 'noise_33x50.png', 'gradient_70x52.jpg', 'checker_45x39.webp'].map((f) => path.join(IMAGES, f));

for (const device of DEVICES) {
  describeDevice(device, 'classify', () => {
    it('returns the top k of each image, best first, with softmax scores and labels', async () => {
      const model = buildViT({ img_size: 32, patch_size: 16, embed_dim: 24, depth: 1, num_heads: 2, num_classes: 6 }, { seed: 9, device });
      model.labels = ['a', 'b', 'c', 'd', 'e', 'f'];
      const x = rand([5, 3, 32, 32], { seed: 4, device });
      const results = await classify(model, x, { topk: 3 });
      const probs = softmax(model.forward(x)).dataSync();
      assert.equal(results.length, 5);
      results.forEach((top, b) => {
        assert.equal(top.length, 3);
        const row = Array.from(probs.subarray(b * 6, (b + 1) * 6));
        const order = row.map((p, i) => [p, i]).sort((p, q) => q[0] - p[0] || p[1] - q[1]).slice(0, 3);
        assert.deepEqual(top.map((r) => r.index), order.map((o) => o[1]));
        top.forEach((r) => { assert.equal(r.label, model.labels![r.index]); assert.equal(r.score, row[r.index]); });
      });
      const relabelled = await classify(model, x, { topk: 3, labels: ['u', 'v', 'w', 'x', 'y', 'z'] });
      assert.deepEqual(relabelled.map((t) => t.map((r) => r.index)), results.map((t) => t.map((r) => r.index)));
      assert.equal(relabelled[0][0].label, 'uvwxyz'[relabelled[0][0].index]);
      x.dispose();
      model.dispose();
    });

    it('bad arguments say what is wrong', async () => {
      const model = buildViT({ img_size: 32, patch_size: 16, embed_dim: 24, depth: 1, num_heads: 2, num_classes: 4 }, { device });
      const x = rand([1, 3, 32, 32], { seed: 5, device });
      await assert.rejects(classify(model, x, { topk: 5 }), /classify: options.topk 5 is more than the model's 4 classes/);
      await assert.rejects(classify(model, x, { labels: ['a'] }), /classify: 1 labels for 4 classes/);
      await assert.rejects(classify({} as never, x), /classify: expected model to be a VisionTransformer/);
      await assert.rejects(classify(model, tensor([1, 2], [2], { dtype: 'int32', device }) as never), /VisionTransformer.forward: images must be a float tensor/);
      model.dispose();
      await assert.rejects(classify(model, x), /classify: the model has been disposed/);
      x.dispose();
    });
  });
}

// Image files in: decoding is the host's (sharp), so these run on the CPU.
describe('classify from image files', () => {
  before(function () { skipWithoutSharp(this); });

  it('files give what their tensor from imagesToTensor gives', async () => {
    const model = buildViT({ img_size: 32, patch_size: 16, embed_dim: 24, depth: 1, num_heads: 2, num_classes: 6 }, { seed: 9 });
    model.preprocess = { input_size: [3, 32, 32], interpolation: 'bilinear', crop_pct: 0.9, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
    const fromFiles = await classify(model, files, { topk: 3 });
    const x = await imagesToTensor(files, model.preprocess);
    assert.deepEqual(await classify(model, x, { topk: 3 }), fromFiles);
    assert.equal(fromFiles.length, files.length);
    x.dispose();
    model.dispose();
  });

  it('a model by name classifies one image with its own preprocessing; labels default to the index', async () => {
    const model = await createModel('deit_tiny_patch16_224', { config: { depth: 1 } });
    const [top] = await classify(model, files[0]);
    assert.equal(top.length, 5);
    assert.ok(top.every((r) => r.label === String(r.index) && r.score > 0 && r.score < 1));
    assert.ok(top.every((r, i) => i === 0 || r.score <= top[i - 1].score));
    model.dispose();
  });
});
