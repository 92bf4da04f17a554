// The ViT's dropouts, as timm places them: drop_rate before the head, pos_drop_rate after the
// position embedding, proj_drop_rate after the attention projection and in the MLP,
// attn_drop_rate on the probabilities (vanilla only; the others refuse it by name),
// drop_path_rate per block linearly from 0; only in training, never in the fused block.
import * as assert from 'node:assert/strict';
import {
  add, attention, buildViT, dropout, dropPath, EncoderBlock, gradcheck, layerNorm, linear, manualSeed, MLP, noGrad, randn, splitQkv,
  Tensor, tidy, VisionTransformer,
} from '../ts/index';
import { DEVICES, describeDevice } from './helpers';

const host = (t: Tensor) => Array.from(t.dataSync() as Float32Array);

const SMALL = { img_size: 32, patch_size: 8, embed_dim: 24, depth: 3, num_heads: 2, num_classes: 5 };
const RATES = { drop_rate: 0.2, pos_drop_rate: 0.1, proj_drop_rate: 0.15, attn_drop_rate: 0.25, drop_path_rate: 0.3 };

/** model's forward of images, in a scope. */
function run(model: VisionTransformer, images: Tensor): number[] {
  return tidy(() => host(model.forward(images)));
}

for (const device of DEVICES) {
  describeDevice(device, 'ViT dropout', () => {
    let model: VisionTransformer;
    let plain: VisionTransformer;
    let images: Tensor;
    before(() => {
      model = buildViT({ ...SMALL, ...RATES, attention: { mechanism: 'vanilla' } }, { device, seed: 3 });
      plain = buildViT({ ...SMALL, attention: { mechanism: 'vanilla' } }, { device, seed: 4 });
      plain.loadStateDict(model.parameters());
      images = randn([4, 3, 32, 32], { device, seed: 5 });
    });
    after(() => {
      model?.dispose();
      plain?.dispose();
      images?.dispose();
    });

    it('stochastic depth rises linearly over the blocks from 0 to drop_path_rate; the rates reach their modules', () => {
      assert.deepEqual(model.blocks.map((b) => b.dropPathRate), [0, 0.15, 0.3]);
      for (const b of model.blocks) {
        assert.equal(b.attn.attnDrop, 0.25);
        assert.equal(b.attn.projDrop, 0.15);
        assert.equal(b.mlp.drop, 0.15);
      }
      const one = buildViT({ ...SMALL, depth: 1, drop_path_rate: 0.5 }, { device });
      assert.deepEqual(one.blocks.map((b) => b.dropPathRate), [0], 'one block: linspace(0, r, 1) = [0]');
      one.dispose();
    });

    it('eval(): every dropout is the identity (the output of the same weights without rates), and nothing is drawn', () => {
      model.eval();
      manualSeed(1);
      const out = run(model, images);
      assert.deepEqual(out, run(plain.eval(), images));
      manualSeed(1);
      model.train().eval();
      assert.deepEqual(run(model, images), out, 'no generator state read');
    });

    it('train(): the output changes with the draws, and manualSeed repeats it exactly', () => {
      model.train();
      manualSeed(7);
      const a = run(model, images);
      const b = run(model, images);
      assert.notDeepEqual(a, b);
      manualSeed(7);
      assert.deepEqual(run(model, images), a);
      assert.deepEqual(run(model, images), b);
      model.eval();
      assert.notDeepEqual(a, run(model, images));
    });

    for (const dp of [0.4, 0]) it(`a training block is timm's: x + dropPath(projDrop(proj(attention with attnDrop))), then + dropPath(drop(fc2(drop(act(fc1))))), drop path ${dp}`, () => {
      // drop path 0 takes the path that adds each branch in its last GEMM or in place; 0.4 the one that drops the branch first.
      const block = new EncoderBlock(16, 2, { device, seed: 9, attention: { mechanism: 'vanilla' }, attnDrop: 0.2, projDrop: 0.3, dropPath: dp, mlpRatio: 2 });
      const x = randn([3, 5, 16], { device, seed: 10 });
      block.train();
      assert.equal(block.forwardFused(x), null);
      manualSeed(11);
      const got = tidy(() => host(block.forward(x)));
      manualSeed(11);
      const want = tidy(() => {
        const { norm1, attn, norm2, mlp } = block;
        const qkv = linear(layerNorm(x, norm1.weight, norm1.bias, norm1.eps), attn.qkv!.weight, attn.qkv!.bias).reshape([3, 5, 3, 2, 8]);
        const { q, k, v } = splitQkv(qkv);
        const o = attention(q, k, v, { mechanism: 'vanilla', dropout: 0.2 }).reshape([3, 5, 16]);
        const mid = add(x, dropPath(dropout(linear(o, attn.proj.weight, attn.proj.bias), 0.3), dp));
        const h = dropout(linear(layerNorm(mid, norm2.weight, norm2.bias, norm2.eps), mlp.fc1.weight, mlp.fc1.bias, { activation: mlp.activation }), 0.3);
        return host(add(mid, dropPath(dropout(linear(h, mlp.fc2.weight, mlp.fc2.bias), 0.3), dp)));
      });
      assert.deepEqual(got, want);
      block.dispose();
      x.dispose();
    });

    it('the fused block serves an eval()ed block with rates and a training block without them, and no training block with one', () => {
      const x = randn([2, 5, 16], { device, seed: 12 });
      for (const rates of [{ dropPath: 0.1 }, { projDrop: 0.1 }, { attnDrop: 0.1, attention: { mechanism: 'vanilla' } }]) {
        const block = new EncoderBlock(16, 2, { device, seed: 13, ...rates });
        block.train();
        assert.equal(block.forwardFused(x), null, JSON.stringify(rates));
        block.eval();
        const fused = noGrad(() => block.forwardFused(x)); // as forward() runs it in eval mode: recording nothing
        if (!('attention' in rates)) assert.notEqual(fused, null, `eval ${JSON.stringify(rates)}`); // vanilla offers no block plan
        fused?.dispose();
        block.dispose();
      }
      const free = new EncoderBlock(16, 2, { device, seed: 14 }).train().requiresGrad_(false); // training mode, frozen: nothing records
      const fused = free.forwardFused(x);
      assert.notEqual(fused, null);
      fused?.dispose();
      free.dispose();
      x.dispose();
    });

    it('attn_drop_rate in training with a mechanism that never holds the probabilities throws naming it; eval() runs', () => {
      const me = buildViT({ ...SMALL, attn_drop_rate: 0.1 }, { device, seed: 15 });
      me.train();
      assert.throws(() => me.forward(images), /attn_drop_rate \(attnDrop\) = 0.1 needs the attention probabilities, which mechanism 'memory_efficient' never materializes; train with attention mechanism 'vanilla'/);
      me.eval();
      tidy(() => me.forward(images));
      me.dispose();
    });

    it('capture() refuses a training model with dropout', () => {
      model.train();
      assert.throws(() => model.capture([4, 3, 32, 32]), /VisionTransformer.capture: dropout is active/);
      model.eval();
    });
  });
}

describe('ViT dropout: configuration and gradients', () => {
  it('refuses a rate outside [0, 1], naming its key', () => {
    for (const key of Object.keys(RATES)) {
      assert.throws(() => buildViT({ ...SMALL, [key]: 1.5 }), new RegExp(`VisionTransformer: expected config.${key} to be a probability in \\[0, 1\\]`));
    }
    assert.throws(() => new MLP(4, 8, 'gelu', { drop: -1 }), /MLP: expected drop to be a probability/);
  });

  it('gradcheck through a training MLP with drop 0.3 (CPU, the same draws each evaluation)', () => {
    const mlp = new MLP(6, 10, 'gelu', { drop: 0.3, seed: 16 }).train();
    const x = randn([2, 3, 6], { seed: 17 }).requiresGrad_();
    assert.equal(gradcheck((a) => { manualSeed(18); return mlp.forward(a); }, [x]), true);
    x.dispose();
    mlp.dispose();
  });

  it('gradcheck through a pre-norm MLP branch with drop path and its residual, as a training block adds it (CPU)', () => {
    const block = new EncoderBlock(8, 2, { seed: 19, dropPath: 0.5, projDrop: 0.2 }).train();
    const x = randn([4, 3, 8], { seed: 20 }).requiresGrad_();
    const { norm2, mlp } = block;
    const branch = (a: Tensor) => {
      manualSeed(21);
      return add(a, dropPath(mlp.forward(layerNorm(a, norm2.weight, norm2.bias, norm2.eps)), block.dropPathRate));
    };
    assert.equal(gradcheck(branch, [x]), true);
    x.dispose();
    block.dispose();
  });
});
