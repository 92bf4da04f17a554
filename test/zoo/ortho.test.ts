// ortho: Orthoformer's orthogonal landmark selection among (a subsample of) the queries, against
// a float64 reference given the same random choices; the choice itself; gradients; by name in
// the ViT and as a function of q, k, v; bad options.
import * as assert from 'node:assert/strict';
import { attention, buildViT, FloatDType, FLOAT_DTYPES, gradcheck, tensor } from '../../ts/index';
import { drawOrtho, orthoAttention, OrthoAttention, orthogonalLandmarks, OrthoSettings } from '../../ts/attention/zoo/ortho';
import { Random } from '../../ts/random';
import { assertClose, describeDevice, DEVICES, host, TOLERANCE } from '../helpers';
import { orthoRef } from './lowrank_reference';
import { checkAgainstCpu, onDevice, seeded, SMALL_VIT, vitTrainingStep } from './lowrank_helpers';

// [B, N, H, D], landmarks, subsample fraction.
const SIZES: [number[], number, number][] = [[[2, 197, 2, 12], 16, 1], [[1, 1, 1, 12], 32, 1], [[2, 50, 3, 7], 7, 0.3], [[1, 197, 2, 12], 32, 0.5], [[1, 9, 1, 12], 8, 1]];

describe('ortho', () => {
  for (const [shape, m, fraction] of SIZES) {
    it(`matches the float64 reference at q [${shape}], ${m} landmarks, subsample ${fraction}`, () => {
      const [q, k, v] = [seeded(shape, 1), seeded(shape, 2), seeded(shape, 3)];
      const s: OrthoSettings = { landmarks: m, fraction, seed: 5, scale: 1 / Math.sqrt(shape[3]) };
      const out = orthoAttention(q.t, k.t, v.t, s, new Random(77));
      assert.deepEqual(out.shape, shape);
      const draw = drawOrtho(new Random(77), shape[0] * shape[2], shape[1], m, fraction);
      assertClose(host(out), orthoRef(q.ref, k.ref, v.ref, draw, m, s.scale), TOLERANCE.float32, `ortho [${shape}] m ${m}`);
      for (const t of [q.t, k.t, v.t, out]) t.dispose();
    });
  }

  it('chooses one query along each of 4 orthogonal directions, in sample order', () => {
    // 12 queries near ±e1..±e4 (3 each, noisy), the first landmark query 5 (near e2).
    const D = 4;
    const values: number[] = [];
    for (let n = 0; n < 12; n++) for (let d = 0; d < D; d++) values.push((d === n % 4 ? (n % 3 === 0 ? -1 : 1) : 0) + 0.05 * Math.sin(7 * n + d));
    const samples = [Int32Array.from({ length: 12 }, (_, i) => i)];
    const chosen = orthogonalLandmarks(values, [1, 12, 1, D], { samples, first: [5] }, 4)[0];
    assert.deepEqual(Array.from(chosen).map((n) => n % 4).sort(), [0, 1, 2, 3]);
    assert.ok(chosen.includes(5) && Array.from(chosen).every((n, i) => i === 0 || n > chosen[i - 1]));
  });

  it('a subsample draws ⌊fraction·N⌋ candidates (at least m) with replacement; fraction 1 takes all queries in order', () => {
    const d = drawOrtho(new Random(1), 3, 100, 8, 0.25);
    assert.deepEqual(d.samples.map((x) => x.length), [25, 25, 25]);
    assert.ok(d.samples.every((x) => x.every((n) => n >= 0 && n < 100)) && d.first.every((f) => f >= 0 && f < 25));
    assert.equal(drawOrtho(new Random(1), 1, 100, 40, 0.25).samples[0].length, 40);
    assert.deepEqual(Array.from(drawOrtho(new Random(1), 1, 5, 2, 1).samples[0]), [0, 1, 2, 3, 4]);
  });

  it('the module draws afresh each training call and uses draw 0 in eval; the function uses its seed', () => {
    const module = new OrthoAttention('test', { num_landmarks: 3, seed: 2 }, { dim: 16, heads: 2 }, {});
    const shape = [1, 20, 2, 8];
    const [q, k, v] = [seeded(shape, 4), seeded(shape, 5), seeded(shape, 6)];
    const run = () => Array.from(host(module.forwardHeads(q.t, k.t, v.t, {})));
    const evalOut = run();
    module.train();
    const [a, b] = [run(), run()];
    assert.equal(module.calls, 2);
    assert.notDeepEqual(a, b);
    module.eval();
    assert.deepEqual(run(), evalOut);
    const fromFunction = attention(q.t, k.t, v.t, { mechanism: 'ortho', num_landmarks: 3, seed: 2 });
    assert.deepEqual(Array.from(host(fromFunction)), evalOut);
    for (const t of [q.t, k.t, v.t, fromFunction]) t.dispose();
    module.dispose();
  });

  it('gradcheck of q (through the landmarks too), k and v', () => {
    const inputs = [seeded([1, 8, 2, 4], 13).t, seeded([1, 8, 2, 4], 14).t, seeded([1, 8, 2, 4], 15).t].map((t) => t.requiresGrad_());
    const s: OrthoSettings = { landmarks: 3, fraction: 1, seed: 0, scale: 0.5 };
    try {
      // The choice is piecewise constant in q; these inputs are far from a tie, so the steps do not change it.
      assert.equal(gradcheck((q, k, v) => orthoAttention(q, k, v, s, new Random(3)), inputs), true);
    } finally {
      for (const t of inputs) t.dispose();
    }
  });

  it('trains by name in the small ViT (no parameters of its own)', () => {
    assert.deepEqual(vitTrainingStep({ mechanism: 'ortho', num_landmarks: 6, subsample_fraction: 0.5 }).names, []);
  });

  it('bad options and inputs throw naming the function and the option', () => {
    const vit = (attention: Record<string, unknown>) => buildViT({ ...SMALL_VIT, attention });
    assert.throws(() => vit({ mechanism: 'ortho', num_landmarks: 0 }), { name: 'RangeError', message: /MultiHeadAttention: ortho option num_landmarks must be at least 1/ });
    assert.throws(() => vit({ mechanism: 'ortho', subsample_fraction: 0 }), { name: 'RangeError', message: /MultiHeadAttention: ortho option subsample_fraction must be in \(0, 1\], got 0/ });
    assert.throws(() => vit({ mechanism: 'ortho', subsample_fraction: 1.5 }), /subsample_fraction must be in \(0, 1\]/);
    assert.throws(() => vit({ mechanism: 'ortho', subsample_fraction: 'half' }), { name: 'TypeError', message: /expected ortho option subsample_fraction to be a number/ });
    assert.throws(() => vit({ mechanism: 'ortho', landmark_selection: 'kmeans' }), /mechanism 'ortho' takes no option 'landmark_selection'/);
    const q = tensor(new Float32Array(24), [1, 6, 1, 4]);
    assert.throws(() => attention(q, q, q, { mechanism: 'ortho', causal: true }), /mechanism 'ortho' cannot serve these inputs[^]*no causal form/);
    assert.throws(() => attention(q, q, q, { mechanism: 'ortho', seed: 0.5 }), /attention: expected ortho option seed to be an integer/);
    q.dispose();
  });
});

for (const device of DEVICES.filter((d) => d !== 'cpu')) {
  describeDevice(device, 'ortho against the CPU', () => {
    for (const dtype of FLOAT_DTYPES as readonly FloatDType[]) {
      it(`q [2, 197, 2, 12], 16 landmarks of a half subsample, ${dtype}`, () => {
        // The choice reads q in the run's dtype: the CPU run gets the same rounded q, so both choose alike.
        const inputs = [seeded([2, 197, 2, 12], 1), seeded([2, 197, 2, 12], 2), seeded([2, 197, 2, 12], 3)];
        const s: OrthoSettings = { landmarks: 16, fraction: 0.5, seed: 0, scale: 1 / Math.sqrt(12) };
        const rounded = inputs.map((x) => onDevice(x.t, 'cpu', dtype).cast('float32'));
        checkAgainstCpu(device, dtype, (d, t) => {
          const [q, k, v] = rounded.map((x) => onDevice(x, d, t));
          return orthoAttention(q, k, v, s, new Random(9)).cast('float32');
        });
        for (const x of [...inputs.map((i) => i.t), ...rounded]) x.dispose();
      });
    }
  });
}
