// nystrom: landmarks as segment means, the iterative pseudo-inverse and the convolution skip on
// V, against a float64 reference; gradients by finite differences; by name in the ViT and as a
// function of q, k, v; bad options.
import * as assert from 'node:assert/strict';
import { attention, buildViT, FloatDType, FLOAT_DTYPES, matmul, softmax, tensor } from '../../ts/index';
import { iterativePinv, NystromAttention, nystromHeads, segmentMeans } from '../../ts/attention/zoo/nystrom';
import { assertClose, describeDevice, DEVICES, host, itGradchecks, TOLERANCE } from '../helpers';
import { mat, nystromRef } from './lowrank_reference';
import { checkAgainstCpu, onDevice, seeded, SMALL_VIT, vitTrainingStep } from './lowrank_helpers';

// [B, N, H, D], landmarks, iterations, conv kernel (or null).
const SIZES: [number[], number, number, number | null][] = [
  [[2, 197, 2, 12], 16, 6, null], [[1, 1, 1, 12], 64, 6, null], [[2, 64, 2, 12], 8, 6, 3], [[1, 50, 3, 7], 7, 3, 5], [[1, 197, 1, 12], 10, 0, 33], [[1, 4, 2, 12], 4, 6, 9],
];

describe('nystrom', () => {
  for (const [shape, m, iterations, kernel] of SIZES) {
    it(`matches the float64 reference at q [${shape}], ${m} landmarks, ${iterations} iterations, conv ${kernel ?? 'none'}`, () => {
      const [q, k, v] = [seeded(shape, 1), seeded(shape, 2), seeded(shape, 3)];
      const w = kernel === null ? null : seeded([shape[2], kernel], 4, 1 / Math.sqrt(kernel));
      const scale = 1 / Math.sqrt(shape[3]);
      const out = nystromHeads(q.t, k.t, v.t, { landmarks: m, iterations, scale }, w?.t ?? null);
      assert.deepEqual(out.shape, shape);
      const want = nystromRef(q.ref, k.ref, v.ref, m, iterations, scale, w ? mat(shape[2], kernel!, Float64Array.from(w.ref.data)) : null);
      assertClose(host(out), want, TOLERANCE.float32, `nystrom [${shape}] m ${m}`);
      for (const t of [q.t, k.t, v.t, w?.t, out]) t?.dispose();
    });
  }

  it('segment means: N = 7 over 3 landmarks averages rows 0-1, 2-3 and 4-6', () => {
    const x = tensor([0, 1, 2, 3, 4, 5, 6], [1, 1, 7, 1]);
    const means = segmentMeans(x, 3);
    assert.deepEqual(Array.from(host(means)), [0.5, 2.5, 5]);
    for (const t of [x, means]) t.dispose();
  });

  it('the iterative pseudo-inverse converges: pinv(K) K ≈ I for a softmax K, closer with more iterations', () => {
    const s = seeded([3, 8, 8], 5, 0.5);
    const kernel = softmax(s.t);
    // The largest distance of pinv(K) K from the identity over the 3 matrices (8 x 8: entry i is diagonal when i % 64 % 9 is 0).
    const err = (iterations: number) => Math.max(...Array.from(host(matmul(iterativePinv(kernel, iterations), kernel)), (x, i) => Math.abs(x - (i % 64 % 9 === 0 ? 1 : 0))));
    const [e2, e12] = [err(2), err(12)];
    assert.ok(e12 < 1e-3 && e12 < e2, `errors after 2 and 12 iterations: ${e2}, ${e12}`);
    for (const t of [s.t, kernel]) t.dispose();
  });

  it('works as a function of q, k, v by name, equal to the module without a convolution', () => {
    const [q, k, v] = [seeded([2, 30, 2, 8], 6), seeded([2, 30, 2, 8], 7), seeded([2, 30, 2, 8], 8)];
    const got = attention(q.t, k.t, v.t, { mechanism: 'nystrom', num_landmarks: 4, pinverse_iterations: 5, scale: 0.3 });
    const module = new NystromAttention('test', { num_landmarks: 4, pinverse_iterations: 5, scale: 0.3 }, { dim: 16, heads: 2 }, {});
    const want = module.forwardHeads(q.t, k.t, v.t, {});
    assert.deepEqual(Array.from(host(got)), Array.from(host(want)));
    assert.equal(module.parameters().size, 0);
    for (const t of [q.t, k.t, v.t, got, want]) t.dispose();
    module.dispose();
  });

  const leaf = (shape: number[], seed: number, std = 1) => seeded(shape, seed, std).t.requiresGrad_();
  const settings = { landmarks: 3, iterations: 6, scale: 0.5 };
  itGradchecks('gradcheck of q, k, v and the convolution (N = 7, 3 landmarks)', (q, k, v, w) => nystromHeads(q, k, v, settings, w),
    [leaf([1, 7, 2, 3], 10), leaf([1, 7, 2, 3], 11), leaf([1, 7, 2, 3], 12), leaf([2, 3], 13, 0.5)]);
  itGradchecks('gradcheck of the exact path (landmarks ≥ N) with the convolution', (q, k, v, w) => nystromHeads(q, k, v, { ...settings, landmarks: 8 }, w),
    [leaf([2, 5, 1, 3], 14), leaf([2, 5, 1, 3], 15), leaf([2, 5, 1, 3], 16), leaf([1, 5], 17, 0.5)]);
  itGradchecks('gradcheck through attention() by name', (q, k, v) => attention(q, k, v, { mechanism: 'nystrom', num_landmarks: 2 }),
    [leaf([1, 6, 1, 4], 18), leaf([1, 6, 1, 4], 19), leaf([1, 6, 1, 4], 20)]);

  it('trains by name in the small ViT, with and without the convolution skip', () => {
    assert.deepEqual(vitTrainingStep({ mechanism: 'nystrom', num_landmarks: 4 }).names, []);
    const { names } = vitTrainingStep({ mechanism: 'nystrom', num_landmarks: 5, pinverse_iterations: 4, conv_kernel_size: 3 });
    assert.deepEqual(names.sort(), ['blocks.0.attn.attention.conv_weight', 'blocks.1.attn.attention.conv_weight']);
  });

  it('bad options and inputs throw naming the function and the option', () => {
    const vit = (attention: Record<string, unknown>) => buildViT({ ...SMALL_VIT, attention });
    assert.throws(() => vit({ mechanism: 'nystrom', num_landmarks: 0 }), { name: 'RangeError', message: /MultiHeadAttention: nystrom option num_landmarks must be at least 1, got 0/ });
    assert.throws(() => vit({ mechanism: 'nystrom', pinverse_iterations: -1 }), { name: 'RangeError', message: /nystrom option pinverse_iterations must be at least 0/ });
    assert.throws(() => vit({ mechanism: 'nystrom', conv_kernel_size: 4 }), { name: 'RangeError', message: /MultiHeadAttention: nystrom option conv_kernel_size must be odd/ });
    assert.throws(() => vit({ mechanism: 'nystrom', conv_kernel_size: '3' }), { name: 'TypeError', message: /expected nystrom option conv_kernel_size to be an integer/ });
    assert.throws(() => vit({ mechanism: 'nystrom', landmarks: 3 }), { name: 'RangeError', message: /mechanism 'nystrom' takes no option 'landmarks'/ });
    const q = seeded([1, 6, 1, 4], 1).t;
    assert.throws(() => attention(q, q, q, { mechanism: 'nystrom', conv_kernel_size: 3 }), /attention: nystrom option conv_kernel_size needs the module form/);
    assert.throws(() => attention(q, q, q, { mechanism: 'nystrom', causal: true }), /mechanism 'nystrom' cannot serve these inputs[^]*no causal form/);
    assert.throws(() => attention(q, q, q, { mechanism: 'nystrom', num_landmarks: 1.5 }), /attention: expected nystrom option num_landmarks to be an integer/);
    q.dispose();
  });
});

for (const device of DEVICES.filter((d) => d !== 'cpu')) {
  describeDevice(device, 'nystrom against the CPU', () => {
    for (const dtype of FLOAT_DTYPES as readonly FloatDType[]) {
      it(`q [2, 197, 2, 12], 16 landmarks, conv 5, ${dtype}`, () => {
        const inputs = [seeded([2, 197, 2, 12], 1), seeded([2, 197, 2, 12], 2), seeded([2, 197, 2, 12], 3), seeded([2, 5], 4, 0.4)];
        checkAgainstCpu(device, dtype, (d, t) => {
          const [q, k, v, w] = inputs.map((x) => onDevice(x.t, d, t));
          return nystromHeads(q, k, v, { landmarks: 16, iterations: 6, scale: 1 / Math.sqrt(12) }, w).cast('float32');
        }, 8);
        for (const x of inputs) x.t.dispose();
      });
    }
  });
}
