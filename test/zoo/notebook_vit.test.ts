// The notebook ViT (224/16, embed 96, depth 8, 8 heads of 12: 197 tokens) runs with each
// mechanism of the zoo by name (issue 26): a forward on one image gives finite logits, and
// one backward reaches every parameter.
import * as assert from 'node:assert/strict';
import { builtInAttentionMechanisms, buildViT, rand, tidy } from '../../ts/index';
import { NOTEBOOK_VIT } from '../../ts/bench/suite/vit';

const SKIP = new Set(['sparse', 'block_sparse']);

describe('the notebook ViT with each mechanism by name (CPU)', () => {
  const names = builtInAttentionMechanisms().filter((m) => !SKIP.has(m));
  for (const mechanism of names) {
    it(`${mechanism}: forward and backward`, function () {
      this.timeout(120000);
      const model = buildViT({ ...NOTEBOOK_VIT, attention: { mechanism } }, { seed: 1 });
      const x = rand([1, 3, 224, 224], { seed: 2 });
      const logits = tidy(() => Array.from(model.forward(x).dataSync() as Float32Array));
      assert.equal(logits.length, 1000);
      assert.ok(logits.every(Number.isFinite), 'finite logits');
      model.train();
      tidy(() => model.forward(x).backward(tidy(() => rand([1, 1000], { seed: 3 }))));
      const missing = [...model.namedParameters()].filter(([, p]) => p.grad === null).map(([n]) => n);
      assert.deepEqual(missing, [], 'every parameter gets a gradient');
      x.dispose();
      model.dispose();
    });
  }
});
