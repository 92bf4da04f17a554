// Mechanism 'global' (ts/attention/zoo/global.ts): forward and gradients against float64 under
// the global-token mask written plainly, gradcheck, the ViT by name (its class token global by
// default), and every bad option.
import * as assert from 'node:assert/strict';
import { attention, AttentionOptions, buildViT, FLOAT_DTYPES, randn, tidy } from '../../ts/index';
import { globalMasks } from '../../ts/attention/zoo/global';
import { assertClose, DEVICES, describeDevice, freshSeed, host } from '../helpers';
import {
  attendTen, caseLabel, checkLayerMatches, checkMaskGradients, checkMaskParity, globalMaskReference, MaskCase, SMALL_VIT, trainViTStep,
} from './masks_reference';

interface GlobalCase extends MaskCase { tokens: number[]; options: AttentionOptions }

const CASES: GlobalCase[] = [
  { B: 1, N: 1, H: 1, D: 12, tokens: [0], options: {} },
  { B: 2, N: 197, H: 3, D: 12, tokens: [0], options: { num_global_tokens: 1 } },
  { B: 1, N: 197, H: 2, D: 12, tokens: [3, 50, 196], options: { global_tokens: [196, 3, 50, 3] } },
  { B: 1, N: 45, H: 2, D: 12, tokens: [0, 1, 2, 3], options: { num_global_tokens: 4 }, causal: true },
  { B: 2, N: 61, H: 2, D: 12, tokens: [7, 8], options: { global_tokens: [7, 8] }, bias: true },
];

for (const device of DEVICES) {
  describeDevice(device, 'mechanism global against float64', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        it(`global tokens ${c.tokens.join(', ')}, ${caseLabel(c)}, ${dtype}: out and gradients`, () => {
          checkMaskParity(device, dtype, { mechanism: 'global', ...c.options }, globalMaskReference(c.N, c.tokens), c, freshSeed());
        });
      }
    }
  });
}

describe('gradcheck: mechanism global (CPU)', () => {
  it('tokens 0 and 5 of 9, H 2, D 3', () => checkMaskGradients({ mechanism: 'global', global_tokens: [0, 5] }, { B: 1, N: 9, H: 2, D: 3 }));
  it('the first 2, causal, with a bias (dq, dk, dv, dbias)', () => checkMaskGradients({ mechanism: 'global', num_global_tokens: 2 }, { B: 2, N: 6, H: 1, D: 4, causal: true, bias: true }));
});

describe('mechanism global', () => {
  it('a token that is not global sees only the global tokens: its output is their values\' mix, whatever its own', () => {
    const q = randn([1, 6, 1, 4], { seed: 1 });
    const v = randn([1, 6, 1, 4], { seed: 2 });
    try {
      const out = tidy(() => host(attention(q, q, v, { mechanism: 'global', num_global_tokens: 1 })));
      const v0 = host(v).subarray(0, 4);
      for (let i = 1; i < 6; i++) assertClose(out.subarray(i * 4, i * 4 + 4), v0, 1e-6, `token ${i} takes token 0's value`);
    } finally {
      q.dispose();
      v.dispose();
    }
  });

  it('one mask per set of global tokens, whatever their order', () => {
    const q = randn([1, 12, 1, 4], { seed: 3 });
    try {
      tidy(() => attention(q, q, q, { mechanism: 'global', global_tokens: [2, 9] }));
      const size = globalMasks.size;
      const a = tidy(() => host(attention(q, q, q, { mechanism: 'global', global_tokens: [9, 2, 2] })));
      assert.equal(globalMasks.size, size);
      assert.deepEqual(a, tidy(() => host(attention(q, q, q, { mechanism: 'global', global_tokens: [2, 9] }))));
    } finally {
      q.dispose();
    }
  });
});

describe('mechanism global in the ViT', () => {
  it('by name: forward and one training step', () => {
    trainViTStep({ mechanism: 'global' }).dispose();
  });

  it('the class token (the layer\'s prefix) is the default global token', () => {
    checkLayerMatches({ mechanism: 'global' }, { mechanism: 'global', global_tokens: [0] }, 1);
  });
});

describe('mechanism global: bad options', () => {
  const run = (o: Record<string, unknown>) => attendTen('global', o);
  it('global_tokens and num_global_tokens are checked, naming attention and the option', () => {
    assert.throws(() => run({ global_tokens: [1], num_global_tokens: 1 }), /attention: pass options.global_tokens \(which tokens\) or options.num_global_tokens \(the first n\), not both/);
    assert.throws(() => run({ global_tokens: [] }), /attention: expected options.global_tokens to be a non-empty array of token indices/);
    assert.throws(() => run({ global_tokens: 3 }), /attention: expected options.global_tokens to be a non-empty array/);
    assert.throws(() => run({ global_tokens: [1, -2] }), /attention: options.global_tokens\[1\] must be at least 0/);
    assert.throws(() => run({ global_tokens: [1, 10] }), /attention: global token 10 is not one of the 10 tokens/);
    assert.throws(() => run({ num_global_tokens: 0 }), /attention: options.num_global_tokens must be at least 1/);
    assert.throws(() => run({ num_global_tokens: 11 }), /attention: global token 10 is not one of the 10 tokens/);
    assert.throws(() => run({ tokens: [1] }), /attention: mechanism 'global' has no option 'tokens' \(its options: global_tokens, num_global_tokens\)/);
  });

  it('in the ViT, a bad option throws naming the layer', () => {
    assert.throws(() => buildViT({ ...SMALL_VIT, attention: { mechanism: 'global', global_tokens: [17] } }), /MultiHeadAttention: global token 17 is not one of the 17 tokens/);
  });
});
