// `fourier_mix` (FNet): the module's output against the float64 DFT over the tokens, the class
// token one position of the sequence (N = 1, 17, 197; E = 12, 24), on every device and dtype, its
// gradient by finite differences, the ViT by name, and its errors.
import * as assert from 'node:assert/strict';
import { attention, buildViT, Device, FLOAT_DTYPES, FloatDType, randn } from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, itGradchecks } from '../helpers';
import { itTrainsInViT, makeModule, mixTokens, SMALL } from './mixing_cases';
import { fourierMixRef } from './mixing_reference';

const SHAPES = [[2, 17, 24], [2, 197, 12], [3, 1, 12], [1, 50, 7]];

function forward(device: Device, dtype: FloatDType, [B, N, E]: number[], seed: number): { x: Float32Array; y: Float32Array } {
  return mixTokens('fourier_mix', {}, { dim: E, heads: 1, tokens: N }, [B, N, E], device, dtype, seed);
}

for (const device of DEVICES) {
  describeDevice(device, 'fourier_mix', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const shape of SHAPES) {
        it(`matches the float64 DFT over the tokens [${shape}], ${dtype}`, () => {
          const seed = freshSeed();
          const r = forward(device, dtype, shape, seed);
          assertClose(r.y, fourierMixRef(r.x, shape[0], shape[1], shape[2]), TOLERANCE[dtype], `[${shape}] ${dtype} seed ${seed}`);
        });
      }
    }
  });
}

describe('fourier_mix gradient by finite differences (CPU, float32)', () => {
  const module = makeModule('fourier_mix', {}, { dim: 4, heads: 1, tokens: 5 });
  itGradchecks('the module over [2, 5, 4] tokens', (x) => module.forwardTokens(x, {}), [randn([2, 5, 4], { seed: 1 }).requiresGrad_()]);
});

describeDevice('cuda:0', 'fourier_mix, CUDA against the CPU', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`the module's output on CUDA matches the CPU's at B=8, N=197, E=384, ${dtype}`, () => {
      const seed = freshSeed();
      assertClose(forward('cuda:0', dtype, [8, 197, 384], seed).y, forward('cpu', dtype, [8, 197, 384], seed).y, TOLERANCE[dtype], `${dtype} seed ${seed}`);
    });
  }
});

describe('fourier_mix in a ViT and its errors', () => {
  itTrainsInViT({ mechanism: 'fourier_mix' }, []);
  it('takes the tokens (no qkv projection) and has no parameters of its own', () => {
    const model = buildViT({ ...SMALL, attention: { mechanism: 'fourier_mix' } }, { seed: 1 });
    assert.ok(![...model.parameters().keys()].some((n) => n.includes('qkv') || n.includes('attn.attention')));
    model.dispose();
  });
  it('any option and a call on q, k, v throw saying what is wrong', () => {
    assert.throws(() => makeModule('fourier_mix', { pool_size: 3 }, { dim: 8, heads: 2 }), /^RangeError: test: mechanism 'fourier_mix' takes no option 'pool_size' \(it takes none\)/);
    const q = randn([1, 5, 2, 4]);
    assert.throws(() => attention(q, q, q, { mechanism: 'fourier_mix' } as never), /mechanism 'fourier_mix' works as a module only/);
    q.dispose();
  });
});
