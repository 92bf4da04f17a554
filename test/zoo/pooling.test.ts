// `pooling` (PoolFormer): the module's forward against the float64 reference over awkward
// grids (a class token or none, 1x1, 14x14 + 1 = 197 tokens, E = 12) on every device and
// dtype, its gradient by finite differences, the ViT by name, and its errors.
import * as assert from 'node:assert/strict';
import { attention, buildViT, Device, FLOAT_DTYPES, FloatDType, MechanismGeometry, MultiHeadAttention, randn, TokenGrid } from '../../ts/index';
import { poolingMix } from '../../ts/attention/zoo/pooling';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, itGradchecks } from '../helpers';
import { itTrainsInViT, makeModule, mixTokens, SMALL } from './mixing_cases';
import { poolingRef } from './mixing_reference';

interface Case { label: string; B: number; E: number; grid: TokenGrid; poolSize?: number }

const CASES: Case[] = [
  { label: "the small ViT's 4x4 grid after a class token, E=24", B: 2, E: 24, grid: { height: 4, width: 4, prefixTokens: 1 } },
  { label: 'a 7x5 grid, E=12', B: 2, E: 12, grid: { height: 7, width: 5, prefixTokens: 1 } },
  { label: 'a 1x1 grid', B: 3, E: 12, grid: { height: 1, width: 1, prefixTokens: 1 } },
  { label: 'N = 197 (14x14 and a class token), pool_size 5, E=12', B: 2, E: 12, grid: { height: 14, width: 14, prefixTokens: 1 }, poolSize: 5 },
  { label: 'no prefix token, 3x6, pool_size 7 (larger than the grid)', B: 2, E: 5, grid: { height: 3, width: 6, prefixTokens: 0 }, poolSize: 7 },
  { label: 'two prefix tokens, 5x4', B: 1, E: 8, grid: { height: 5, width: 4, prefixTokens: 2 } },
];

const geometryOf = (c: Case): MechanismGeometry => ({ dim: c.E, heads: 1, tokens: c.grid.prefixTokens + c.grid.height * c.grid.width, grid: c.grid });

function forward(device: Device, dtype: FloatDType, c: Case, seed: number): { x: Float32Array; y: Float32Array } {
  const options = c.poolSize === undefined ? {} : { pool_size: c.poolSize };
  return mixTokens('pooling', options, geometryOf(c), [c.B, geometryOf(c).tokens!, c.E], device, dtype, seed);
}

for (const device of DEVICES) {
  describeDevice(device, 'pooling', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        it(`matches float64: ${c.label}, ${dtype}`, () => {
          const seed = freshSeed();
          const r = forward(device, dtype, c, seed);
          assertClose(r.y, poolingRef(r.x, c.B, c.E, c.grid, c.poolSize ?? 3), TOLERANCE[dtype], `${c.label} ${dtype} seed ${seed}`);
        });
      }
    }
  });
}

describe('pooling gradient by finite differences (CPU, float32)', () => {
  itGradchecks('a 3x3 grid after a class token, E=2', (x) => poolingMix(x, { height: 3, width: 3, prefixTokens: 1 }, 3), [randn([2, 10, 2], { seed: 1 }).requiresGrad_()]);
  itGradchecks('a 2x4 grid, no prefix, pool_size 5', (x) => poolingMix(x, { height: 2, width: 4, prefixTokens: 0 }, 5), [randn([1, 8, 3], { seed: 2 }).requiresGrad_()]);
});

describeDevice('cuda:0', 'pooling, CUDA against the CPU', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`the module's output on CUDA matches the CPU's at B=8, N=197, E=384, ${dtype}`, () => {
      const seed = freshSeed();
      const c: Case = { label: 'N=197', B: 8, E: 384, grid: { height: 14, width: 14, prefixTokens: 1 } };
      assertClose(forward('cuda:0', dtype, c, seed).y, forward('cpu', dtype, c, seed).y, TOLERANCE[dtype], `${dtype} seed ${seed}`);
    });
  }
});

describe('pooling in a ViT and its errors', () => {
  itTrainsInViT({ mechanism: 'pooling' }, []);
  itTrainsInViT({ mechanism: 'pooling', pool_size: 5 }, []);
  it('takes the tokens (no qkv projection) and has no parameters of its own', () => {
    const model = buildViT({ ...SMALL, attention: { mechanism: 'pooling' } }, { seed: 1 });
    const names = [...model.parameters().keys()];
    assert.ok(!names.some((n) => n.includes('qkv') || n.includes('attn.attention')));
    model.dispose();
  });
  it('bad options, no grid, wrong tokens and a call on q, k, v throw saying what is wrong', () => {
    const g: MechanismGeometry = { dim: 8, heads: 2, grid: { height: 2, width: 2, prefixTokens: 1 } };
    assert.throws(() => makeModule('pooling', { pool_size: 2 }, g), /^RangeError: test: pooling option pool_size must be odd/);
    assert.throws(() => makeModule('pooling', { pool_size: 0 }, g), /^RangeError: test: pooling option pool_size must be at least 1/);
    assert.throws(() => makeModule('pooling', { pool_size: '3' }, g), /^TypeError: test: expected pooling option pool_size to be an integer/);
    assert.throws(() => makeModule('pooling', { window: 3 }, g), /^RangeError: test: mechanism 'pooling' takes no option 'window' \(it takes 'pool_size'\)/);
    assert.throws(() => new MultiHeadAttention(8, 2, { attention: { mechanism: 'pooling' } }), /^RangeError: MultiHeadAttention: mechanism 'pooling' mixes the tokens on their patch grid and needs it/);
    const m = makeModule('pooling', {}, g);
    const x = randn([1, 4, 8]);
    assert.throws(() => m.forwardTokens(x, {}), /^RangeError: pooling: expected tokens \[B, 5, E\] \(1 prefix tokens and a 2x2 grid\), got \[1, 4, 8\]/);
    const q = randn([1, 5, 2, 4]);
    assert.throws(() => attention(q, q, q, { mechanism: 'pooling' } as never), /mechanism 'pooling' works as a module only/);
    for (const t of [x, q]) t.dispose();
    m.dispose();
  });
});
