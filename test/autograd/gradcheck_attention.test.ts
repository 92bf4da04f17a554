// Attention's gradients in every mechanism, by gradcheck (float64 finite differences around the
// float32 forward) on the CPU over awkward shapes: Nq = 1, Nq ≠ Nk, head dims 1, 12 and 40,
// N = 37, causal, a mask with a fully masked row, a bias with broadcast dims, block_sparse with
// a partial last block, sparse with empty rows and 1 or H mask heads, a fused qkv through
// splitQkv, and a mechanism registered from TypeScript.
import * as assert from 'node:assert/strict';
import {
  add, attention, AttentionOptions, backward, BlockSparseLayout, customOp, EncoderBlock, gradcheck, matmul, mean, mul, randn, registerAttention, softmax,
  SparseMask, splitQkv, tensor, Tensor, tidy,
} from '../../ts/index';

let seed = 900;
const leaf = (shape: number[]) => randn(shape, { seed: seed++ }).requiresGrad_();
const constant = (shape: number[]) => randn(shape, { seed: seed++ });

/** A seeded 0/1 [rows, cols] pattern of about `density`, with the rows in `emptyRows` all 0. */
function pattern(rows: number, cols: number, density: number, emptyRows: number[] = [], heads = 1): Uint8Array {
  let r = seed++ >>> 0;
  return Uint8Array.from({ length: heads * rows * cols }, (_, x) => {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    return emptyRows.includes(Math.floor(x / cols) % rows) ? 0 : (r >>> 8) / 2 ** 24 < density ? 1 : 0;
  });
}

interface Case { B: number; Nq: number; Nk: number; H: number; D: number }
const qkvOf = ({ B, Nq, Nk, H, D }: Case) => [leaf([B, Nq, H, D]), leaf([B, Nk, H, D]), leaf([B, Nk, H, D])];
const label = ({ B, Nq, Nk, H, D }: Case) => `B ${B}, Nq ${Nq}, Nk ${Nk}, H ${H}, D ${D}`;

function check(name: string, f: (...t: Tensor[]) => Tensor, inputs: () => Tensor[], cleanup: () => void = () => undefined): void {
  it(name, () => {
    const ts = inputs();
    try {
      assert.equal(gradcheck(f, ts, { rtol: 1e-4 }), true);
    } finally {
      for (const t of ts) t.dispose();
      cleanup();
    }
  });
}

const SHAPES: Case[] = [
  { B: 1, Nq: 1, Nk: 5, H: 2, D: 12 },
  { B: 2, Nq: 5, Nk: 7, H: 1, D: 1 },
  { B: 1, Nq: 3, Nk: 4, H: 1, D: 40 },
  { B: 1, Nq: 37, Nk: 37, H: 1, D: 3 },
  { B: 1, Nq: 6, Nk: 3, H: 2, D: 12 },
];

for (const mechanism of ['memory_efficient', 'vanilla']) {
  describe(`gradcheck: attention '${mechanism}'`, () => {
    const run = (options: AttentionOptions = {}) => (q: Tensor, k: Tensor, v: Tensor) => attention(q, k, v, { mechanism, ...options });
    for (const c of SHAPES) check(`${label(c)}: dq, dk, dv`, run(), () => qkvOf(c));
    for (const c of [SHAPES[0], SHAPES[3], SHAPES[4], { B: 1, Nq: 4, Nk: 9, H: 2, D: 12 }]) {
      check(`${label(c)}, causal`, run({ causal: true, scale: 0.7 }), () => qkvOf(c));
    }
    check('only v requires grad (q and k constant)', run(), () => [constant([1, 5, 2, 12]), constant([1, 6, 2, 12]), leaf([1, 6, 2, 12])]);

    const c: Case = { B: 2, Nq: 4, Nk: 6, H: 2, D: 5 };
    let mask: Tensor | null = null;
    check('a mask [B, 1, Nq, Nk] with a fully masked row (and one of all keys)', (q, k, v) => run({ mask })(q, k, v), () => {
      const keep = pattern(c.Nq, c.Nk, 0.6, [1], c.B);
      keep.fill(1, 3 * c.Nk, 4 * c.Nk); // row 3 of batch 0 attends every key
      mask = tensor(keep, [c.B, 1, c.Nq, c.Nk], { dtype: 'uint8' });
      return qkvOf(c);
    }, () => mask?.dispose());

    for (const biasShape of [[4, 6], [1, 2, 1, 6], [2, 2, 4, 6]]) {
      check(`a bias ${JSON.stringify(biasShape)} broadcast to [B, H, Nq, Nk], and its gradient`,
        (q, k, v, b) => run({ bias: b, causal: biasShape.length === 2 })(q, k, v), () => [...qkvOf(c), leaf(biasShape)]);
    }
    check('only the bias requires grad, under a mask', (q, k, v, b) => run({ bias: b, mask })(q, k, v), () => {
      mask = tensor(pattern(c.Nq, c.Nk, 0.7, [2]), [c.Nq, c.Nk], { dtype: 'uint8' });
      return [constant([c.B, c.Nq, c.H, c.D]), constant([c.B, c.Nk, c.H, c.D]), constant([c.B, c.Nk, c.H, c.D]), leaf([1, c.H, c.Nq, c.Nk])];
    }, () => mask?.dispose());

    it('a fully masked row: zero gradients for its query and bias row, nothing NaN', () => tidy(() => {
      const keep = pattern(c.Nq, c.Nk, 1, [2]);
      const m = tensor(keep, [c.Nq, c.Nk], { dtype: 'uint8' });
      const [q, k, v] = qkvOf(c);
      const bias = leaf([c.Nq, c.Nk]);
      backward(mean(mean(attention(q, k, v, { mechanism, mask: m, bias }), 3), 2), randn([c.B, c.Nq], { seed: 3 }));
      for (const t of [q, k, v, bias]) assert.ok((t.grad?.dataSync() as Float32Array).every(Number.isFinite), 'finite');
      const dq = q.grad?.dataSync() as Float32Array;
      for (let b = 0; b < c.B; b++) for (let x = 0; x < c.H * c.D; x++) assert.equal(dq[(b * c.Nq + 2) * c.H * c.D + x], 0, 'dq of the masked row');
      const db = bias.grad?.dataSync() as Float32Array;
      for (let j = 0; j < c.Nk; j++) assert.equal(db[2 * c.Nk + j], 0, 'dbias of the masked row');
    }));
  });
}

describe("gradcheck: attention 'block_sparse'", () => {
  const c: Case = { B: 1, Nq: 37, Nk: 37, H: 2, D: 4 }; // 16-blocks: the last one of 5 rows and keys
  let layout: BlockSparseLayout | null = null;
  let mask: Tensor | null = null;
  const blocks = (heads: number, off: number[]) => {
    const b = new Uint8Array(heads * 9).fill(1);
    for (const x of off) b[x] = 0;
    return BlockSparseLayout.fromDense(b, 16, { shape: heads === 1 ? [3, 3] : [heads, 3, 3] });
  };
  const run = (options: AttentionOptions = {}) => (q: Tensor, k: Tensor, v: Tensor, bias?: Tensor) =>
    attention(q, k, v, { mechanism: 'block_sparse', layout: layout as BlockSparseLayout, bias, ...options });
  check('a shared layout with off blocks (query block 1 sees none) and a partial last block', run(), () => {
    layout = blocks(1, [1, 3, 4, 5, 6]);
    return qkvOf(c);
  }, () => layout?.dispose());
  check('a layout per head, causal, with a bias [Nq, Nk]', run({ causal: true }), () => {
    layout = blocks(2, [2, 9 + 3, 9 + 7]);
    return [...qkvOf(c), leaf([c.Nq, c.Nk])];
  }, () => layout?.dispose());
  check('Nq 20 ≠ Nk 37, under a mask', (q, k, v) => run({ mask })(q, k, v), () => {
    layout = BlockSparseLayout.fromDense(Uint8Array.from([1, 0, 1, 1, 1, 0]), 16, { shape: [2, 3] });
    mask = tensor(pattern(20, 37, 0.8, [4]), [20, 37], { dtype: 'uint8' });
    return qkvOf({ B: 1, Nq: 20, Nk: 37, H: 1, D: 3 });
  }, () => { layout?.dispose(); mask?.dispose(); });
});

describe("gradcheck: attention 'sparse'", () => {
  let sm: SparseMask | null = null;
  const run = (sparsePath: string) => (q: Tensor, k: Tensor, v: Tensor) => attention(q, k, v, { mechanism: 'sparse', mask: sm as SparseMask, sparsePath });
  for (const path of ['csr', 'block']) {
    check(`${path}: one mask for every head, with empty rows, Nq 7 ≠ Nk 9`, run(path), () => {
      sm = SparseMask.fromDense(pattern(7, 9, 0.5, [0, 4]), [7, 9]);
      return qkvOf({ B: 2, Nq: 7, Nk: 9, H: 2, D: 3 });
    }, () => sm?.dispose());
    check(`${path}: a mask per head (maskHeads = H = 2), D 12, Nq 1`, run(path), () => {
      sm = SparseMask.fromDense(pattern(1, 6, 0.6, [], 2).fill(1, 0, 1), [2, 1, 6]);
      return qkvOf({ B: 1, Nq: 1, Nk: 6, H: 2, D: 12 });
    }, () => sm?.dispose());
  }
  check('csr: N 37, a key no query attends (zero dk, dv there)', run('csr'), () => {
    const m = pattern(37, 37, 0.3, [5, 36]);
    for (let i = 0; i < 37; i++) m[i * 37 + 11] = 0;
    sm = SparseMask.fromDense(m, [37, 37]);
    return qkvOf({ B: 1, Nq: 37, Nk: 37, H: 1, D: 2 });
  }, () => sm?.dispose());
});

describe('gradcheck: attention through splitQkv and in a registered mechanism', () => {
  check('a fused qkv [B, N, 3, H, D] split in place', (qkv) => {
    const { q, k, v } = splitQkv(qkv);
    return attention(q, k, v, { causal: true });
  }, () => [leaf([2, 5, 3, 2, 4])]);

  // softmax(q kᵀ · scale) v per head from ops that record, for [B, N, 1, D] inputs.
  registerAttention('gradcheck_recorded_ops', {
    notSupportedReasons: (i) => (i.q.shape[2] === 1 ? [] : ['one head only']),
    forward: ({ q, k, v, scale, bias }) => tidy(() => {
      const [B, Nq, , D] = q.shape;
      const q3 = q.reshape([B, Nq, D]);
      const scores = matmul(q3, k.reshape([B, k.shape[1], D]), { transposeB: true });
      const p = softmax(bias ? add(scores, bias.reshape([B, Nq, k.shape[1]])) : scores, { scale });
      return matmul(p, v.reshape([B, k.shape[1], D])).reshape([B, Nq, 1, D]);
    }),
  });
  check('a mechanism built from ops that record, with a bias', (q, k, v, b) => attention(q, k, v, { mechanism: 'gradcheck_recorded_ops', bias: b }),
    () => [...qkvOf({ B: 2, Nq: 3, Nk: 4, H: 1, D: 5 }), leaf([3, 4])]);

  const scaleV = customOp({
    name: 'scaleV',
    forward: (ctx, v: Tensor) => mul(v, 2),
    backward: (ctx, g) => mul(g, 2),
  });
  registerAttention('gradcheck_custom_op', { notSupportedReasons: () => [], forward: ({ v }) => scaleV(v) });
  check('a mechanism built with customOp', (q, k, v) => attention(q, k, v, { mechanism: 'gradcheck_custom_op' }),
    () => qkvOf({ B: 1, Nq: 3, Nk: 3, H: 2, D: 2 }));
});

describe('gradcheck: the encoder block trains through attention (op by op)', () => {
  for (const mechanism of ['memory_efficient', 'vanilla']) {
    it(`EncoderBlock (${mechanism}): gradcheck of x, and every parameter gets a finite gradient`, () => {
      const block = new EncoderBlock(8, 2, { attention: { mechanism }, qkvBias: true, seed: 7 });
      const x = leaf([1, 5, 8]);
      try {
        assert.equal(gradcheck((t) => block.forward(t), [x]), true);
        const params = [...block.parameters().values()];
        for (const p of params) p.requiresGrad_();
        tidy(() => backward(mean(mean(block.forward(x), 2), 1), randn([1], { seed: 4 })));
        for (const [name, p] of block.parameters()) {
          const g = p.grad;
          assert.ok(g !== null, `${name} has a gradient`);
          assert.ok((g.dataSync() as Float32Array).every(Number.isFinite), `${name}'s gradient is finite`);
        }
        assert.ok((block.attn.qkv!.weight.grad?.dataSync() as Float32Array).some((v) => v !== 0), 'the qkv weight gets a gradient through attention');
      } finally {
        x.dispose();
        for (const p of block.parameters().values()) p.requiresGrad_(false);
      }
    });
  }
});
