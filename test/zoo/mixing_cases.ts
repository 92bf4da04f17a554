// What the token-mixing mechanisms' tests share (pooling, visual, fourier_mix): making a
// mechanism's module by name, and its use in a small ViT with a few training steps.
import * as assert from 'node:assert/strict';
import { buildViT, crossEntropy, randn, SGD, tensor, tidy } from '../../ts/index';
import type { AttentionModule, Device, FloatDType, MechanismGeometry } from '../../ts/index';
import { host } from '../helpers';
import { getAttention } from '../../ts/attention/registry';
import type { InitOptions } from '../../ts/nn/layers';

/** The zoo's small ViT: a 4x4 patch grid after a class token (N = 17), E = 24. */
export const SMALL = { img_size: 32, patch_size: 8, embed_dim: 24, depth: 2, num_heads: 2, num_classes: 5 };

/** The module of mechanism `name` for this geometry, as MultiHeadAttention makes it. */
export function makeModule(name: string, options: Record<string, unknown>, geometry: MechanismGeometry, init: InitOptions = {}): AttentionModule {
  const impl = getAttention(name);
  assert.ok(impl?.createModule, `mechanism '${name}' is registered with a module`);
  return impl.createModule('test', options, geometry, init);
}

/** Tokens [B, N, E] drawn from `seed` and the output of mechanism `name`'s module for them, read back (the module made on device in dtype, then disposed). */
export function mixTokens(name: string, options: Record<string, unknown>, geometry: MechanismGeometry, shape: readonly number[], device: Device, dtype: FloatDType, seed: number) {
  const module = makeModule(name, options, geometry, { device, dtype });
  const x = randn(shape, { dtype, device, seed });
  const y = module.forwardTokens(x, {});
  const r = { x: host(x), y: host(y) };
  for (const t of [x, y]) t.dispose();
  module.dispose();
  return r;
}

/**
 * A test: the small ViT with `attention` (by name) runs forward and three SGD steps on one
 * batch: every loss finite and the last below the first; each of `params` (under
 * blocks.i.attn.attention.) gets a finite, non-zero gradient.
 */
export function itTrainsInViT(attention: Record<string, unknown>, params: readonly string[]): void {
  it(`the ViT with ${JSON.stringify(attention)} by name trains: finite losses that fall over 3 SGD steps`, () => {
    const model = buildViT({ ...SMALL, attention: attention as never }, { seed: 3 });
    model.train();
    const x = randn([4, 3, 32, 32], { seed: 4 });
    const labels = tensor(new Int32Array([0, 1, 2, 4]), [4], { dtype: 'int32' });
    const sgd = new SGD(model.parameters(), { lr: 0.05 });
    const losses: number[] = [];
    try {
      for (let step = 0; step < 3; step++) {
        sgd.zeroGrad();
        losses.push(tidy(() => {
          const loss = crossEntropy(model.forward(x), labels);
          loss.backward();
          return loss.dataSync()[0];
        }));
        if (step === 0) {
          for (const name of params) {
            const g = model.parameters().get(`blocks.0.attn.attention.${name}`)?.grad?.dataSync();
            assert.ok(g && Array.from(g).every(Number.isFinite) && Array.from(g).some((v) => v !== 0), `${name} gets a finite, non-zero gradient`);
          }
        }
        sgd.step();
      }
      assert.ok(losses.every(Number.isFinite), `finite losses ${losses}`);
      assert.ok(losses[2] < losses[0], `the loss falls: ${losses}`);
    } finally {
      for (const t of [x, labels]) t.dispose();
      model.dispose();
    }
  });
}
