// Mechanisms with a module of their own (AttentionMechanism.createModule): made per layer
// with the layer's geometry, their parameters named under "attn.attention.", trained through
// the tape; one that takes the tokens drops the layer's qkv projection; setting the
// attention again replaces the module.
import * as assert from 'node:assert/strict';
import {
  attention, AttentionModule, buildViT, builtInAttentionMechanisms, crossEntropy, MechanismGeometry, mul, randn, registerAttention, splitQkv, Tensor, tensor, tidy,
} from '../ts/index';
import type { AttentionConfig, InitOptions } from '../ts/nn/layers';

/** q, k, v -> attention(q, k, v) · gain: one learned scalar, to see its gradient. */
class GainedAttention extends AttentionModule {
  readonly input = 'qkv';
  constructor(geometry: MechanismGeometry, o: InitOptions) {
    super(geometry);
    this.param('gain', tensor([1.5], [1], { device: o.device }));
  }
  forwardHeads(q: Tensor, k: Tensor, v: Tensor): Tensor {
    return mul(attention(q, k, v), this.get('gain'));
  }
}

/** x -> x · w (per channel): a token mixer that needs no qkv projection. */
class ChannelScale extends AttentionModule {
  readonly input = 'tokens';
  constructor(geometry: MechanismGeometry, o: InitOptions) {
    super(geometry);
    this.param('weight', tensor(new Float32Array(geometry.dim).fill(0.5), [geometry.dim], { device: o.device }));
  }
  forwardTokens(x: Tensor, options: AttentionConfig): Tensor {
    seen.push(options);
    return mul(x, this.get('weight'));
  }
}

const geometries: MechanismGeometry[] = [];
const seen: AttentionConfig[] = [];
const moduleOnly = (name: string) => ({
  notSupportedReasons: () => [],
  forward: () => { throw new Error(`${name} works as a module only`); },
});
registerAttention('test_gained', {
  ...moduleOnly('test_gained'),
  createModule: (fn, options, g, o) => {
    if (options.bad !== undefined) throw new RangeError(`${fn}: test_gained takes no option 'bad'`);
    geometries.push(g);
    return new GainedAttention(g, o);
  },
});
registerAttention('test_scale', { ...moduleOnly('test_scale'), createModule: (_fn, _o, g, o) => new ChannelScale(g, o) });

const SMALL = { img_size: 32, patch_size: 8, embed_dim: 24, depth: 2, num_heads: 2, num_classes: 5 };

describe('attention mechanisms with a module', () => {
  it('each layer gets a module made for its geometry, its parameters named under attn.attention', () => {
    geometries.length = 0;
    const model = buildViT({ ...SMALL, attention: { mechanism: 'test_gained' } }, { seed: 1 });
    assert.equal(geometries.length, 2);
    assert.deepEqual(geometries[0], { tokens: 17, grid: { height: 4, width: 4, prefixTokens: 1 }, dim: 24, heads: 2 });
    const names = [...model.parameters().keys()];
    assert.ok(names.includes('blocks.0.attn.attention.gain') && names.includes('blocks.1.attn.attention.gain'));
    assert.ok(names.includes('blocks.0.attn.qkv.weight'));
    model.dispose();
  });

  it('the module computes the attention, and its parameters train', () => {
    const model = buildViT({ ...SMALL, attention: { mechanism: 'test_gained' } }, { seed: 2 });
    const attn = model.blocks[0].attn;
    const tokens = randn([2, 17, 24], { seed: 3 });
    const got = tidy(() => Array.from(attn.forward(tokens).dataSync() as Float32Array));
    const want = tidy(() => {
      const { q, k, v } = splitQkv(attn.qkv!.forward(tokens).reshape([2, 17, 3, 2, 12]));
      return Array.from(attn.proj.forward(mul(attention(q, k, v), 1.5).reshape([2, 17, 24])).dataSync() as Float32Array);
    });
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `element ${i}: ${v} against ${want[i]}`));
    model.train();
    const x = randn([2, 3, 32, 32], { seed: 4 });
    const labels = tensor(new Int32Array([1, 4]), [2], { dtype: 'int32' });
    tidy(() => crossEntropy(model.forward(x), labels).backward());
    const gain = model.parameters().get('blocks.0.attn.attention.gain')!;
    const g = gain.grad?.dataSync()[0];
    assert.ok(g !== undefined && Number.isFinite(g) && g !== 0, `gain gets a gradient (${g})`);
    for (const t of [x, labels, tokens]) t.dispose();
    model.dispose();
  });

  it('a module that takes the tokens drops the qkv projection; setting another mechanism makes it again', () => {
    const model = buildViT({ ...SMALL, attention: { mechanism: 'test_scale', window: 3 } }, { seed: 4 });
    const names = () => [...model.parameters().keys()];
    assert.ok(!names().some((n) => n.includes('qkv')), 'no qkv parameters');
    assert.ok(names().includes('blocks.1.attn.attention.weight'));
    seen.length = 0;
    const x = randn([1, 3, 32, 32], { seed: 5 });
    // The block: x + proj(x_norm · w), then the MLP: compare block 0's attention branch by hand.
    const block = model.blocks[0];
    const tokens = randn([1, 17, 24], { seed: 6 });
    const got = tidy(() => Array.from(block.attn.forward(tokens).dataSync() as Float32Array));
    const want = tidy(() => Array.from(block.attn.proj.forward(mul(tokens, 0.5)).dataSync() as Float32Array));
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-6 * (1 + Math.abs(want[i])), `element ${i}`));
    assert.deepEqual(seen[0], { mechanism: 'test_scale', window: 3 });
    tidy(() => model.forward(x));
    model.setAttention({ mechanism: 'memory_efficient' });
    assert.ok(names().includes('blocks.0.attn.qkv.weight') && !names().some((n) => n.includes('attn.attention')));
    assert.ok(tidy(() => Array.from(model.forward(x).dataSync() as Float32Array)).every(Number.isFinite));
    for (const t of [x, tokens]) t.dispose();
    model.dispose();
  });

  it('a module made while training takes training mode; bad options throw naming the layer', () => {
    const model = buildViT(SMALL, { seed: 7 });
    model.train();
    model.setAttention({ mechanism: 'test_gained' });
    const gain = model.parameters().get('blocks.0.attn.attention.gain')!;
    assert.equal(gain.requiresGrad, true);
    assert.equal(model.blocks[0].attn.attentionModule!.training, true);
    assert.throws(() => model.setAttention({ mechanism: 'test_gained', bad: 1 }), /MultiHeadAttention: test_gained takes no option 'bad'/);
    assert.throws(() => buildViT({ ...SMALL, attention: null as never }), /MultiHeadAttention: expected attention to be an object/);
    // A module-only mechanism called as a function says so.
    const q = randn([1, 4, 2, 8], { seed: 8 });
    assert.throws(() => attention(q, q, q, { mechanism: 'test_gained' } as never), /works as a module only/);
    q.dispose();
    model.dispose();
  });

  it('builtInAttentionMechanisms lists the library\'s own mechanisms, not those registered later', () => {
    const names = builtInAttentionMechanisms();
    for (const m of ['memory_efficient', 'vanilla', 'sparse', 'block_sparse', 'local', 'nystrom']) assert.ok(names.includes(m), m);
    assert.ok(!names.includes('test_gained') && !names.includes('test_scale'));
    assert.ok(Object.isFrozen(names));
  });

  it('a ViT\'s weights depend on its seed alone, not on what the process built before', () => {
    const first = buildViT({ ...SMALL, attention: { mechanism: 'test_gained' } }, { seed: 11 });
    const other = buildViT(SMALL, { seed: 12 });
    const again = buildViT({ ...SMALL, attention: { mechanism: 'test_gained' } }, { seed: 11 });
    for (const [name, t] of first.parameters()) {
      assert.deepEqual(Array.from(again.parameters().get(name)!.dataSync() as Float32Array), Array.from(t.dataSync() as Float32Array), name);
    }
    for (const m of [first, other, again]) m.dispose();
  });
});
