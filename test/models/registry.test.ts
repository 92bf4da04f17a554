import * as assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { add, createModel, listModels, mul, slice, tensor, zeros } from '../../ts/index';
import { modelEntry } from '../../ts/models/registry';
import { Linear } from '../../ts/nn/layers';

describe('models by name (createModel, listModels)', () => {
  it("lists timm's registered ViT and DeiT configurations and the notebook ViT", () => {
    const names = listModels();
    for (const n of ['vit_tiny_patch16_224', 'vit_tiny_patch16_384', 'vit_small_patch32_384', 'vit_small_patch8_224', 'vit_base_patch8_224',
      'vit_large_patch14_224', 'vit_huge_patch14_224', 'deit_tiny_patch16_224', 'deit_base_patch16_384', 'deit_small_distilled_patch16_224',
      'deit_base_distilled_patch16_384', 'xformers_notebook_vit']) assert.ok(names.includes(n), n);
    assert.deepEqual(names, [...names].sort());
    assert.deepEqual(listModels('deit_base'), ['deit_base_distilled_patch16_224', 'deit_base_distilled_patch16_384', 'deit_base_patch16_224', 'deit_base_patch16_384']);
    assert.deepEqual(listModels(/^vit_huge/), ['vit_huge_patch14_224']);
    assert.throws(() => listModels(3 as never), /listModels: expected filter to be a string or RegExp/);
  });

  it('each registered configuration is consistent (sizes divide, widths split into heads) and timm-shaped', () => {
    for (const name of listModels()) {
      const { config, preprocess } = modelEntry('t', name);
      assert.equal((config.img_size ?? 224) % (config.patch_size ?? 16), 0, name);
      assert.equal((config.embed_dim ?? 768) % (config.num_heads ?? 12), 0, name);
      assert.deepEqual(preprocess.input_size, [3, config.img_size, config.img_size], name);
    }
    const base = modelEntry('t', 'vit_base_patch16_384');
    assert.deepEqual({ ...base.config }, { embed_dim: 768, depth: 12, num_heads: 12, patch_size: 16, img_size: 384 });
    assert.equal(base.preprocess.crop_pct, 1);
    assert.deepEqual(base.preprocess.mean, [0.5, 0.5, 0.5]);
    const deit = modelEntry('t', 'deit_small_patch16_224');
    assert.equal(deit.preprocess.crop_pct, 0.875);
    assert.deepEqual(deit.preprocess.std, [0.229, 0.224, 0.225]);
    assert.equal(modelEntry('t', 'xformers_notebook_vit').config.norm_eps, 1e-5);
    assert.equal(modelEntry('t', 'vit_large_patch16_224.augreg_in21k_ft_in1k').name, 'vit_large_patch16_224', 'a timm tag is ignored');
  });

  it('an unknown name says so and suggests near ones', async () => {
    await assert.rejects(createModel('vit_tiny_patch16_225'), /createModel: unknown model 'vit_tiny_patch16_225'; did you mean vit_tiny_patch16_224, vit_tiny_patch16_384\?/);
    await assert.rejects(createModel(42 as never), /createModel: expected name to be a model name/);
  });

  it('builds a model with random weights, its preprocessing set, and the options applied', async () => {
    const model = await createModel('vit_tiny_patch16_224', { config: { depth: 1, num_classes: 5 }, attention: { mechanism: 'vanilla' } });
    try {
      assert.equal(model.config.embed_dim, 192);
      assert.equal(model.config.norm_eps, 1e-6);
      assert.equal(model.config.attention.mechanism, 'vanilla');
      assert.equal(model.preprocess?.crop_pct, 0.9);
      const logits = model.forward(zeros([2, 3, 224, 224]));
      assert.deepEqual(logits.shape, [2, 5]);
      logits.dispose();
    } finally {
      model.dispose();
    }
  });

  it("a distilled DeiT has timm's dist_token and head_dist, and averages the two heads", async () => {
    const model = await createModel('deit_tiny_distilled_patch16_224', { config: { depth: 1, num_classes: 7, img_size: 32 }, seed: 3 });
    try {
      const names = [...model.parameters().keys()];
      assert.ok(names.includes('dist_token') && names.includes('head_dist.weight') && names.includes('head_dist.bias'));
      assert.deepEqual(model.parameters().get('pos_embed')!.shape, [1, 4 + 2, 192]);
      const x = tensor(Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i)), [2, 3, 32, 32]);
      const logits = model.forward(x);
      const feats = model.forwardFeatures(x);
      const head = (model as unknown as { head: Linear }).head, dist = model.headDist!;
      const want = mul(add(head.forward(slice(feats, 1, 0, 1).reshape([2, 192])), dist.forward(slice(feats, 1, 1, 2).reshape([2, 192]))), 0.5);
      assert.deepEqual(Array.from(logits.dataSync()), Array.from(want.dataSync()));
      for (const t of [x, logits, feats, want]) t.dispose();
      await assert.rejects(createModel('deit_tiny_distilled_patch16_224', { config: { global_pool: 'avg' } }), /distilled needs class_token true and global_pool 'token'/);
    } finally {
      model.dispose();
    }
  });
});

describe('model input checks', () => {
  it('forward refuses integer images, naming the preprocessing that makes a float tensor', async () => {
    const model = await createModel('vit_tiny_patch16_224', { config: { depth: 1, img_size: 32 } });
    try {
      for (const dtype of ['uint8', 'int32'] as const) {
        const x = zeros([1, 3, 32, 32], { dtype });
        assert.throws(() => model.forward(x), (e: Error) => e instanceof TypeError &&
          new RegExp(`VisionTransformer.forward: images must be a float tensor \\(normalized pixels\\), got ${dtype}: imagesToTensor`).test(e.message));
        assert.throws(() => model.forwardFeatures(x), /forwardFeatures: images must be a float tensor/);
        x.dispose();
      }
    } finally {
      model.dispose();
    }
  });

  it('console.log of a model shows its configuration and parameter count, not its weights', async () => {
    const model = await createModel('deit_tiny_distilled_patch16_224', { config: { depth: 1, img_size: 32, num_classes: 3 } });
    const count = [...model.parameters().values()].reduce((n, t) => n + t.size, 0);
    assert.equal(inspect(model), `VisionTransformer(img_size=32, patch_size=16, embed_dim=192, depth=1, num_heads=3, num_classes=3, distilled, ` +
      `attention=memory_efficient, ${count} parameters, float32 on cpu)`);
    model.dispose();
    assert.equal(inspect(model), 'VisionTransformer(<disposed>)');
  });

  it('a disposed model says so', async () => {
    const model = await createModel('vit_tiny_patch16_224', { config: { depth: 1, img_size: 32 } });
    model.dispose();
    assert.equal(model.disposed, true);
    const x = zeros([1, 3, 32, 32]);
    assert.throws(() => model.forward(x), /^Error: VisionTransformer.forward: the model has been disposed$/);
    assert.throws(() => model.embed(x), /the model has been disposed/);
    x.dispose();
  });
});
