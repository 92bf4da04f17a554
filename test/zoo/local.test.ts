// Mechanism 'local' (ts/attention/zoo/local.ts): forward and gradients against float64 under
// the window mask written plainly (1-D, 2-D on a grid after prefix tokens, causal, with a
// bias), gradcheck, the cache of masks, the ViT by name, and every bad option.
import * as assert from 'node:assert/strict';
import { attention, AttentionOptions, buildViT, FLOAT_DTYPES, randn, tensor, tidy } from '../../ts/index';
import { localMasks } from '../../ts/attention/zoo/local';
import { DEVICES, describeDevice, freshSeed, host } from '../helpers';
import {
  attendTen, caseLabel, checkLayerMatches, checkMaskGradients, checkMaskParity, localMaskReference, MaskCase, SMALL_VIT, trainViTStep,
} from './masks_reference';

interface LocalCase extends MaskCase { window: number; grid?: [number, number]; prefix?: number; sparsePath?: 'csr' | 'block' }

const CASES: LocalCase[] = [
  { B: 1, N: 1, H: 1, D: 12, window: 7 },
  { B: 2, N: 197, H: 3, D: 12, window: 7 },
  { B: 1, N: 197, H: 2, D: 12, window: 3, grid: [14, 14], prefix: 1 },
  { B: 1, N: 37, H: 2, D: 12, window: 5, grid: [5, 7], prefix: 2, causal: true },
  { B: 2, N: 100, H: 2, D: 12, window: 5, prefix: 1, bias: true },
  { B: 1, N: 70, H: 1, D: 12, window: 9, causal: true, sparsePath: 'block' },
];

function optionsOf(c: LocalCase): AttentionOptions {
  const o: AttentionOptions = { mechanism: 'local', window_size: c.window, prefix_tokens: c.prefix ?? 0, sparsePath: c.sparsePath };
  return c.grid ? { ...o, dims: 2, grid_size: c.grid } : o;
}

for (const device of DEVICES) {
  describeDevice(device, 'mechanism local against float64', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        const what = `window ${c.window}${c.grid ? ` on a ${c.grid.join(' x ')} grid` : ''}${c.prefix ? `, ${c.prefix} prefix` : ''}${c.sparsePath ? `, ${c.sparsePath} path` : ''}`;
        it(`${what}, ${caseLabel(c)}, ${dtype}: out and gradients`, () => {
          checkMaskParity(device, dtype, optionsOf(c), localMaskReference(c.N, c.window, c.grid ?? null, c.prefix ?? 0), c, freshSeed());
        });
      }
    }
  });
}

describe('gradcheck: mechanism local (CPU)', () => {
  it('1-D window 3, N 9, H 2, D 3', () => checkMaskGradients({ mechanism: 'local', window_size: 3 }, { B: 1, N: 9, H: 2, D: 3 }));
  it('2-D window 3 on 3 x 3 after a class token, causal', () => checkMaskGradients({ mechanism: 'local', window_size: 3, dims: 2, grid_size: [3, 3], prefix_tokens: 1 }, { B: 2, N: 10, H: 1, D: 4, causal: true }));
  it('1-D window 5 with a bias (dq, dk, dv, dbias)', () => checkMaskGradients({ mechanism: 'local', window_size: 5 }, { B: 1, N: 8, H: 2, D: 3, bias: true }));
});

describe('mechanism local: its mask is built once per (N, options)', () => {
  it('a second call reuses the mask; another N or window builds one more', () => {
    const q = randn([1, 31, 2, 8], { seed: 1 });
    const q2 = randn([1, 32, 2, 8], { seed: 2 });
    const o = { mechanism: 'local', window_size: 11, prefix_tokens: 3 };
    try {
      const before = localMasks.size;
      const a = tidy(() => host(attention(q, q, q, o)));
      const after = localMasks.size;
      assert.ok(after === before + 1 || after === 16, `one mask built (${before} -> ${after})`);
      const b = tidy(() => host(attention(q, q, q, o)));
      assert.equal(localMasks.size, after, 'the same options reuse it');
      assert.deepEqual(b, a);
      tidy(() => attention(q2, q2, q2, o));
      tidy(() => attention(q, q, q, { ...o, window_size: 13 }));
      assert.ok(localMasks.size === Math.min(16, after + 2), 'another N and another window each build one');
    } finally {
      q.dispose();
      q2.dispose();
    }
  });
});

describe('mechanism local in the ViT', () => {
  it('by name, 2-D on the patch grid with the class token global: forward and one training step', () => {
    trainViTStep({ mechanism: 'local', window_size: 3, dims: 2 }).dispose();
  });

  it('by name, 1-D: forward and one training step', () => {
    trainViTStep({ mechanism: 'local', window_size: 5 }, 3).dispose();
  });

  it('the layer reads its grid and class token from the geometry', () => {
    checkLayerMatches({ mechanism: 'local', window_size: 3, dims: 2 }, { mechanism: 'local', window_size: 3, dims: 2, grid_size: [4, 4], prefix_tokens: 1 });
    checkLayerMatches({ mechanism: 'local', window_size: 5 }, { mechanism: 'local', window_size: 5, prefix_tokens: 1 }, 1);
  });
});

describe('mechanism local: bad options', () => {
  const q = () => randn([1, 10, 1, 4], { seed: 5 });
  const run = (o: Record<string, unknown>) => attendTen('local', o);
  it('window_size, dims, grid_size and prefix_tokens are checked, naming attention and the option', () => {
    assert.throws(() => run({ window_size: 4 }), /attention: options.window_size counts the token and two equal wings, so it must be odd, got 4/);
    assert.throws(() => run({ window_size: 0 }), /attention: options.window_size must be at least 1/);
    assert.throws(() => run({ window_size: '3' }), /attention: expected options.window_size to be an integer/);
    assert.throws(() => run({ dims: 3 }), /attention: expected options.dims to be 1 \(over the sequence\) or 2/);
    assert.throws(() => run({ dims: 2 }), /attention: options.dims 2 needs options.grid_size/);
    assert.throws(() => run({ grid_size: [2, 5] }), /attention: options.grid_size is read with dims 2 only/);
    assert.throws(() => run({ dims: 2, grid_size: [3, 3] }), /attention: mechanism 'local' over a 3 x 3 grid after 0 prefix tokens needs N = 9, got 10/);
    assert.throws(() => run({ dims: 2, grid_size: [3] }), /attention: expected options.grid_size to be an array \[height, width\]/);
    assert.throws(() => run({ prefix_tokens: 11 }), /attention: options.prefix_tokens \(11\) is more than the 10 tokens/);
    assert.throws(() => run({ window: 3 }), /attention: mechanism 'local' has no option 'window' \(its options: window_size, dims, grid_size, prefix_tokens\)/);
  });

  it('a mask, Nq != Nk and dropout are refused', () => {
    const x = q();
    const k = randn([1, 12, 1, 4], { seed: 6 });
    const m = tensor(new Uint8Array(100).fill(1), [10, 10], { dtype: 'uint8' });
    try {
      assert.throws(() => attention(x, x, x, { mechanism: 'local', mask: m }), /attention: mechanism 'local' makes its own mask: pass no options.mask/);
      assert.throws(() => attention(x, k, k, { mechanism: 'local' }), /mechanism 'local' cannot serve these inputs[^]*Nq = 10 and Nk = 12 differ/);
      assert.throws(() => attention(x, x, x, { mechanism: 'local', dropout: 0.1 }), /options.dropout = 0.1 needs the attention probabilities/);
    } finally {
      for (const t of [x, k, m]) t.dispose();
    }
  });

  it('in the ViT, a bad option throws naming the layer; the grid must fit its tokens', () => {
    assert.throws(() => buildViT({ ...SMALL_VIT, attention: { mechanism: 'local', window_size: 2 } }), /MultiHeadAttention: options.window_size counts the token/);
    assert.throws(() => buildViT({ ...SMALL_VIT, attention: { mechanism: 'local', dims: 2, grid_size: [3, 3] } }), /MultiHeadAttention: mechanism 'local' over a 3 x 3 grid after 1 prefix tokens needs N = 10, got 17/);
    assert.throws(() => buildViT({ ...SMALL_VIT, attention: { mechanism: 'local', size: 3 } }), /MultiHeadAttention: mechanism 'local' has no option 'size'/);
  });
});
