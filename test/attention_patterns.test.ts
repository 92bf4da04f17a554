// The attention pattern generators (ts/attention/patterns.ts) against small matrices written
// out by hand, their algebra, their seeds, and the ViT notebook's mask that timm was run with.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { patterns, readSafetensors } from '../ts/index';
import type { Pattern } from '../ts/index';
import { requireFixtures } from './helpers';

const P = patterns;

/** A pattern from rows of '0'/'1' characters. */
function lit(rows: string[]): Pattern {
  return P.Pattern.fromFunction(rows.length, rows[0]?.length ?? 0, (i, j) => rows[i][j] === '1');
}

function assertPattern(actual: Pattern, expected: string[]): void {
  assert.equal(actual.toString(), expected.join('\n'));
}

describe('attention patterns', function () {
  describe('Pattern', function () {
    const p = lit(['101', '011']);

    it('get, nnz and density read the row-major data', function () {
      assert.equal(p.rows, 2);
      assert.equal(p.cols, 3);
      assert.deepEqual([...p.data], [1, 0, 1, 0, 1, 1]);
      assert.equal(p.get(0, 2), true);
      assert.equal(p.get(1, 0), false);
      assert.equal(p.nnz, 4);
      assert.equal(p.density, 4 / 6);
      assert.equal(lit(['']).density, 0);
    });

    it('union and intersection as methods and functions', function () {
      const q = lit(['110', '010']);
      assertPattern(p.union(q), ['111', '011']);
      assertPattern(p.intersection(q), ['100', '010']);
      assert.ok(P.union(p, q).equals(p.union(q)));
      assert.ok(P.intersection(p, q).equals(p.intersection(q)));
      assert.ok(p.union().equals(p));
    });

    it('equals compares size and entries', function () {
      assert.ok(p.equals(lit(['101', '011'])));
      assert.ok(!p.equals(lit(['101', '010'])));
      assert.ok(!p.equals(lit(['10', '01', '11'])));
      assert.ok(p.equals({ rows: 2, cols: 3, data: Uint8Array.from([1, 0, 1, 0, 1, 1]) }));
    });

    it('toTensor gives a uint8 [rows, cols] CPU tensor holding the pattern', function () {
      const t = p.toTensor({ device: 'cpu' });
      try {
        assert.deepEqual(t.shape, [2, 3]);
        assert.equal(t.dtype, 'uint8');
        assert.equal(t.device, 'cpu');
        const back = new P.Pattern(2, 3, Uint8Array.from(t.dataSync()));
        assert.ok(back.equals(p));
      } finally {
        t.dispose();
      }
    });

    it('toTensor copies: changing the pattern later leaves the tensor alone', function () {
      const q = lit(['10', '01']);
      const t = q.toTensor();
      try {
        q.data[1] = 1;
        assert.deepEqual([...t.dataSync()], [1, 0, 0, 1]);
      } finally {
        t.dispose();
      }
    });
  });

  describe('generators against hand-computed matrices', function () {
    it('local1d(5, 3) is the band |i - j| <= 1', function () {
      assertPattern(P.local1d(5, 3), [
        '11000',
        '11100',
        '01110',
        '00111',
        '00011',
      ]);
    });

    it('local2d(3, 3, 2) takes the 8 neighbours (diagonals at sqrt 2 < 2, not the tokens at distance 2)', function () {
      assertPattern(P.local2d(3, 3, 2), [
        '110110000',
        '111111000',
        '011011000',
        '110110110',
        '111111111',
        '011011011',
        '000110110',
        '000111111',
        '000011011',
      ]);
    });

    it('local2d(3, 3, 2, p = 1) drops the diagonals (L1 distance 2 is not < 2)', function () {
      assertPattern(P.local2d(3, 3, 2, 1), [
        '110100000',
        '111010000',
        '011001000',
        '100110100',
        '010111010',
        '001011001',
        '000100110',
        '000010111',
        '000001011',
      ]);
    });

    it('axial2d(2, 3) is same row or same column', function () {
      assertPattern(P.axial2d(2, 3), [
        '111100',
        '111010',
        '111001',
        '100111',
        '010111',
        '001111',
      ]);
    });

    it('causal(4) is the lower triangle with the diagonal', function () {
      assertPattern(P.causal(4), [
        '1000',
        '1100',
        '1110',
        '1111',
      ]);
    });

    it('globalTokens(4, [0]) is row 0 and column 0', function () {
      assertPattern(P.globalTokens(4, [0]), [
        '1111',
        '1000',
        '1000',
        '1000',
      ]);
    });

    it('globalTokens(4, [1, 3, 3]) is rows and columns 1 and 3', function () {
      assertPattern(P.globalTokens(4, [1, 3, 3]), [
        '0101',
        '1111',
        '0101',
        '1111',
      ]);
    });

    it('dilated(8, 2, 2) takes offsets 0, ±2, ±4', function () {
      assertPattern(P.dilated(8, 2, 2), [
        '10101000',
        '01010100',
        '10101010',
        '01010101',
        '10101010',
        '01010101',
        '00101010',
        '00010101',
      ]);
    });

    // Written out from Swin's own construction (roll by -shift, 2 x 2 windows, region mask).
    it('swin(4, 4, 2, 0) is four 2 x 2 windows', function () {
      assertPattern(P.swin(4, 4, 2, 0), [
        '1100110000000000',
        '1100110000000000',
        '0011001100000000',
        '0011001100000000',
        '1100110000000000',
        '1100110000000000',
        '0011001100000000',
        '0011001100000000',
        '0000000011001100',
        '0000000011001100',
        '0000000000110011',
        '0000000000110011',
        '0000000011001100',
        '0000000011001100',
        '0000000000110011',
        '0000000000110011',
      ]);
    });

    it('swin(4, 4, 2, 1) splits each axis into {0}, {1, 2}, {3}: nine groups after the cyclic shift and region mask', function () {
      assertPattern(P.swin(4, 4, 2, 1), [
        '1000000000000000',
        '0110000000000000',
        '0110000000000000',
        '0001000000000000',
        '0000100010000000',
        '0000011001100000',
        '0000011001100000',
        '0000000100010000',
        '0000100010000000',
        '0000011001100000',
        '0000011001100000',
        '0000000100010000',
        '0000000000001000',
        '0000000000000110',
        '0000000000000110',
        '0000000000000001',
      ]);
    });

    it('bigBird(8, 2, 1 global, 3 window, 0 random) expands the block layout [1111, 1110, 1111, 1011]', function () {
      assertPattern(P.bigBird(8, 2, 1, 3, 0, 0), [
        '11111111',
        '11111111',
        '11111100',
        '11111100',
        '11111111',
        '11111111',
        '11001111',
        '11001111',
      ]);
    });

    it('layoutToPattern expands each block entry to a block x block square', function () {
      assertPattern(P.layoutToPattern(lit(['10', '01']), 2), [
        '1100',
        '1100',
        '0011',
        '0011',
      ]);
    });

    it('withClassToken prepends a dense row and column', function () {
      assertPattern(P.withClassToken(P.causal(3)), [
        '1111',
        '1100',
        '1110',
        '1111',
      ]);
    });

    it('gaussian2d(2, 2, 1) is exp(-d²/2) between the grid tokens, not normalized (as xFormers)', function () {
      const g = P.gaussian2d(2, 2, 1);
      assert.equal(g.rows, 4);
      assert.equal(g.cols, 4);
      const a = Math.exp(-0.5);
      const b = Math.exp(-1);
      const expected = [1, a, a, b, a, 1, b, a, a, b, 1, a, b, a, a, 1];
      expected.forEach((v, k) => assert.ok(Math.abs(g.data[k] - v) < 1e-15, `entry ${k}: ${g.data[k]} vs ${v}`));
    });

    it('gaussian2d(3, 3, 2) weighs d² = 4 at exp(-0.5)', function () {
      const g = P.gaussian2d(3, 3, 2);
      assert.ok(Math.abs(g.data[0 * 9 + 2] - Math.exp(-0.5)) < 1e-15);
      assert.ok(Math.abs(g.data[0 * 9 + 8] - Math.exp(-1)) < 1e-15);
    });
  });

  describe('generators against each other', function () {
    it('local1d(n, 2k + 1) is localNd([n], k + 1, p = 1), as xFormers defines it', function () {
      for (const [n, w] of [[1, 1], [7, 1], [7, 5], [9, 7], [4, 11]]) {
        assert.ok(P.local1d(n, w).equals(P.localNd([n], (w + 1) / 2, 1)), `n=${n} window=${w}`);
      }
    });

    it('localNd over two dimensions is local2d, for p = 0, 1, 2, 3 and Infinity', function () {
      for (const p of [0, 1, 2, 3, Infinity]) {
        assert.ok(P.localNd([4, 5], 2.5, p).equals(P.local2d(4, 5, 2.5, p)), `p=${p}`);
      }
    });

    it('localNd([2, 3, 4], 1.5, p = 1) is each token with its face neighbours in 3-D', function () {
      const expected = P.Pattern.fromFunction(24, 24, (a, b) => {
        const ca = [Math.floor(a / 12), Math.floor(a / 4) % 3, a % 4];
        const cb = [Math.floor(b / 12), Math.floor(b / 4) % 3, b % 4];
        return ca.reduce((s, x, k) => s + Math.abs(x - cb[k]), 0) <= 1;
      });
      assert.ok(P.localNd([2, 3, 4], 1.5, 1).equals(expected));
    });

    it('axial2d is local2d with p = 0 below 2, and the union of the row and column patterns', function () {
      assert.ok(P.axial2d(5, 3).equals(P.local2d(5, 3, 2, 0)));
      const rows = P.Pattern.fromFunction(15, 15, (a, b) => Math.floor(a / 3) === Math.floor(b / 3));
      const cols = P.Pattern.fromFunction(15, 15, (a, b) => a % 3 === b % 3);
      assert.ok(P.axial2d(5, 3).equals(rows.union(cols)));
    });

    it('dilated(n, w, 1) is local1d(n, 2w + 1)', function () {
      assert.ok(P.dilated(9, 2, 1).equals(P.local1d(9, 5)));
    });

    it('swin patterns are symmetric, and with shift 0 each token has its window² window tokens', function () {
      const s = P.swin(6, 4, 2, 1);
      for (let i = 0; i < s.rows; i++) for (let j = 0; j < s.cols; j++) assert.equal(s.get(i, j), s.get(j, i));
      assert.equal(P.swin(6, 6, 3, 0).nnz, 36 * 9);
    });
  });

  describe('algebra', function () {
    const a = P.local1d(12, 3);
    const b = P.causal(12);
    const c = P.random(12, 0.3, 1);

    it('union and intersection are commutative, associative and idempotent', function () {
      assert.ok(P.union(a, b).equals(P.union(b, a)));
      assert.ok(P.intersection(a, b).equals(P.intersection(b, a)));
      assert.ok(P.union(P.union(a, b), c).equals(P.union(a, P.union(b, c))));
      assert.ok(P.intersection(P.intersection(a, b), c).equals(P.intersection(a, P.intersection(b, c))));
      assert.ok(P.union(a, a).equals(a));
      assert.ok(P.intersection(a, a).equals(a));
    });

    it('absorption and distribution hold', function () {
      assert.ok(P.union(a, P.intersection(a, b)).equals(a));
      assert.ok(P.intersection(a, P.union(a, b)).equals(a));
      assert.ok(P.intersection(a, P.union(b, c)).equals(P.union(P.intersection(a, b), P.intersection(a, c))));
    });

    it('nnz(a | b) + nnz(a & b) = nnz(a) + nnz(b)', function () {
      assert.equal(P.union(a, b).nnz + P.intersection(a, b).nnz, a.nnz + b.nnz);
    });

    it('the band is the causal pattern and its transpose intersected with local1d', function () {
      const upper = P.Pattern.fromFunction(12, 12, (i, j) => j >= i);
      assert.ok(P.intersection(P.union(b, upper), a).equals(a));
      assert.ok(P.intersection(b, upper).equals(P.local1d(12, 1)));
    });
  });

  describe('seeds and densities', function () {
    it('random: the same seed gives the same pattern, another seed another', function () {
      assert.ok(P.random(64, 0.2, 5).equals(P.random(64, 0.2, 5)));
      assert.ok(!P.random(64, 0.2, 5).equals(P.random(64, 0.2, 6)));
    });

    it('random(1000, density) lands within 0.005 of the density', function () {
      for (const [density, seed] of [[0.01, 1], [0.1, 2], [0.5, 3]]) {
        const d = P.random(1000, density, seed).density;
        assert.ok(Math.abs(d - density) < 0.005, `density ${density}: got ${d}`);
      }
    });

    it('random with density 0 is empty and with density 1 is dense', function () {
      assert.equal(P.random(30, 0, 9).nnz, 0);
      assert.equal(P.random(30, 1, 9).nnz, 900);
    });

    it('randomFromProbability draws exactly nnz entries, never a zero-weight one', function () {
      const n = 40;
      const weights = P.gaussian2d(5, 8, 1.5);
      // Zero out a checkerboard, then draw every positive entry but a few, and few.
      for (let k = 0; k < weights.data.length; k++) if ((Math.floor(k / n) + k) % 2 === 1) weights.data[k] = 0;
      const positive = weights.data.filter((v) => v > 0).length;
      for (const nnz of [0, 1, 37, positive - 3, positive]) {
        for (const seed of [1, 2, 3]) {
          const p = P.randomFromProbability(weights, nnz, seed);
          assert.equal(p.nnz, nnz, `nnz ${nnz} seed ${seed}`);
          for (let k = 0; k < p.data.length; k++) {
            if (p.data[k]) assert.ok(weights.data[k] > 0, `entry ${k} has weight 0 but was drawn (nnz ${nnz} seed ${seed})`);
          }
        }
      }
    });

    it('randomFromProbability: the same seed gives the same pattern, another seed another', function () {
      const g = P.gaussian2d(6, 6, 2);
      assert.ok(P.randomFromProbability(g, 100, 4).equals(P.randomFromProbability(g, 100, 4)));
      assert.ok(!P.randomFromProbability(g, 100, 4).equals(P.randomFromProbability(g, 100, 5)));
    });

    it('randomFromProbability samples without replacement in proportion to the weights', function () {
      // Weights [1, 1, 2], two draws: the heavy entry is in the set with probability
      // 2/4 + 2 * (1/4)(2/3) = 5/6 (sequential draws without replacement, as torch.multinomial).
      const m = { rows: 1, cols: 3, data: Float64Array.from([1, 1, 2]) };
      const trials = 3000;
      let heavy = 0;
      for (let seed = 0; seed < trials; seed++) heavy += P.randomFromProbability(m, 2, seed).data[2];
      assert.ok(Math.abs(heavy / trials - 5 / 6) < 0.03, `heavy entry drawn in ${heavy / trials} of trials, expected 5/6`);
    });

    it('bigBird random blocks: each non-global block row gets exactly `randoms` new blocks, seeded', function () {
      const n = 20;
      const block = 2;
      const p = P.bigBird(n, block, 1, 1, 2, 11);
      assert.ok(p.equals(P.bigBird(n, block, 1, 1, 2, 11)));
      assert.ok(!p.equals(P.bigBird(n, block, 1, 1, 2, 12)));
      const nb = n / block;
      for (let r = 0; r < nb; r++) {
        let blocks = 0;
        for (let c = 0; c < nb; c++) {
          // every token of a block agrees with the block's first token
          const on = p.get(r * block, c * block);
          for (let i = 0; i < block; i++) for (let j = 0; j < block; j++) assert.equal(p.get(r * block + i, c * block + j), on);
          if (on) blocks++;
        }
        assert.ok(p.get(r * block, 0) && p.get(0, r * block), `block row ${r}: global block missing`);
        assert.ok(p.get(r * block, r * block), `block row ${r}: window block missing`);
        // global row dense; others: global + itself + 2 random
        assert.equal(blocks, r === 0 ? nb : 4, `block row ${r}`);
      }
    });

    it('bigBird with more random blocks than remain makes those rows dense', function () {
      assert.equal(P.bigBird(8, 2, 1, 1, 10, 3).nnz, 64);
    });
  });

  describe('vitNotebook against the mask timm was run with', function () {
    const H = 14;
    const N = H * H + 1;
    let fixture: Pattern;

    before(async function () {
      const dir = requireFixtures(this, ['vit_notebook_sparse.io.safetensors']);
      const file = await readSafetensors(path.join(dir, 'vit_notebook_sparse.io.safetensors'));
      const entry = file.tensors.get('attn_mask');
      assert.ok(entry, 'vit_notebook_sparse.io.safetensors has no attn_mask');
      assert.equal(entry.dtype, 'U8');
      assert.deepEqual(entry.shape, [N, N]);
      fixture = new P.Pattern(N, N, Uint8Array.from(entry.bytes));
    });

    // The deterministic part over patches. Whether local2d keeps distance < 2 or <= 2 cannot
    // be told from this mask: the only tokens at exactly distance 2 lie on the same row or
    // column, which axial2d holds anyway. The fixture does hold every diagonal neighbour, so
    // the local part is the Euclidean (p = 2) one, as the notebook's.
    const deterministic = () => P.withClassToken(P.union(P.axial2d(H, H), P.local2d(H, H, 2)));

    it('the fixture holds the class row and column and axial | local2d(distance 2) over the patches', function () {
      const det = deterministic();
      assert.ok(P.intersection(fixture, det).equals(det), 'fixture misses entries of the deterministic part');
    });

    it('ours holds the same deterministic part, and the fixture agrees with ours on it', function () {
      const det = deterministic();
      for (const seed of [0, 1]) {
        const ours = P.vitNotebook(H, H, seed);
        assert.equal(ours.rows, N);
        assert.ok(P.intersection(ours, det).equals(det), `seed ${seed}: ours misses entries of the deterministic part`);
        assert.ok(P.intersection(ours, det).equals(P.intersection(fixture, det)));
      }
    });

    it(`ours is as dense as the fixture's ${0.194} within 0.02`, function () {
      assert.ok(Math.abs(fixture.density - 0.194) < 0.001, `fixture density ${fixture.density}`);
      for (const seed of [0, 1, 2]) {
        const d = P.vitNotebook(H, H, seed).density;
        assert.ok(Math.abs(d - fixture.density) <= 0.02, `seed ${seed}: density ${d} vs fixture ${fixture.density}`);
      }
    });

    it('the same seed gives the same mask, another seed another', function () {
      assert.ok(P.vitNotebook(H, H, 3).equals(P.vitNotebook(H, H, 3)));
      assert.ok(!P.vitNotebook(H, H, 3).equals(P.vitNotebook(H, H, 4)));
    });
  });

  describe('argument errors name the function', function () {
    const cases: [string, () => unknown, typeof TypeError | typeof RangeError, string][] = [
      ['local1d non-integer n', () => P.local1d(2.5, 3), TypeError, 'local1d'],
      ['local1d negative n', () => P.local1d(-1, 3), RangeError, 'local1d'],
      ['local1d even window', () => P.local1d(5, 2), RangeError, 'local1d'],
      ['local2d negative h', () => P.local2d(-3, 3, 2), RangeError, 'local2d'],
      ['local2d string distance', () => P.local2d(3, 3, '2' as unknown as number), TypeError, 'local2d'],
      ['local2d negative p', () => P.local2d(3, 3, 2, -1), RangeError, 'local2d'],
      ['localNd non-array shape', () => P.localNd(4 as unknown as number[], 2), TypeError, 'localNd'],
      ['localNd fractional dim', () => P.localNd([2, 1.5], 2), TypeError, 'localNd'],
      ['axial2d non-integer w', () => P.axial2d(2, 0.5), TypeError, 'axial2d'],
      ['random density above 1', () => P.random(4, 1.5, 0), RangeError, 'random'],
      ['random density below 0', () => P.random(4, -0.1, 0), RangeError, 'random'],
      ['random NaN density', () => P.random(4, NaN, 0), TypeError, 'random'],
      ['random missing seed', () => (P.random as (n: number, d: number) => unknown)(4, 0.5), TypeError, 'random'],
      ['random too large', () => P.random(100000, 0.5, 0), RangeError, 'random'],
      ['gaussian2d sigma 0', () => P.gaussian2d(3, 3, 0), RangeError, 'gaussian2d'],
      ['gaussian2d negative sigma', () => P.gaussian2d(3, 3, -1), RangeError, 'gaussian2d'],
      ['gaussian2d infinite sigma', () => P.gaussian2d(3, 3, Infinity), RangeError, 'gaussian2d'],
      ['randomFromProbability too many', () => P.randomFromProbability({ rows: 1, cols: 3, data: Float64Array.from([1, 0, 1]) }, 3, 0), RangeError, 'randomFromProbability'],
      ['randomFromProbability negative weight', () => P.randomFromProbability({ rows: 1, cols: 2, data: Float64Array.from([1, -1]) }, 1, 0), RangeError, 'randomFromProbability'],
      ['randomFromProbability wrong length', () => P.randomFromProbability({ rows: 2, cols: 2, data: new Float64Array(3) }, 1, 0), TypeError, 'randomFromProbability'],
      ['randomFromProbability negative nnz', () => P.randomFromProbability(P.gaussian2d(2, 2, 1), -1, 0), RangeError, 'randomFromProbability'],
      ['globalTokens index out of range', () => P.globalTokens(4, [4]), RangeError, 'globalTokens'],
      ['globalTokens fractional index', () => P.globalTokens(4, [0.5]), TypeError, 'globalTokens'],
      ['causal non-integer', () => P.causal(1.5), TypeError, 'causal'],
      ['swin grid not divisible', () => P.swin(5, 4, 2, 0), RangeError, 'swin'],
      ['swin shift too large', () => P.swin(4, 4, 2, 2), RangeError, 'swin'],
      ['swin window 0', () => P.swin(4, 4, 0, 0), RangeError, 'swin'],
      ['dilated dilation 0', () => P.dilated(8, 2, 0), RangeError, 'dilated'],
      ['bigBird n not divisible', () => P.bigBird(9, 2, 1, 3, 1, 0), RangeError, 'bigBird'],
      ['bigBird even windows', () => P.bigBird(8, 2, 1, 2, 1, 0), RangeError, 'bigBird'],
      ['bigBird too many globals', () => P.bigBird(8, 2, 5, 3, 1, 0), RangeError, 'bigBird'],
      ['union mismatched sizes', () => P.union(P.causal(3), P.causal(4)), RangeError, 'union'],
      ['union of nothing', () => P.union(), RangeError, 'union'],
      ['intersection mismatched sizes', () => P.intersection(P.causal(3), P.axial2d(2, 2)), RangeError, 'intersection'],
      ['union with a non-pattern', () => P.union(P.causal(3), {} as Pattern), TypeError, 'union'],
      ['withClassToken non-pattern', () => P.withClassToken(null as unknown as Pattern), TypeError, 'withClassToken'],
      ['vitNotebook negative h', () => P.vitNotebook(-14, 14, 0), RangeError, 'vitNotebook'],
      ['Pattern wrong data length', () => new P.Pattern(2, 2, new Uint8Array(3)), RangeError, 'Pattern'],
      ['Pattern entry not 0/1', () => new P.Pattern(1, 1, Uint8Array.from([2])), RangeError, 'Pattern'],
      ['Pattern.get out of range', () => P.causal(2).get(2, 0), RangeError, 'Pattern.get'],
    ];
    for (const [label, call, type, fn] of cases) {
      it(`${label}: ${type.name} from ${fn}`, function () {
        assert.throws(call, (e: unknown) => e instanceof type && (e as Error).message.startsWith(`${fn}: `));
      });
    }
  });
});
