// lambda: content and position lambdas (learned relative position embeddings), against a float64
// reference written as the paper's per-query lambdas; gradients; by name in the ViT; bad options.
import * as assert from 'node:assert/strict';
import { attention, buildViT, FloatDType, FLOAT_DTYPES, tensor } from '../../ts/index';
import { LambdaAttention, lambdaHeads, relativeToAbsolute } from '../../ts/attention/zoo/lambda';
import { assertClose, describeDevice, DEVICES, host, itGradchecks, TOLERANCE } from '../helpers';
import { lambdaRef, mat } from './lowrank_reference';
import { checkAgainstCpu, onDevice, seeded, SMALL_VIT, vitTrainingStep } from './lowrank_helpers';

// [B, N, H, D], position embedding size r.
const SIZES: [number[], number][] = [[[2, 197, 2, 12], 393], [[1, 1, 1, 12], 1], [[2, 33, 3, 7], 9], [[1, 50, 2, 12], 393], [[1, 20, 1, 12], 3]];

describe('lambda', () => {
  for (const [shape, r] of SIZES) {
    it(`matches the float64 reference at q [${shape}], ${r} relative positions`, () => {
      const [q, k, v] = [seeded(shape, 1), seeded(shape, 2), seeded(shape, 3)];
      const R = seeded([r, shape[3]], 4, 1 / Math.sqrt(shape[3]));
      const out = lambdaHeads(q.t, k.t, v.t, R.t);
      assert.deepEqual(out.shape, shape);
      assertClose(host(out), lambdaRef(q.ref, k.ref, v.ref, mat(r, shape[3], Float64Array.from(R.ref.data))), TOLERANCE.float32, `lambda [${shape}] r ${r}`);
      for (const t of [q.t, k.t, v.t, R.t, out]) t.dispose();
    });
  }

  it('the skew reshape puts S[n, m − n + c] at P[n, m] and zeros beyond ±c', () => {
    const N = 4;
    const r = 3;
    const S = tensor(Float32Array.from({ length: N * r }, (_, i) => 10 * Math.floor(i / r) + (i % r) + 1), [1, 1, N, r]);
    const P = relativeToAbsolute(S);
    assert.deepEqual(Array.from(host(P)), [2, 3, 0, 0, 11, 12, 13, 0, 0, 21, 22, 23, 0, 0, 31, 32]);
    for (const t of [S, P]) t.dispose();
  });

  it('the module is made with r = 2N − 1 by default, its embeddings named rel_pos_emb', () => {
    const m = new LambdaAttention('test', {}, { dim: 24, heads: 2, tokens: 17 }, {});
    assert.deepEqual([...m.parameters().entries()].map(([n, t]) => [n, t.shape]), [['rel_pos_emb', [33, 12]]]);
    m.dispose();
  });

  const leaf = (shape: number[], seed: number, std = 1) => seeded(shape, seed, std).t.requiresGrad_();
  itGradchecks('gradcheck of q, k, v and the embeddings (global)', (q, k, v, R) => lambdaHeads(q, k, v, R),
    [leaf([1, 6, 2, 3], 10, 0.5), leaf([1, 6, 2, 3], 11), leaf([1, 6, 2, 3], 12, 0.5), leaf([11, 3], 13, 0.5)]);
  itGradchecks('gradcheck with a local context (r = 3)', (q, k, v, R) => lambdaHeads(q, k, v, R),
    [leaf([2, 5, 1, 4], 14, 0.5), leaf([2, 5, 1, 4], 15), leaf([2, 5, 1, 4], 16, 0.5), leaf([3, 4], 17, 0.5)]);

  it('trains by name in the small ViT', () => {
    const { names } = vitTrainingStep({ mechanism: 'lambda', position_embedding_size: 9 });
    assert.deepEqual(names.sort(), ['blocks.0.attn.attention.rel_pos_emb', 'blocks.1.attn.attention.rel_pos_emb']);
  });

  it('bad options and calls throw naming the function and the option', () => {
    const vit = (attention: Record<string, unknown>) => buildViT({ ...SMALL_VIT, attention });
    assert.throws(() => vit({ mechanism: 'lambda', position_embedding_size: 4 }), { name: 'RangeError', message: /MultiHeadAttention: lambda option position_embedding_size must be odd/ });
    assert.throws(() => vit({ mechanism: 'lambda', position_embedding_size: 0 }), /lambda option position_embedding_size must be at least 1/);
    assert.throws(() => vit({ mechanism: 'lambda', scale: 0.5 }), /MultiHeadAttention: lambda has no softmax over the scores: it takes no option 'scale'/);
    assert.throws(() => vit({ mechanism: 'lambda', dim_u: 2 }), /mechanism 'lambda' takes no option 'dim_u'/);
    assert.throws(() => new LambdaAttention('MultiHeadAttention', {}, { dim: 8, heads: 2 }, {}), /MultiHeadAttention: mechanism 'lambda' needs the sequence length/);
    const q = tensor(new Float32Array(24), [1, 6, 1, 4]);
    assert.throws(() => attention(q, q, q, { mechanism: 'lambda' }), /mechanism 'lambda' has learned relative position embeddings: it works as a module only/);
    q.dispose();
  });
});

for (const device of DEVICES.filter((d) => d !== 'cpu')) {
  describeDevice(device, 'lambda against the CPU', () => {
    for (const dtype of FLOAT_DTYPES as readonly FloatDType[]) {
      it(`q [2, 197, 2, 12], 393 relative positions, ${dtype}`, () => {
        const inputs = [seeded([2, 197, 2, 12], 1, 0.3), seeded([2, 197, 2, 12], 2), seeded([2, 197, 2, 12], 3, 0.3), seeded([393, 12], 4, 0.3)];
        checkAgainstCpu(device, dtype, (d, t) => {
          const [q, k, v, R] = inputs.map((x) => onDevice(x.t, d, t));
          return lambdaHeads(q, k, v, R).cast('float32');
        });
        for (const x of inputs) x.t.dispose();
      });
    }
  });
}
