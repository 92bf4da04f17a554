import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildViT, classify, createModel, imagesToTensor, softmax, tensor } from '../../ts/index';
import { DEVICES, describeDevice } from '../helpers';

const IMAGES = path.join(__dirname, '..', 'fixtures', 'images');
const files = ['gradient_61x47.png', 'checker_40x40.png', 'noise_33x50.png', 'gradient_70x52.jpg', 'checker_45x39.webp'].map((f) => path.join(IMAGES, f));

for (const device of DEVICES) {
  describeDevice(device, 'classify', () => {
    it('returns the top k of each image, best first, with softmax scores and labels', async () => {
      const model = buildViT({ img_size: 32, patch_size: 16, embed_dim: 24, depth: 1, num_heads: 2, num_classes: 6 }, { seed: 9, device });
      model.labels = ['a', 'b', 'c', 'd', 'e', 'f'];
      model.preprocess = { input_size: [3, 32, 32], interpolation: 'bilinear', crop_pct: 0.9, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
      const results = await classify(model, files, { topk: 3 });
      const x = await imagesToTensor(files, model.preprocess, { device });
      const probs = softmax(model.forward(x)).dataSync();
      assert.equal(results.length, files.length);
      results.forEach((top, b) => {
        assert.equal(top.length, 3);
        const row = Array.from(probs.subarray(b * 6, (b + 1) * 6));
        const order = row.map((p, i) => [p, i]).sort((p, q) => q[0] - p[0] || p[1] - q[1]).slice(0, 3);
        assert.deepEqual(top.map((r) => r.index), order.map((o) => o[1]));
        top.forEach((r) => { assert.equal(r.label, model.labels![r.index]); assert.equal(r.score, row[r.index]); });
      });
      const fromTensor = await classify(model, x, { topk: 3, labels: ['u', 'v', 'w', 'x', 'y', 'z'] });
      assert.deepEqual(fromTensor.map((t) => t.map((r) => r.index)), results.map((t) => t.map((r) => r.index)));
      assert.equal(fromTensor[0][0].label, 'uvwxyz'[fromTensor[0][0].index]);
      x.dispose();
      model.dispose();
    });

    it('a model by name classifies one image with its own preprocessing; labels default to the index', async () => {
      const model = await createModel('deit_tiny_patch16_224', { config: { depth: 1 }, device });
      const [top] = await classify(model, files[0]);
      assert.equal(top.length, 5);
      assert.ok(top.every((r) => r.label === String(r.index) && r.score > 0 && r.score < 1));
      assert.ok(top.every((r, i) => i === 0 || r.score <= top[i - 1].score));
      model.dispose();
    });

    it('bad arguments say what is wrong', async () => {
      const model = buildViT({ img_size: 32, patch_size: 16, embed_dim: 24, depth: 1, num_heads: 2, num_classes: 4 }, { device });
      await assert.rejects(classify(model, files[0], { topk: 5 }), /classify: options.topk 5 is more than the model's 4 classes/);
      await assert.rejects(classify(model, files[0], { labels: ['a'] }), /classify: 1 labels for 4 classes/);
      await assert.rejects(classify({} as never, files[0]), /classify: expected model to be a VisionTransformer/);
      await assert.rejects(classify(model, tensor([1, 2], [2], { dtype: 'int32', device }) as never), /VisionTransformer.forward: images must be a float tensor/);
      model.dispose();
      await assert.rejects(classify(model, files[0]), /classify: the model has been disposed/);
    });
  });
}
