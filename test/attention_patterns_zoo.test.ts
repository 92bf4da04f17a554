// The pattern helpers of issue 26 (ALiBi, dilated 2-D, the fixed / variable / Longformer block
// layouts, block-sparsify, grid and axial distances) against matrices written out by hand and
// plain float64 references.
import * as assert from 'node:assert/strict';
import { attention, BlockSparseLayout, patterns, randn, tensor, Tensor } from '../ts/index';
import type { Pattern } from '../ts/index';
import { attentionReference } from './attention_reference';
import { assertClose, host } from './helpers';

const P = patterns;

function assertPattern(actual: Pattern, expected: string[]): void {
  assert.equal(actual.toString(), expected.join('\n'));
}

/** Dense blocks of a layout as rows of '0'/'1'. */
function layoutRows(layout: BlockSparseLayout): string[] {
  const t = layout.toDense();
  try {
    const d = t.dataSync() as Uint8Array;
    const cols = layout.cols;
    return Array.from({ length: d.length / cols }, (_, r) => d.subarray(r * cols, (r + 1) * cols).join(''));
  } finally {
    t.dispose();
  }
}

describe('attention pattern helpers of the mechanism zoo', function () {
  describe('ALiBi', function () {
    it('alibiSlopes: 2^(-8 (h + 1) / H) for a power of two; the odd slopes of 2n appended otherwise (the paper\'s get_slopes)', function () {
      assert.deepEqual([...P.alibiSlopes(8)], [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
      assert.deepEqual([...P.alibiSlopes(1)], [2 ** -8]);
      assert.deepEqual([...P.alibiSlopes(3)], [2 ** -4, 2 ** -8, 2 ** -2]);
      const twelve = [...[1, 2, 3, 4, 5, 6, 7, 8].map((k) => 2 ** -k), 2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5];
      assertClose(P.alibiSlopes(12), twelve, 1e-15, 'alibiSlopes(12)');
    });

    it('alibi(3, 5) is -m_h |i - j| as an [H, N, N] float32 tensor', function () {
      const t = P.alibi(3, 5);
      try {
        assert.deepEqual(t.shape, [3, 5, 5]);
        assert.equal(t.dtype, 'float32');
        const m = P.alibiSlopes(3);
        const want = new Float64Array(75);
        for (let h = 0; h < 3; h++) for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) want[(h * 5 + i) * 5 + j] = -m[h] * Math.abs(i - j);
        assertClose(host(t), want, 1e-7, 'alibi');
      } finally {
        t.dispose();
      }
    });

    it('as attention\'s bias it matches the float64 reference (N = 197, H = 3, D = 12)', function () {
      const [B, N, H, D] = [2, 197, 3, 12];
      const q = randn([B, N, H, D], { seed: 1 }), k = randn([B, N, H, D], { seed: 2 }), v = randn([B, N, H, D], { seed: 3 });
      const bias = P.alibi(H, N);
      const out = attention(q, k, v, { bias });
      try {
        const b = host(bias);
        const full = new Float64Array(B * H * N * N);
        for (let x = 0; x < B; x++) full.set(b, x * H * N * N);
        const want = attentionReference({ B, Nq: N, Nk: N, H, D, scale: 1 / Math.sqrt(D), causal: false, mask: null, bias: full }, host(q), host(k), host(v));
        assertClose(host(out), want, 1e-5, 'attention with alibi');
      } finally {
        for (const t of [q, k, v, bias, out]) t.dispose();
      }
    });

    it('takes a float dtype; bad heads, n and dtype throw naming alibi', function () {
      const t = P.alibi(2, 3, { dtype: 'bfloat16' });
      assert.equal(t.dtype, 'bfloat16');
      t.dispose();
      assert.throws(() => P.alibi(0, 3), /alibi: heads must be at least 1/);
      assert.throws(() => P.alibi(2, -1), /alibi: n must be at least 0/);
      assert.throws(() => P.alibi(2, 3, { dtype: 'int32' as never }), /alibi: expected options.dtype to be a float dtype/);
      assert.throws(() => P.alibiSlopes(1.5), /alibiSlopes: expected heads to be an integer/);
    });
  });

  describe('dilated2d', function () {
    it('dilated2d(3, 3, 1, 2) keeps offsets 0 and ±2 on both axes', function () {
      assertPattern(P.dilated2d(3, 3, 1, 2), [
        '101000101', '010000010', '101000101', '000101000', '000010000', '000101000', '101000101', '010000010', '101000101',
      ]);
    });

    it('matches a plain reference on 5 x 7, and dilation 1 is the square window of local2d', function () {
      const [h, w, window, dilation] = [5, 7, 2, 2];
      const got = P.dilated2d(h, w, window, dilation);
      const want = P.Pattern.fromFunction(h * w, h * w, (a, b) => {
        const dr = Math.abs(Math.floor(a / w) - Math.floor(b / w)), dc = Math.abs((a % w) - (b % w));
        return dr % dilation === 0 && dc % dilation === 0 && dr <= window * dilation && dc <= window * dilation;
      });
      assert.ok(got.equals(want));
      assert.ok(P.dilated2d(4, 6, 1, 1).equals(P.local2d(4, 6, 2, Infinity)));
      assert.ok(P.dilated2d(1, 8, 2, 2).equals(P.dilated(8, 2, 2)));
    });

    it('bad arguments throw naming dilated2d', function () {
      assert.throws(() => P.dilated2d(3, 3, 1, 0), /dilated2d: dilation must be at least 1/);
      assert.throws(() => P.dilated2d(3, -3, 1, 1), /dilated2d: w must be at least 0/);
    });
  });

  describe('block layouts (xFormers\' sparsity configs)', function () {
    it('fixedLayout(6, { localBlocks: 3 }): windows of 3, the last block of each global', function () {
      assertPattern(P.fixedLayout(6, { localBlocks: 3 }), ['111001', '111001', '111001', '001111', '001111', '001111']);
    });

    it('fixedLayout unidirectional, with a short last window whose global block is clipped to the end', function () {
      assertPattern(P.fixedLayout(7, { localBlocks: 3, attention: 'unidirectional' }), [
        '1000000', '1100000', '1110000', '0011000', '0011100', '0011110', '0010011',
      ]);
    });

    it('fixedLayout pattern 1 with horizontal global attention', function () {
      assertPattern(P.fixedLayout(6, { localBlocks: 3, horizontalGlobal: true, pattern: 1 }), [
        '111010', '111111', '111010', '010111', '111111', '010111',
      ]);
    });

    it('variableLayout: window sizes [1, 2] (the last repeating), no global, bidirectional', function () {
      assertPattern(P.variableLayout(7, { localWindows: [1, 2], globalIndices: [] }), [
        '1000000', '0110000', '0110000', '0001100', '0001100', '0000011', '0000011',
      ]);
    });

    it('variableLayout unidirectional with global block 0 (its column from row 0 down)', function () {
      assertPattern(P.variableLayout(7, { localWindows: [1, 2], attention: 'unidirectional' }), [
        '1000000', '1100000', '1110000', '1001000', '1001100', '1000010', '1000011',
      ]);
    });

    it('variableLayout global ranges, clipped at the end, with horizontal global attention', function () {
      assertPattern(P.variableLayout(6, { localWindows: [2], globalIndices: [1, 4], globalEnds: [2, 9], horizontalGlobal: true }), [
        '110011', '111111', '011111', '011111', '111111', '111111',
      ]);
    });

    it('variableLayout random blocks: k distinct per row, seeded; below the diagonal when unidirectional', function () {
      const k = 3;
      const a = P.variableLayout(20, { randomBlocks: k, localWindows: [1], globalIndices: [], seed: 5 });
      for (let r = 0; r < 20; r++) {
        let extra = 0;
        for (let c = 0; c < 20; c++) if (c !== r && a.get(r, c)) extra++;
        assert.ok(a.get(r, r) && (extra === k || extra === k - 1), `row ${r}: the diagonal and ${k} random blocks (one may be the diagonal), got ${extra}`);
      }
      assert.ok(a.equals(P.variableLayout(20, { randomBlocks: k, localWindows: [1], globalIndices: [], seed: 5 })));
      assert.ok(!a.equals(P.variableLayout(20, { randomBlocks: k, localWindows: [1], globalIndices: [], seed: 6 })));
      const uni = P.variableLayout(20, { randomBlocks: k, attention: 'unidirectional', seed: 5 });
      assert.ok(uni.equals(uni.intersection(P.causal(20))), 'nothing above the diagonal');
    });

    it('longformerLayout: a sliding window and global block 0; unidirectional keeps the lower triangle', function () {
      assertPattern(P.longformerLayout(5), ['11111', '11100', '11110', '10111', '10011']);
      assertPattern(P.longformerLayout(5, { attention: 'unidirectional' }), ['10000', '11000', '11100', '10110', '10011']);
    });

    it('longformerLayout global ranges', function () {
      assertPattern(P.longformerLayout(6, { slidingWindowBlocks: 1, globalIndices: [2], globalEnds: [4] }), [
        '101100', '011100', '111111', '111111', '001110', '001101',
      ]);
    });

    it('a layout drives block_sparse attention, the same as the dense mask it expands to', function () {
      const [B, N, H, D, bs] = [1, 100, 2, 12, 16];
      const blocks = P.longformerLayout(Math.ceil(N / bs), { globalIndices: [0] });
      const layout = BlockSparseLayout.fromDense(blocks, bs);
      const q = randn([B, N, H, D], { seed: 4 }), k = randn([B, N, H, D], { seed: 5 }), v = randn([B, N, H, D], { seed: 6 });
      const expanded = P.layoutToPattern(blocks, bs);
      const mask = P.Pattern.fromFunction(N, N, (i, j) => expanded.get(i, j));
      const got = attention(q, k, v, { mechanism: 'block_sparse', layout });
      try {
        const full = new Uint8Array(B * H * N * N);
        for (let h = 0; h < B * H; h++) full.set(mask.data, h * N * N);
        const want = attentionReference({ B, Nq: N, Nk: N, H, D, scale: 1 / Math.sqrt(D), causal: false, mask: full, bias: null }, host(q), host(k), host(v));
        assertClose(host(got), want, 1e-5, 'block_sparse over a Longformer layout');
      } finally {
        for (const t of [q, k, v, got]) t.dispose();
        layout.dispose();
      }
    });

    it('bad options throw naming the layout and the option', function () {
      assert.throws(() => P.fixedLayout(8, { localBlocks: 4, globalBlocks: 3 }), /fixedLayout: options.globalBlocks \(3\) must divide options.localBlocks \(4\)/);
      assert.throws(() => P.fixedLayout(8, { attention: 'unidirectional', horizontalGlobal: true }), /fixedLayout: options.horizontalGlobal needs bidirectional attention/);
      assert.throws(() => P.fixedLayout(8, { pattern: 4 }), /fixedLayout: options.pattern must be below/);
      assert.throws(() => P.fixedLayout(8, { attention: 'both' as never }), /fixedLayout: expected options.attention/);
      assert.throws(() => P.variableLayout(4, { randomBlocks: 5 }), /variableLayout: options.randomBlocks \(5\) is more than the 4 blocks/);
      assert.throws(() => P.variableLayout(4, { localWindows: [] }), /variableLayout: options.localWindows needs at least one/);
      assert.throws(() => P.variableLayout(4, { globalIndices: [1], globalEnds: [1] }), /variableLayout: global range 0 is \[1, 1\)/);
      assert.throws(() => P.longformerLayout(4, { globalIndices: [0, 1], globalEnds: [2] }), /longformerLayout: options.globalEnds has 1 entries/);
      assert.throws(() => P.longformerLayout(-1), /longformerLayout: blocks must be at least 0/);
      assert.throws(() => P.longformerLayout(4, null as never), /longformerLayout: expected options to be an object/);
    });
  });

  describe('blockSparsify', function () {
    /** The blocks of a [heads, rows, cols] array whose sums are positive and at least threshold, as rows of '0'/'1'. */
    function blocksReference(values: ArrayLike<number>, heads: number, rows: number, cols: number, bs: number, threshold: number): string[] {
      const Rb = Math.ceil(rows / bs), Cb = Math.ceil(cols / bs);
      const out: string[] = [];
      for (let h = 0; h < heads; h++) {
        for (let bi = 0; bi < Rb; bi++) {
          let line = '';
          for (let bj = 0; bj < Cb; bj++) {
            let sum = 0;
            for (let i = bi * bs; i < Math.min(rows, (bi + 1) * bs); i++) {
              for (let j = bj * bs; j < Math.min(cols, (bj + 1) * bs); j++) sum += values[(h * rows + i) * cols + j];
            }
            line += sum > 0 && sum >= threshold ? '1' : '0';
          }
          out.push(line);
        }
      }
      return out;
    }

    it('a mask keeps the blocks with any entry (50 x 70 in blocks of 16), or with at least threshold entries', function () {
      const mask = P.random(70, 0.01, 3);
      const rect = P.Pattern.fromFunction(50, 70, (i, j) => mask.get(i, j));
      for (const threshold of [0, 2]) {
        const layout = P.blockSparsify(rect, 16, { threshold });
        try {
          assert.deepEqual(layout.shape, [4, 5]);
          assert.deepEqual(layoutRows(layout), blocksReference(rect.data, 1, 50, 70, 16, threshold));
        } finally {
          layout.dispose();
        }
      }
    });

    it('weights (a Gaussian fall-off) keep the blocks holding enough mass', function () {
      const weights = P.gaussian2d(8, 8, 1.5);
      const layout = P.blockSparsify(weights, 16, { threshold: 1 });
      try {
        assert.deepEqual(layoutRows(layout), blocksReference(weights.data, 1, 64, 64, 16, 1));
        assert.ok(layout.activeBlocks > 0 && layout.activeBlocks < 16, `some blocks dropped (${layout.activeBlocks} of 16 on)`);
      } finally {
        layout.dispose();
      }
    });

    it('an [H, N, N] tensor gives a layout per head; a uint8 mask counts each nonzero entry once', function () {
      const values = new Float32Array(2 * 40 * 40);
      values[5 * 40 + 30] = 0.25;
      values[40 * 40 + 39 * 40 + 1] = 3;
      const t = tensor(values, [2, 40, 40]);
      const m = tensor(Uint8Array.from([7, 0, 0, 0]), [2, 2], { dtype: 'uint8' });
      const layouts = [P.blockSparsify(t, 32, { threshold: 0.5 }), P.blockSparsify(m, 16, { threshold: 1 }), P.blockSparsify(m, 16, { threshold: 2 })];
      try {
        assert.deepEqual(layouts[0].shape, [2, 2, 2]);
        assert.deepEqual(layoutRows(layouts[0]), blocksReference(values, 2, 40, 40, 32, 0.5));
        assert.deepEqual(layoutRows(layouts[0]), ['00', '00', '00', '10']);
        assert.deepEqual(layoutRows(layouts[1]), ['1']);
        assert.deepEqual(layoutRows(layouts[2]), ['0'], 'the 7 counts once');
      } finally {
        for (const x of [t, m] as Tensor[]) x.dispose();
        for (const l of layouts) l.dispose();
      }
    });

    it('bad input, block size, weights and threshold throw naming blockSparsify', function () {
      assert.throws(() => P.blockSparsify(P.causal(4), 8), /blockSparsify: expected blockSize to be one of 16, 32, 64, 128/);
      assert.throws(() => P.blockSparsify({ rows: 1, cols: 2, data: Float64Array.from([1, -1]) }, 16), /blockSparsify: input entry \(0, 1\) is -1/);
      assert.throws(() => P.blockSparsify(P.causal(4), 16, { threshold: -1 }), /blockSparsify: options.threshold must be finite and non-negative/);
      assert.throws(() => P.blockSparsify([1, 2] as never, 16), /blockSparsify: expected input to be a Tensor, a pattern/);
      const r1 = tensor(new Float32Array(4), [4]);
      assert.throws(() => P.blockSparsify(r1, 16), /blockSparsify: input must be \[N, N\] or \[H, N, N\]/);
      r1.dispose();
    });
  });

  describe('grid and axial distances', function () {
    /** The plain reference: the weighted p-norm between the row-major tokens of an h x w grid. */
    function distanceReference(h: number, w: number, p: number, weights: [number, number]): Float64Array {
      const out = new Float64Array(h * w * h * w);
      for (let a = 0; a < h * w; a++) {
        for (let b = 0; b < h * w; b++) {
          const d = [Math.abs(Math.floor(a / w) - Math.floor(b / w)) * weights[0], Math.abs((a % w) - (b % w)) * weights[1]];
          out[a * h * w + b] = p === 0 ? d.filter((x) => x !== 0).length : p === Infinity ? Math.max(...d) : (d[0] ** p + d[1] ** p) ** (1 / p);
        }
      }
      return out;
    }

    for (const p of [0, 1, 2, 3, Infinity]) {
      it(`localNdDistance([4, 5], p = ${p}) and the axial distances match the plain reference`, function () {
        assertClose(P.localNdDistance([4, 5], p).data, distanceReference(4, 5, p, [1, 1]), 1e-15, 'local');
        assertClose(P.horizontalAxial2dDistance(4, 5, p).data, distanceReference(4, 5, p, [1, 0]), 1e-15, 'horizontal');
        assertClose(P.verticalAxial2dDistance(4, 5, p).data, distanceReference(4, 5, p, [0, 1]), 1e-15, 'vertical');
        assertClose(P.localNdDistance([4, 5], p, [0.5, 2]).data, distanceReference(4, 5, p, [0.5, 2]), 1e-15, 'weighted');
      });
    }

    it('thresholds of the distances are the local and axial patterns', function () {
      const below = (m: { rows: number; cols: number; data: Float64Array }, d: number) => P.Pattern.fromFunction(m.rows, m.cols, (i, j) => m.data[i * m.cols + j] < d);
      assert.ok(below(P.localNdDistance([5, 6], 2), 2.5).equals(P.local2d(5, 6, 2.5)));
      assert.ok(below(P.localNdDistance([5, 6], 0), 2).equals(P.axial2d(5, 6)));
      const sameRow = below(P.horizontalAxial2dDistance(3, 4), 1);
      assert.ok(sameRow.equals(P.Pattern.fromFunction(12, 12, (a, b) => Math.floor(a / 4) === Math.floor(b / 4))));
    });

    it('bad arguments throw naming localNdDistance', function () {
      assert.throws(() => P.localNdDistance([3, 3], 2, [1]), /localNdDistance: weights has 1 entries but the grid has 2 axes/);
      assert.throws(() => P.localNdDistance([3, 3], -1), /localNdDistance: p must be/);
      assert.throws(() => P.localNdDistance([3, 3], 2, [1, NaN]), /localNdDistance/);
      assert.throws(() => P.horizontalAxial2dDistance(-1, 3), /localNdDistance: shape\[0\] must be at least 0/);
    });
  });
});
