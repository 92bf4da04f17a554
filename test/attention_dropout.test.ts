// Attention's dropout (options.dropout, timm's attn_drop): 'vanilla' applies it to the
// probabilities it materializes, with the mask of dropout() over [B, H, Nq, Nk] at the words
// the generator hands out; mechanisms that never materialize them refuse it by name.
import * as assert from 'node:assert/strict';
import {
  attention, BlockSparseLayout, defaultGenerator, Device, dropout, FLOAT_DTYPES, RandomGenerator, gradcheck, matmul, randn, registerAttention, softmax,
  SparseMask, tensor, Tensor,
} from '../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice } from './helpers';
import { keepMaskRef } from './philox_reference';

const [B, N, H, D] = [2, 9, 3, 4];
const host = (t: Tensor) => t.dataSync() as Float32Array;
/** The words one call draws: one per probability, rounded up to a Philox block. */
const WORDS = Math.ceil((B * H * N * N) / 4) * 4;

/** Float64 attention with dropout on the probabilities: keep [B, H, Nq, Nk], scale 1/(1 − p). */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, keep: Uint8Array, p: number): Float64Array {
  const out = new Float64Array(B * N * H * D);
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < N; i++) {
        const s = Array.from({ length: N }, (_, j) => {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[((b * N + i) * H + h) * D + d] * k[((b * N + j) * H + h) * D + d];
          return dot * scale;
        });
        const max = Math.max(...s);
        const e = s.map((x) => Math.exp(x - max));
        const sum = e.reduce((a, x) => a + x, 0);
        for (let j = 0; j < N; j++) {
          const w = keep[((b * H + h) * N + i) * N + j] ? e[j] / sum / (1 - p) : 0;
          for (let d = 0; d < D; d++) out[((b * N + i) * H + h) * D + d] += w * v[((b * N + j) * H + h) * D + d];
        }
      }
    }
  }
  return out;
}

for (const device of DEVICES) {
  describeDevice(device, 'attention dropout', () => {
    for (const dtype of FLOAT_DTYPES) {
      it(`vanilla drops the probabilities dropout() would drop at the generator's words, ${dtype}`, () => {
        const [q, k, v] = [1, 2, 3].map((seed) => randn([B, N, H, D], { device, dtype, seed }));
        const gen = new RandomGenerator(31);
        gen.setState({ seed: 31, offset: 400 });
        const out = attention(q, k, v, { mechanism: 'vanilla', dropout: 0.25, generator: gen });
        assert.equal(gen.offset, 400 + WORDS, 'draws one word per probability');
        const keep = keepMaskRef(31, 400, B * H * N * N, 0.25);
        assertClose(host(out), reference(host(q), host(k), host(v), keep, 0.25), TOLERANCE[dtype] * 4, `${dtype}`);
        for (const t of [q, k, v, out]) t.dispose();
      });
    }

    it('dropout 0 changes nothing and draws nothing; dropout 1 gives zeros', () => {
      const [q, k, v] = [4, 5, 6].map((seed) => randn([B, N, H, D], { device, seed }));
      const g = defaultGenerator(device);
      const before = g.offset;
      const plain = host(attention(q, k, v, { mechanism: 'vanilla' }));
      assert.deepEqual(host(attention(q, k, v, { mechanism: 'vanilla', dropout: 0 })), plain);
      assert.equal(g.offset, before);
      assert.deepEqual(Array.from(host(attention(q, k, v, { mechanism: 'vanilla', dropout: 1 }))), new Array(B * N * H * D).fill(0));
      assert.equal(g.offset, before);
      const once = host(attention(q, k, v, { mechanism: 'vanilla', dropout: 0.5 }));
      assert.equal(g.offset, before + WORDS);
      assert.notDeepEqual(host(attention(q, k, v, { mechanism: 'vanilla', dropout: 0.5 })), once, 'the next call draws the next words');
      for (const t of [q, k, v]) t.dispose();
    });

    it('memory_efficient, sparse and block_sparse refuse dropout > 0 by name and draw nothing; dropout 0 they serve', () => {
      const [q, k, v] = [7, 8, 9].map((seed) => randn([1, 32, 2, 8], { device, seed }));
      const dense = tensor(new Uint8Array(32 * 32).fill(1), [32, 32], { device });
      const sparseMask = SparseMask.fromDense(dense);
      const layout = BlockSparseLayout.fromDense(new Uint8Array(4).fill(1), 16, { device, shape: [2, 2] });
      const g = defaultGenerator(device);
      const before = g.offset;
      for (const [mechanism, extra] of [['memory_efficient', {}], ['sparse', { mask: sparseMask }], ['block_sparse', { layout }]] as const) {
        assert.throws(() => attention(q, k, v, { mechanism, dropout: 0.1, ...extra }),
          new RegExp(`mechanism '${mechanism}' cannot serve[\\s\\S]*options.dropout = 0.1 needs the attention probabilities[\\s\\S]*use mechanism 'vanilla'`));
        attention(q, k, v, { mechanism, dropout: 0, ...extra }).dispose();
      }
      assert.equal(g.offset, before);
      for (const t of [q, k, v, dense]) t.dispose();
      sparseMask.dispose();
      layout.dispose();
    });

    it('a registered mechanism that does not say supportsDropout is refused dropout, one that does gets the draw', () => {
      const [q, k, v] = [10, 11, 12].map((seed) => randn([1, 4, 1, 2], { device, seed }));
      registerAttention('test_no_dropout', { notSupportedReasons: () => [], forward: (i) => i.v.contiguous() });
      assert.throws(() => attention(q, k, v, { mechanism: 'test_no_dropout', dropout: 0.5 }), /options.dropout = 0.5 needs the attention probabilities/);
      let seen: unknown = null;
      registerAttention('test_dropout', { supportsDropout: true, notSupportedReasons: () => [], forward: (i) => { seen = i.dropout; return i.v.contiguous(); } });
      attention(q, k, v, { mechanism: 'test_dropout', dropout: 0.5, generator: new RandomGenerator(3) }).dispose();
      assert.deepEqual(seen, { p: 0.5, seed: 3, offset: 0 });
      for (const t of [q, k, v]) t.dispose();
    });

    it('refuses a dropout outside [0, 1] and a generator that is not one', () => {
      const q = randn([1, 4, 1, 2], { device, seed: 13 });
      assert.throws(() => attention(q, q, q, { mechanism: 'vanilla', dropout: 1.5 }), /attention: expected options.dropout to be a probability in \[0, 1\]/);
      assert.throws(() => attention(q, q, q, { mechanism: 'vanilla', dropout: 0.5, generator: 3 as never }), /attention: expected options.generator to be a RandomGenerator/);
      q.dispose();
    });
  });
}

describe('attention dropout: the chain vanilla\'s backward goes through', () => {
  it('gradcheck of matmul(dropout(softmax(scale · q kᵀ)), v) with a fixed seed (CPU)', () => {
    const [q, k, v] = [14, 15, 16].map((seed) => randn([2, 5, 3], { seed }).requiresGrad_());
    const f = (a: Tensor, b: Tensor, c: Tensor) => matmul(dropout(softmax(matmul(a, b, { transposeB: true }), { scale: 0.5 }), 0.3, { seed: 9 }), c);
    assert.equal(gradcheck(f, [q, k, v]), true);
    for (const t of [q, k, v]) t.dispose();
  });
});

describe('attention dropout: vanilla\'s own gradient', () => {
  it('gradcheck of attention(q, k, v, {mechanism: vanilla, dropout: 0.3}) with a fixed draw, bias and a mask (CPU)', () => {
    const q = randn([2, 5, 2, 3], { seed: 21 }).requiresGrad_();
    const k = randn([2, 6, 2, 3], { seed: 22 }).requiresGrad_();
    const v = randn([2, 6, 2, 3], { seed: 23 }).requiresGrad_();
    const bias = randn([2, 1, 5, 6], { seed: 24 }).requiresGrad_();
    const f = (a: Tensor, b: Tensor, c: Tensor, d: Tensor) =>
      attention(a, b, c, { mechanism: 'vanilla', dropout: 0.3, bias: d, generator: new RandomGenerator(77) });
    assert.equal(gradcheck(f, [q, k, v, bias]), true);
    for (const t of [q, k, v, bias]) t.dispose();
  });
});
