// Modules as a training loop uses them: namedParameters, requiresGrad_, train() making the
// parameters trainable the first time (freezes stay), requiresGrad and gradients carried
// through to(), cast() and loadStateDict(), an eval-mode forward that keeps no tape, and the
// ViT's class token and position embedding receiving their gradients.
import * as assert from 'node:assert/strict';
import { backward, buildViT, Linear, LayerNorm, MLP, randn, Tensor, zeros } from '../ts/index';
import { liveGradNodes } from '../ts/autograd/graph';
import { DEVICES, assertClose, describeDevice, host } from './helpers';

const TINY = { img_size: 16, patch_size: 8, embed_dim: 8, depth: 2, num_heads: 2, mlp_ratio: 2, num_classes: 3 } as const;

describe('Module: parameters for training', () => {
  it('namedParameters() yields [name, tensor] pairs in the order of parameters()', () => {
    const mlp = new MLP(4, 6);
    const named = [...mlp.namedParameters()];
    assert.deepEqual(named.map(([n]) => n), ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    assert.deepEqual(named, [...mlp.parameters()]);
    assert.deepEqual([...mlp.namedParameters('mlp.')].map(([n]) => n)[0], 'mlp.fc1.weight');
    mlp.dispose();
  });

  it('parameters require no grad until the first train(); train() marks them all, eval() keeps them', () => {
    const model = buildViT(TINY);
    const all = () => [...model.parameters().values()];
    assert.ok(all().every((t) => !t.requiresGrad));
    assert.equal(model.train(), model);
    assert.ok(all().every((t) => t.requiresGrad && t.isLeaf));
    model.eval();
    assert.equal(model.training, false);
    assert.ok(all().every((t) => t.requiresGrad));
    model.dispose();
  });

  it('freezes stay: a parameter frozen after train(), and a module frozen by requiresGrad_(false) before it', () => {
    const model = buildViT(TINY);
    model.patch_embed.requiresGrad_(false);
    model.train();
    const head = model.head!.weight;
    head.requiresGrad_(false);
    model.eval().train();
    assert.equal(head.requiresGrad, false);
    assert.equal(model.patch_embed.proj.weight.requiresGrad, false);
    assert.equal(model.blocks[1].mlp.fc2.bias!.requiresGrad, true);
    assert.equal(model.requiresGrad_(false), model);
    assert.ok([...model.parameters().values()].every((t) => !t.requiresGrad));
    assert.throws(() => model.train('yes' as never), /^TypeError: train: expected mode to be a boolean/);
    model.dispose();
  });

  it('to(), cast() and loadStateDict() carry requiresGrad and the gradient over to the new tensors', () => {
    const lin = new Linear(3, 2);
    lin.train();
    backward(lin.forward(randn([4, 3], { seed: 1 })), randn([4, 2], { seed: 2 }));
    const grad = host(lin.weight.grad!);
    lin.to('cpu');
    assert.equal(lin.weight.requiresGrad, true);
    assert.deepEqual(host(lin.weight.grad!), grad, 'to(): the same gradient');
    lin.cast('float16');
    assert.equal(lin.weight.dtype, 'float16');
    assert.equal(lin.weight.grad!.dtype, 'float16');
    assert.ok(lin.weight.isLeaf && lin.weight.requiresGrad);
    assertClose(host(lin.weight.grad!), grad, 1e-3, 'cast(): the gradient cast too');
    lin.bias!.requiresGrad_(false);
    lin.loadStateDict(new Map([['weight', randn([2, 3], { seed: 3 })], ['bias', zeros([2])]]));
    assert.equal(lin.weight.requiresGrad, true);
    assert.equal(lin.bias!.requiresGrad, false);
    assertClose(host(lin.weight.grad!), grad, 1e-3, 'loadStateDict(): the gradient kept');
    lin.dispose();
  });
});

for (const device of DEVICES) {
  describeDevice(device, 'Module: eval mode records nothing', () => {
    it('a ViT in eval mode whose parameters require grad keeps no tape through its forward and gives the same logits', () => {
      const model = buildViT(TINY, { device, seed: 5 });
      const images = randn([2, 3, 16, 16], { device, seed: 6 });
      const reference = model.forward(images);
      model.train().eval();
      const before = liveGradNodes();
      const logits = model.forward(images);
      assert.equal(liveGradNodes(), before, 'no tape node made or kept');
      assert.equal(logits.requiresGrad, false);
      assertClose(host(logits), host(reference), 1e-6, 'the same values as before train()');
      for (const t of [images, reference, logits]) t.dispose();
      model.dispose();
    });

    it('layers in eval mode record nothing on plain inputs, but pass gradients on when the input requires grad', () => {
      const norm = new LayerNorm(4, 1e-5, { device });
      const mlp = new MLP(4, 8, 'gelu', { device });
      norm.train().eval();
      mlp.train().eval();
      const x = randn([3, 4], { device, seed: 7 });
      const before = liveGradNodes();
      const y = mlp.forward(norm.forward(x));
      assert.equal(liveGradNodes(), before);
      x.requiresGrad_();
      const z = mlp.forward(norm.forward(x));
      assert.ok(liveGradNodes() > before, 'recorded: the input requires grad');
      backward(z, randn([3, 4], { device, seed: 8 }));
      assert.ok(x.grad !== null && norm.weight.grad !== null && mlp.fc1.weight.grad !== null);
      for (const t of [x, y, z] as Tensor[]) t.dispose();
      norm.dispose();
      mlp.dispose();
    });

    it('in training mode the ViT embedding gives the class token Σ over the batch and the position embedding Σ over the batch', () => {
      const model = buildViT(TINY, { device, seed: 9 }).train();
      const images = randn([3, 3, 16, 16], { device, seed: 10 });
      const tokens = model.embed(images);
      assert.deepEqual(tokens.shape, [3, 5, 8]);
      const g = randn([3, 5, 8], { device, seed: 11 });
      backward(tokens, g);
      const hg = host(g);
      const cls = new Float64Array(8);
      const pos = new Float64Array(40);
      for (let b = 0; b < 3; b++) {
        for (let e = 0; e < 8; e++) cls[e] += hg[b * 40 + e];
        for (let i = 0; i < 40; i++) pos[i] += hg[b * 40 + i];
      }
      assertClose(host(model.parameters().get('cls_token')!.grad!), cls, 1e-6, 'cls_token');
      assertClose(host(model.parameters().get('pos_embed')!.grad!), pos, 1e-6, 'pos_embed');
      assert.ok(model.patch_embed.proj.weight.grad !== null);
      for (const t of [images, tokens, g]) t.dispose();
      model.dispose();
    });
  });
}
