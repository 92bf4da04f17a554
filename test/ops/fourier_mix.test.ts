// fourierMix (FNet's Re(F_N x F_E)) against the DFT written out in float64 over lengths that are
// powers of two and lengths that are not (197, 24, 13, 1), its gradient (the op itself) against
// float64 and finite differences, CUDA (cuFFT) against the CPU, and the errors that name the op.
import * as assert from 'node:assert/strict';
import { backward, Device, empty, FLOAT_DTYPES, FloatDType, fourierMix, randn, tensor } from '../../ts/index';
import { native } from '../../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, itGradchecks } from '../helpers';
import { fourierMixRef } from '../zoo/mixing_reference';

interface Case { label: string; shape: number[]; strided?: boolean }

const CASES: Case[] = [
  { label: 'the ViT-S/16 tokens, N=197, E=24', shape: [2, 197, 24] },
  { label: 'powers of two, N=64, E=32', shape: [2, 64, 32] },
  { label: 'N=13, E=12', shape: [3, 13, 12] },
  { label: 'one token, N=1, E=7', shape: [3, 1, 7] },
  { label: 'one feature, N=6, E=1', shape: [2, 6, 1] },
  { label: 'one value, N=1, E=1', shape: [4, 1, 1] },
  { label: 'leading dims [2, 3], N=5, E=4', shape: [2, 3, 5, 4] },
  { label: 'a strided (transposed) x, N=9, E=10', shape: [2, 9, 10], strided: true },
];

function run(device: Device, dtype: FloatDType, c: Case, seed: number): { y: Float32Array; dx: Float32Array; x: Float32Array; g: Float32Array } {
  const stored = c.strided ? [c.shape[0], c.shape[2], c.shape[1]] : c.shape;
  const base = randn(stored, { dtype, device, seed }).requiresGrad_();
  const x = c.strided ? base.transpose(1, 2) : base;
  const y = fourierMix(x);
  const g = randn(y.shape, { dtype, device, seed: seed + 1 });
  backward(y, g);
  const dxView = c.strided ? base.grad!.transpose(1, 2) : base.grad!;
  const r = { y: host(y), dx: host(dxView), x: host(x), g: host(g) };
  for (const t of [base, x, y, g, dxView]) t.dispose();
  return r;
}

describe('fourier mix reference', () => {
  it('fourierMixRef is its own adjoint (<F(x), g> = <x, F(g)>) and agrees with the DFT of a known signal', () => {
    const [B, N, E] = [2, 5, 3];
    const x = Float64Array.from({ length: B * N * E }, (_, i) => Math.sin(i * 1.3));
    const g = Float64Array.from({ length: B * N * E }, (_, i) => Math.cos(i * 0.7));
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i], 0);
    assert.ok(Math.abs(dot(fourierMixRef(x, B, N, E), g) - dot(x, fourierMixRef(g, B, N, E))) < 1e-10);
    // A single 1 at (j, k) gives cos(2π(nj/N + ek/E)); all ones gives N·E at (0, 0) only.
    const ones = fourierMixRef(new Float64Array(N * E).fill(1), 1, N, E);
    ones.forEach((v, i) => assert.ok(Math.abs(v - (i === 0 ? N * E : 0)) < 1e-12, `ones at ${i}: ${v}`));
  });
});

for (const device of DEVICES) {
  describeDevice(device, 'fourierMix', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        it(`matches the float64 DFT forward and backward: ${c.label}, ${dtype}`, () => {
          const seed = freshSeed();
          const r = run(device, dtype, c, seed);
          const [N, E] = c.shape.slice(-2);
          const B = r.x.length / (N * E);
          const label = `${c.label} ${dtype} seed ${seed}`;
          assertClose(r.y, fourierMixRef(r.x, B, N, E), TOLERANCE[dtype], `${label} forward`);
          assertClose(r.dx, fourierMixRef(r.g, B, N, E), TOLERANCE[dtype], `${label} dx`);
        });
      }
    }
    it('an empty batch gives an empty result', () => {
      const y = fourierMix(empty([0, 5, 3], { device }));
      assert.deepEqual(y.shape, [0, 5, 3]);
      y.dispose();
    });
  });
}

describe('fourierMix gradient by finite differences (CPU, float32)', () => {
  itGradchecks('N=5, E=3', (x) => fourierMix(x), [randn([1, 5, 3], { seed: 1 }).requiresGrad_()]);
  itGradchecks('N=4, E=6, two slices', (x) => fourierMix(x), [randn([2, 4, 6], { seed: 2 }).requiresGrad_()]);
});

describeDevice('cuda:0', 'fourierMix, CUDA (cuFFT) against the CPU', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`cuFFT matches the CPU's float64 FFT at the notebook's tokens (B=8, N=197, E=384) and at N=1, E=1, ${dtype}`, () => {
      const seed = freshSeed();
      for (const c of [{ label: 'B8 N197 E384', shape: [8, 197, 384] }, { label: 'N=1', shape: [3, 1, 64] }, { label: 'E=1', shape: [3, 64, 1] }]) {
        const cuda = run('cuda:0', dtype, c, seed);
        const cpu = run('cpu', dtype, c, seed);
        assertClose(cuda.y, cpu.y, TOLERANCE[dtype], `${c.label} forward ${dtype} seed ${seed}`);
        assertClose(cuda.dx, cpu.dx, TOLERANCE[dtype], `${c.label} dx ${dtype} seed ${seed}`);
      }
    });
  }
  it('plans for several shapes and batches (more than the cache holds) all give the right values', () => {
    const seed = freshSeed();
    for (let i = 0; i < 10; i++) {
      const c = { label: `batch ${i + 1}`, shape: [i + 1, 7 + i, 12] };
      assertClose(run('cuda:0', 'float32', c, seed).y, run('cpu', 'float32', c, seed).y, TOLERANCE.float32, `${c.label} seed ${seed}`);
    }
  });
});

describe('fourierMix argument errors', () => {
  it('bad inputs throw naming the op and the problem', () => {
    assert.throws(() => fourierMix(randn([5])), /^RangeError: fourierMix: x must be \[\.\.\., N, E\], got \[5\]/);
    assert.throws(() => fourierMix(tensor(new Int32Array(6), [2, 3], { dtype: 'int32' })), /^TypeError: fourierMix: expected x to be a float32, float16 or bfloat16 tensor/);
    assert.throws(() => fourierMix(randn([2, 3]), { out: empty([3, 2]) }), /^RangeError: fourierMix: options.out must have shape \[2, 3\]/);
    const gone = randn([2, 3]);
    gone.dispose();
    assert.throws(() => fourierMix(gone), /^TypeError: fourierMix: x has been disposed/);
    const x = randn([2, 3]).requiresGrad_();
    assert.throws(() => fourierMix(x, { out: empty([2, 3]) }), /^TypeError: fourierMix: options.out cannot be used while an input requires grad/);
    x.dispose();
  });
  it('the addon refuses a wrong rank, shape and overlap, naming the op', () => {
    assert.throws(() => native().fourierMix(empty([2, 3]), empty([2, 3])), /^TypeError: fourierMix: x must be contiguous float \[B, N, E\]/);
    assert.throws(() => native().fourierMix(empty([1, 3, 2]), empty([1, 2, 3])), /^TypeError: fourierMix: out must be contiguous, of x's shape and dtype/);
    const x = empty([1, 2, 3]);
    assert.throws(() => native().fourierMix(x, x), /^TypeError: fourierMix: an output must not overlap an input/);
    x.dispose();
  });
});
