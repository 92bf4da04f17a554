// Mechanism 'random' (ts/attention/zoo/random.ts): its mask's draw (each key kept at the ratio,
// the diagonal always, seeded), forward and gradients against float64 under that mask,
// gradcheck, the module (fixed in eval, redrawn per call in training, each training mask freed
// with its tape), the ViT by name, and every bad option.
import * as assert from 'node:assert/strict';
import { buildViT, FLOAT_DTYPES, manualSeed, mean, noGrad, ones, randn, tidy } from '../../ts/index';
import type { MultiHeadAttention, Tensor } from '../../ts/index';
import { randomMask } from '../../ts/attention/zoo/random';
import { DEVICES, describeDevice, freshSeed, host } from '../helpers';
import {
  attendTen, caseLabel, checkLayerMatches, checkMaskGradients, checkMaskParity, MaskCase, SMALL_VIT, trainViTStep,
} from './masks_reference';

/** The mask of (ratio, seed) as a dense [n, n] Uint8Array. */
function denseRandom(n: number, ratio: number, seed: number, causal = false): Uint8Array {
  const m = randomMask(n, ratio, seed, causal);
  const t = m.toDense();
  try {
    return Uint8Array.from(t.dataSync() as Uint8Array);
  } finally {
    t.dispose();
    m.dispose();
  }
}

describe('mechanism random: the mask', () => {
  it('each key other than the query is kept with probability ratio, the diagonal always (n 300, ratio 0.2)', () => {
    const [n, ratio] = [300, 0.2];
    const m = denseRandom(n, ratio, 1);
    let kept = 0, early = 0, late = 0;
    for (let i = 0; i < n; i++) {
      assert.equal(m[i * n + i], 1, `row ${i} keeps its diagonal`);
      for (let j = 0; j < n; j++) {
        if (j === i || m[i * n + j] === 0) continue;
        kept++;
        if (j < n / 2) early++; else late++;
      }
    }
    const trials = n * (n - 1);
    const sd = Math.sqrt(trials * ratio * (1 - ratio));
    assert.ok(Math.abs(kept - trials * ratio) < 6 * sd, `kept ${kept}, expected ${trials * ratio} ± ${sd.toFixed(0)}`);
    assert.ok(Math.abs(early - late) < 6 * Math.sqrt(kept), `keys spread over the row: ${early} in the first half, ${late} in the second`);
  });

  it('ratio 0 keeps the diagonal only, ratio 1 every key; the causal mask is the mask\'s lower triangle', () => {
    assert.deepEqual([...denseRandom(4, 0, 3)], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    assert.ok(denseRandom(5, 1, 3).every((x) => x === 1));
    const [n, full, tril] = [40, denseRandom(40, 0.3, 7), denseRandom(40, 0.3, 7, true)];
    tril.forEach((x, e) => assert.equal(x, Math.floor(e / n) >= e % n ? full[e] : 0, `entry ${e}`));
  });

  it('a seed gives one mask; another seed another', () => {
    assert.deepEqual(denseRandom(50, 0.1, 9), denseRandom(50, 0.1, 9));
    assert.notDeepEqual(denseRandom(50, 0.1, 9), denseRandom(50, 0.1, 10));
  });
});

interface RandomCase extends MaskCase { ratio: number; seed: number }

const CASES: RandomCase[] = [
  { B: 1, N: 1, H: 1, D: 12, ratio: 0.5, seed: 1 },
  { B: 2, N: 197, H: 3, D: 12, ratio: 0.1, seed: 2 },
  { B: 1, N: 197, H: 2, D: 12, ratio: 0.3, seed: 3, causal: true },
  { B: 2, N: 53, H: 2, D: 12, ratio: 0.5, seed: 4, bias: true },
];

for (const device of DEVICES) {
  describeDevice(device, 'mechanism random against float64', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        it(`ratio ${c.ratio}, seed ${c.seed}, ${caseLabel(c)}, ${dtype}: out and gradients`, () => {
          const mask = denseRandom(c.N, c.ratio, c.seed, c.causal);
          checkMaskParity(device, dtype, { mechanism: 'random', ratio: c.ratio, seed: c.seed }, mask, c, freshSeed());
        });
      }
    }
  });
}

describe('gradcheck: mechanism random (CPU)', () => {
  it('ratio 0.3, N 9, H 2, D 3', () => checkMaskGradients({ mechanism: 'random', ratio: 0.3, seed: 5 }, { B: 1, N: 9, H: 2, D: 3 }));
  it('ratio 0.5, causal, with a bias (dq, dk, dv, dbias)', () => checkMaskGradients({ mechanism: 'random', ratio: 0.5, seed: 6 }, { B: 2, N: 6, H: 1, D: 4, causal: true, bias: true }));
});

describe('mechanism random in a layer', () => {
  const heldMasks = (attn: MultiHeadAttention) => (attn.attentionModule as unknown as { heldMasks: number }).heldMasks;

  it('eval: the fixed mask of its seed, the function form\'s', () => {
    checkLayerMatches({ mechanism: 'random', ratio: 0.3, seed: 11 }, { mechanism: 'random', ratio: 0.3, seed: 11 });
  });

  /** body(attn, tokens) with block 0's attention of a small ViT under 'random' in training mode. */
  function training(body: (attn: MultiHeadAttention, tokens: Tensor, dispose: () => void) => void): void {
    const model = buildViT({ ...SMALL_VIT, attention: { mechanism: 'random', ratio: 0.3 } }, { seed: 1 });
    const tokens = randn([2, 17, 24], { seed: 2 });
    model.train();
    try {
      body(model.blocks[0].attn, tokens, () => model.dispose());
    } finally {
      tokens.dispose();
      model.dispose();
    }
  }

  it('training: a new mask every call, the same again after manualSeed', () => training((attn, tokens) => {
    manualSeed(21);
    const first = tidy(() => host(attn.forward(tokens)));
    const second = tidy(() => host(attn.forward(tokens)));
    assert.notDeepEqual(second, first, 'two training calls draw two masks');
    manualSeed(21);
    assert.deepEqual(tidy(() => host(attn.forward(tokens))), first, 'the same draw after manualSeed');
  }));

  it('training: each mask is held while its tape lives, and freed with it', () => training((attn, tokens, disposeModel) => {
    const first = attn.forward(tokens);
    const second = attn.forward(tokens);
    assert.equal(heldMasks(attn), 2, 'both tapes alive: both masks held');
    first.dispose();
    assert.equal(heldMasks(attn), 1, 'the first tape freed with its output: its mask freed');
    tidy(() => mean(mean(second, 2), 1).backward(ones([2], {})));
    second.dispose();
    assert.equal(heldMasks(attn), 0, 'backward used the second tape: its mask freed');
    noGrad(() => tidy(() => attn.forward(tokens)));
    assert.equal(heldMasks(attn), 0, 'nothing recorded: the mask freed at once');
    const third = attn.forward(tokens);
    assert.equal(heldMasks(attn), 1);
    disposeModel();
    assert.equal(heldMasks(attn), 0, 'disposing the model frees the masks it holds');
    third.dispose();
  }));

  it('by name in the ViT: forward and one training step', () => {
    trainViTStep({ mechanism: 'random', ratio: 0.25 }).dispose();
  });
});

describe('mechanism random: bad options', () => {
  const run = (o: Record<string, unknown>) => attendTen('random', o);
  it('ratio and seed are checked, naming attention and the option', () => {
    assert.throws(() => run({ ratio: -0.1 }), /attention: options.ratio is the fraction of keys kept, in \[0, 1\], got -0.1/);
    assert.throws(() => run({ ratio: 1.5 }), /attention: options.ratio is the fraction of keys kept/);
    assert.throws(() => run({ ratio: '0.1' }), /attention: expected options.ratio to be a number/);
    assert.throws(() => run({ seed: -1 }), /attention: options.seed must be at least 0/);
    assert.throws(() => run({ seed: 2 ** 32 }), /attention: options.seed must be below 2\^32/);
    assert.throws(() => run({ seed: 0.5 }), /attention: expected options.seed to be an integer/);
    assert.throws(() => run({ r: 0.1 }), /attention: mechanism 'random' has no option 'r' \(its options: ratio, seed\)/);
  });

  it('in the ViT: bad options throw naming the layer; training refuses attn_drop', () => {
    assert.throws(() => buildViT({ ...SMALL_VIT, attention: { mechanism: 'random', ratio: 2 } }), /MultiHeadAttention: options.ratio is the fraction of keys kept/);
    const model = buildViT({ ...SMALL_VIT, attention: { mechanism: 'random' }, attn_drop_rate: 0.1 } as never, { seed: 1 });
    const x = randn([1, 3, 32, 32], { seed: 2 });
    try {
      model.train();
      assert.throws(() => tidy(() => model.forward(x)), /attn_drop_rate \(attnDrop\) = 0.1 needs the attention probabilities, which mechanism 'random' never materializes/);
    } finally {
      x.dispose();
      model.dispose();
    }
  });
});
