// linformer: keys and values projected along the sequence by learned E and F [k, N], against
// a float64 reference; gradients by finite differences; by name in the ViT; bad options.
import * as assert from 'node:assert/strict';
import { buildViT, FloatDType, FLOAT_DTYPES } from '../../ts/index';
import { LinformerAttention, linformerHeads } from '../../ts/attention/zoo/linformer';
import { assertClose, describeDevice, DEVICES, host, itGradchecks, TOLERANCE } from '../helpers';
import { linformerRef, mat } from './lowrank_reference';
import { checkAgainstCpu, onDevice, seeded, SMALL_VIT, vitTrainingStep } from './lowrank_helpers';

// [B, N, H, D], k rows, the N the projections are made for.
const SIZES: [number[], number, number][] = [[[2, 197, 2, 12], 16, 197], [[1, 1, 1, 12], 1, 1], [[2, 33, 3, 7], 5, 33], [[1, 50, 2, 12], 8, 197]];

describe('linformer', () => {
  for (const [shape, k, tokens] of SIZES) {
    it(`matches the float64 reference at q [${shape}], k ${k}, made for ${tokens} tokens`, () => {
      const q = seeded(shape, 1);
      const kk = seeded(shape, 2);
      const v = seeded(shape, 3);
      const E = seeded([k, tokens], 4, 1 / Math.sqrt(tokens));
      const F = seeded([k, tokens], 5, 1 / Math.sqrt(tokens));
      const scale = 1 / Math.sqrt(shape[3]);
      const out = linformerHeads(q.t, kk.t, v.t, E.t, F.t, scale);
      assert.deepEqual(out.shape, shape);
      const want = linformerRef(q.ref, kk.ref, v.ref, mat(k, tokens, Float64Array.from(E.ref.data)), mat(k, tokens, Float64Array.from(F.ref.data)), scale);
      assertClose(host(out), want, TOLERANCE.float32, `linformer [${shape}] k ${k}`);
      for (const t of [q.t, kk.t, v.t, E.t, F.t, out]) t.dispose();
    });
  }

  it('the module is made for geometry.tokens with k = N/4 by default, its E and F named under attention', () => {
    const m = new LinformerAttention('test', {}, { dim: 24, heads: 2, tokens: 17 }, { seed: 1 });
    assert.equal(m.k, 4);
    assert.deepEqual([...m.parameters().entries()].map(([n, t]) => [n, t.shape]), [['E', [4, 17]], ['F', [4, 17]]]);
    m.dispose();
  });

  const leaf = (shape: number[], seed: number, std = 1) => seeded(shape, seed, std).t.requiresGrad_();
  itGradchecks('gradcheck of q, k, v, E and F', (q, k, v, E, F) => linformerHeads(q, k, v, E, F, 0.4),
    [leaf([1, 9, 2, 4], 10), leaf([1, 9, 2, 4], 11), leaf([1, 9, 2, 4], 12), leaf([3, 9], 13, 0.5), leaf([3, 9], 14, 0.5)]);
  itGradchecks('gradcheck with fewer tokens than E has columns', (q, k, v, E, F) => linformerHeads(q, k, v, E, F, 0.5),
    [leaf([2, 5, 1, 3], 15), leaf([2, 5, 1, 3], 16), leaf([2, 5, 1, 3], 17), leaf([2, 7], 18), leaf([2, 7], 19)]);

  it('trains by name in the small ViT', () => {
    const { names } = vitTrainingStep({ mechanism: 'linformer', k: 5 });
    assert.deepEqual(names.sort(), ['blocks.0.attn.attention.E', 'blocks.0.attn.attention.F', 'blocks.1.attn.attention.E', 'blocks.1.attn.attention.F']);
  });

  it('bad options and calls throw naming the layer and the option', () => {
    const vit = (attention: Record<string, unknown>) => buildViT({ ...SMALL_VIT, attention });
    assert.throws(() => vit({ mechanism: 'linformer', k: 0 }), { name: 'RangeError', message: /MultiHeadAttention: linformer option k must be at least 1, got 0/ });
    assert.throws(() => vit({ mechanism: 'linformer', k: 2.5 }), { name: 'TypeError', message: /MultiHeadAttention: expected linformer option k to be an integer/ });
    assert.throws(() => vit({ mechanism: 'linformer', landmarks: 2 }), { name: 'RangeError', message: /MultiHeadAttention: mechanism 'linformer' takes no option 'landmarks'/ });
    assert.throws(() => vit({ mechanism: 'linformer', causal: true }), /takes no option 'causal'/);
    assert.throws(() => new LinformerAttention('MultiHeadAttention', {}, { dim: 24, heads: 2 }, {}), /MultiHeadAttention: mechanism 'linformer' needs the sequence length/);
    const m = new LinformerAttention('test', { k: 2 }, { dim: 8, heads: 2, tokens: 4 }, {});
    const q = seeded([1, 5, 2, 4], 1).t;
    assert.throws(() => m.forwardHeads(q, q, q, {}), /LinformerAttention.forwardHeads: mechanism 'linformer' was made for 4 tokens, got 5/);
    assert.throws(() => linformerHeads(q, q, q, m.parameters().get('E')!, m.parameters().get('F')!, 1), /slice/);
    q.dispose();
    m.dispose();
  });
});

for (const device of DEVICES.filter((d) => d !== 'cpu')) {
  describeDevice(device, 'linformer against the CPU', () => {
    for (const dtype of FLOAT_DTYPES as readonly FloatDType[]) {
      it(`q [2, 197, 2, 12], k 16, ${dtype}`, () => {
        const inputs = [seeded([2, 197, 2, 12], 1), seeded([2, 197, 2, 12], 2), seeded([2, 197, 2, 12], 3), seeded([16, 197], 4, 0.07), seeded([16, 197], 5, 0.07)];
        checkAgainstCpu(device, dtype, (d, t) => {
          const [q, k, v, E, F] = inputs.map((x) => onDevice(x.t, d, t));
          return linformerHeads(q, k, v, E, F, 1 / Math.sqrt(12)).cast('float32');
        });
        for (const x of inputs) x.t.dispose();
      });
    }
  });
}
