import * as assert from 'node:assert/strict';
import {
  add, concat, Device, empty, FLOAT_DTYPES, FloatDType, mean, mul, permute, randn, residualAdd, slice, sub, Tensor, tensor,
  transpose,
} from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, poisoned, AWKWARD_SHAPES } from '../helpers';
import { binaryRef, concatRef, meanRef, permuteRef } from '../reference';

const host = (t: Tensor) => t.dataSync() as Float32Array | Int32Array | Uint8Array;
const list = (t: Tensor) => Array.from(t.dataSync());

const SHAPES = AWKWARD_SHAPES;
const BROADCASTS: [number[], number[]][] = [
  [[197, 96], [96]], [[2, 1, 97], [3, 1]], [[1], [197, 12]], [[197, 1], [1, 96]], [[2, 3, 197, 197], [197, 197]],
  [[3, 4099], [3, 1]], [[0, 96], [96]], [[197, 12], [0, 1, 12]], [[2, 197, 96], [2, 1, 96]],
];
const OPS = [['add', add], ['sub', sub], ['mul', mul]] as const;

function checkBinary(device: Device, dtype: FloatDType, aShape: number[], bShape: number[], alpha?: number): void {
  for (const [name, op] of OPS) {
    const seed = freshSeed();
    const a = randn(aShape, { dtype, device, seed });
    const b = randn(bShape, { dtype, device, seed: seed + 1 });
    const ref = binaryRef(name, host(a), aShape, host(b), bShape, alpha);
    const out = poisoned(ref.shape, dtype, device);
    assert.equal(op(a, b, { alpha, out }), out);
    assertClose(host(out), ref.out, TOLERANCE[dtype], `${name} [${aShape}] [${bShape}] alpha ${alpha} ${dtype} seed ${seed}`);
    for (const t of [a, b, out]) t.dispose();
  }
}

for (const device of DEVICES) {
  describeDevice(device, 'elementwise and shape ops', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const shape of SHAPES) {
        it(`add, sub and mul match float64 at [${shape}] ${dtype}`, () => checkBinary(device, dtype, shape, shape));
      }
      it(`add, sub and mul broadcast a and b by numpy rules and apply alpha, matching float64, ${dtype}`, () => {
        for (const [aShape, bShape] of BROADCASTS) checkBinary(device, dtype, aShape, bShape, 0.75);
      });
      it(`add, sub and mul with a number b match float64, ${dtype}`, () => {
        const seed = freshSeed();
        const x = randn([197, 97], { dtype, device, seed });
        const xs = host(x);
        const cases: [Tensor, (v: number) => number][] = [
          [mul(x, 0.37), (v) => v * 0.37], [add(x, 2, { alpha: 0.5 }), (v) => v + 1], [sub(x, 3), (v) => v - 3], [mul(x, -2, { alpha: 0.25 }), (v) => v * -0.5],
        ];
        for (const [i, [y, f]] of cases.entries()) {
          assert.deepEqual(y.shape, [197, 97]);
          assertClose(host(y), Array.from(xs, f), TOLERANCE[dtype], `case ${i} ${dtype} seed ${seed}`);
          y.dispose();
        }
        x.dispose();
      });
      it(`add reads transposed and sliced operands, matching float64, ${dtype}`, () => {
        const seed = freshSeed();
        const base = randn([96, 197], { dtype, device, seed });
        const wide = randn([197, 128], { dtype, device, seed: seed + 1 });
        const a = base.transpose();
        const b = slice(wide, 1, 5, 101);
        const out = poisoned([197, 96], dtype, device);
        add(a, b, { out });
        assertClose(host(out), binaryRef('add', host(a), [197, 96], host(b), [197, 96]).out, TOLERANCE[dtype], `seed ${seed}`);
        for (const t of [base, wide, a, b, out]) t.dispose();
      });
      it(`residualAdd adds branch · scale into x in place and returns x, ${dtype}`, () => {
        const seed = freshSeed();
        const x = randn([2, 197, 96], { dtype, device, seed });
        const view = x.reshape([394, 96]);
        const branch = randn([2, 197, 96], { dtype, device, seed: seed + 1 });
        const xs = host(x);
        const ref = binaryRef('add', xs, [2, 197, 96], host(branch), [2, 197, 96], 0.7).out;
        assert.equal(residualAdd(x, branch, { scale: 0.7 }), x);
        assertClose(host(x), ref, TOLERANCE[dtype], `scale 0.7 seed ${seed}`);
        assertClose(host(view), ref, TOLERANCE[dtype], 'a view of x sees the update');
        // A broadcast branch [96] and a strided branch, scale 1.
        const b1 = randn([96], { dtype, device, seed: seed + 2 });
        const before = host(x);
        residualAdd(x, b1);
        assertClose(host(x), binaryRef('add', before, [2, 197, 96], host(b1), [96]).out, TOLERANCE[dtype], `broadcast seed ${seed}`);
        const bT = randn([2, 96, 197], { dtype, device, seed: seed + 3 }).transpose();
        const before2 = host(x);
        residualAdd(x, bT);
        assertClose(host(x), binaryRef('add', before2, [2, 197, 96], host(bT), [2, 197, 96]).out, TOLERANCE[dtype], `strided seed ${seed}`);
        for (const t of [x, view, branch, b1, bT]) t.dispose();
      });
      it(`concat along a middle dim, the first and the last dim matches the reference exactly, ${dtype}`, () => {
        const seed = freshSeed();
        const cases: [number[][], number][] = [
          [[[2, 3, 12], [2, 5, 12], [2, 0, 12], [2, 1, 12]], 1],
          [[[197, 96], [1, 96]], 0],
          [[[197, 12], [197, 97], [197, 1]], -1],
          [[[0, 4], [0, 7]], 1],
        ];
        for (const [shapes, dim] of cases) {
          const parts = shapes.map((s, i) => randn(s, { dtype, device, seed: seed + i }));
          const ref = concatRef(parts.map((p) => ({ data: host(p), shape: p.shape })), dim < 0 ? dim + shapes[0].length : dim);
          const out = poisoned(ref.shape, dtype, device);
          assert.equal(concat(parts, dim, { out }), out);
          assert.deepEqual(list(out), Array.from(ref.out), `concat ${JSON.stringify(shapes)} dim ${dim}`);
          for (const t of [...parts, out]) t.dispose();
        }
      });
      it(`concat takes strided and stride-0 broadcast views (a class token), ${dtype}`, () => {
        const seed = freshSeed();
        const cls = randn([1, 1, 12], { dtype, device, seed });
        const clsB = cls._view([2, 1, 12], [0, 0, 1]);
        const patches = randn([2, 12, 5], { dtype, device, seed: seed + 1 }).transpose(); // [2, 5, 12]
        const y = concat([clsB, patches], 1);
        assert.deepEqual(y.shape, [2, 6, 12]);
        assert.equal(y.isContiguous, true);
        const ref = concatRef([{ data: host(clsB), shape: [2, 1, 12] }, { data: host(patches), shape: [2, 5, 12] }], 1);
        assert.deepEqual(list(y), Array.from(ref.out));
        for (const t of [cls, clsB, patches, y]) t.dispose();
      });
      it(`slice is a view of x's storage, counting negative indices from the end, ${dtype}`, () => {
        const x = randn([4, 197, 12], { dtype, device });
        const xs = host(x);
        const s = slice(x, 1, 1, -1);
        assert.deepEqual(s.shape, [4, 195, 12]);
        assert.deepEqual(s.strides, x.strides);
        assert.equal(s.offset, x.offset + 12);
        assert.equal(s._storage, x._storage);
        const expected: number[] = [];
        for (let i = 0; i < 4; i++) for (let j = 1; j < 196; j++) for (let k = 0; k < 12; k++) expected.push(xs[(i * 197 + j) * 12 + k]);
        assert.deepEqual(list(s), expected);
        const tail = slice(x, -1, -3);
        assert.deepEqual(tail.shape, [4, 197, 3]);
        assert.equal(host(tail)[0], xs[9]);
        assert.deepEqual(slice(x, 0, 2, 2).shape, [0, 197, 12]);
        // Writing through x shows through the view.
        residualAdd(x, x);
        assert.deepEqual(list(s), expected.map((v) => 2 * v));
        for (const t of [x, s, tail]) t.dispose();
      });
      it(`permute and transpose materialize contiguous copies equal to the reference, ${dtype}`, () => {
        const seed = freshSeed();
        const x = randn([2, 3, 197, 12], { dtype, device, seed });
        const xs = host(x);
        for (const dims of [[0, 2, 1, 3], [3, 2, 1, 0], [1, -1, 0, 2]]) {
          const norm = dims.map((d) => (d < 0 ? d + 4 : d));
          const ref = permuteRef(xs, x.shape, norm);
          const out = poisoned(ref.shape, dtype, device);
          assert.equal(permute(x, dims, { out }), out);
          assert.deepEqual(list(out), Array.from(ref.out), `permute [${dims}]`);
          out.dispose();
        }
        const y = transpose(x, 1, -2);
        assert.equal(y.isContiguous, true);
        assert.deepEqual(y.shape, [2, 197, 3, 12]);
        assert.deepEqual(list(y), Array.from(permuteRef(xs, x.shape, [0, 2, 1, 3]).out));
        const z = transpose(randn([0, 96], { dtype, device }));
        assert.deepEqual(z.shape, [96, 0]);
        for (const t of [x, y, z]) t.dispose();
      });
      it(`mean over each dim, with and without keepDim, matches float64, ${dtype}`, () => {
        for (const shape of [[3, 197, 12], [3, 4099], [197, 768], [97]]) {
          for (let dim = -1; dim < shape.length; dim++) {
            for (const keepDim of [false, true]) {
              const seed = freshSeed();
              const x = randn(shape, { dtype, device, seed });
              const d = dim < 0 ? dim + shape.length : dim;
              const ref = meanRef(host(x), shape, d);
              const outShape = keepDim ? shape.map((s, i) => (i === d ? 1 : s)) : ref.shape;
              const out = poisoned(outShape, dtype, device);
              assert.equal(mean(x, dim, { keepDim, out }), out);
              assertClose(host(out), ref.out, TOLERANCE[dtype], `mean [${shape}] dim ${dim} keepDim ${keepDim} ${dtype} seed ${seed}`);
              x.dispose();
              out.dispose();
            }
          }
        }
      });
      it(`mean of a strided x matches float64, and an empty dim gives NaN, ${dtype}`, () => {
        const seed = freshSeed();
        const x = randn([96, 197], { dtype, device, seed }).transpose();
        const y = mean(x, 0);
        assert.deepEqual(y.shape, [96]);
        assertClose(host(y), meanRef(host(x), [197, 96], 0).out, TOLERANCE[dtype], `seed ${seed}`);
        const e = mean(empty([0, 5], { dtype, device }), 0);
        assert.deepEqual(e.shape, [5]);
        assert.ok(host(e).every(Number.isNaN));
        assert.deepEqual(mean(empty([0, 5], { dtype, device }), 1).shape, [0]);
        for (const t of [x, y, e]) t.dispose();
      });
    }
    it('concat, slice and permute keep int32 and uint8 values exactly', () => {
      const a = tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3], { device });
      const b = tensor(new Int32Array([7, 8]), [2, 1], { device });
      assert.deepEqual(list(concat([a, b], 1)), [1, 2, 3, 7, 4, 5, 6, 8]);
      const m = tensor(new Uint8Array([1, 0, 1, 1, 0, 0]), [2, 3], { device });
      assert.deepEqual(list(permute(m, [1, 0])), [1, 1, 0, 0, 1, 0]);
      assert.deepEqual(list(slice(m, 1, 1)), [0, 1, 0, 0]);
    });
  });
}

describe('elementwise and shape op argument errors', () => {
  const a = randn([4, 6]);
  it('add, sub and mul reject shapes that do not broadcast, dtype mismatches and bad b or alpha', () => {
    assert.throws(() => add(a, randn([5])), { name: 'RangeError', message: /^add: a \[4, 6\] and b \[5\] do not broadcast together/ });
    assert.throws(() => sub(a, randn([6], { dtype: 'float16' })), { name: 'TypeError', message: /^sub: expected b to be a float32 tensor like a, got Tensor\[6\] float16/ });
    assert.throws(() => mul(a, '2' as unknown as number), { name: 'TypeError', message: /^mul: expected b to be a Tensor or a number, got '2'/ });
    assert.throws(() => mul(a, NaN), { name: 'TypeError', message: /^mul: expected b to be a number/ });
    assert.throws(() => add(a, a, { alpha: Infinity }), { name: 'RangeError', message: /^add: options.alpha must be finite/ });
    assert.throws(() => add(tensor(new Int32Array(2)), 1), { name: 'TypeError', message: /^add: expected a to be a float32, float16 or bfloat16 tensor/ });
    assert.throws(() => add(a, a, { out: empty([6, 4]) }), { name: 'RangeError', message: /^add: options.out must have shape \[4, 6\]/ });
    const d = randn([6]);
    d.dispose();
    assert.throws(() => mul(a, d), { name: 'TypeError', message: /^mul: b has been disposed/ });
  });
  it('residualAdd rejects a strided x, a branch that does not broadcast to x, and a bad scale', () => {
    assert.throws(() => residualAdd(randn([6, 4]).transpose(), a), { name: 'RangeError', message: /^residualAdd: x must be contiguous/ });
    assert.throws(() => residualAdd(randn([6]), a), { name: 'RangeError', message: /^residualAdd: branch \[4, 6\] does not broadcast to \[6\]/ });
    assert.throws(() => residualAdd(a, randn([4, 6], { dtype: 'bfloat16' })), { name: 'TypeError', message: /^residualAdd: expected branch to be a float32 tensor like x/ });
    assert.throws(() => residualAdd(a, a, { scale: NaN }), { name: 'TypeError', message: /^residualAdd: expected options.scale to be a number/ });
  });
  it('concat rejects an empty list, mismatched dims, ranks and dtypes, and an out that aliases an input', () => {
    assert.throws(() => concat([], 0), { name: 'TypeError', message: /^concat: expected tensors to be a non-empty array of Tensors/ });
    assert.throws(() => concat([a, randn([4, 5])], 0), { name: 'RangeError', message: /^concat: tensors\[1\] \[4, 5\] does not match tensors\[0\] \[4, 6\] outside dim 0/ });
    assert.throws(() => concat([a, randn([4, 6, 1])], 0), { name: 'RangeError', message: /^concat: tensors\[1\]/ });
    assert.throws(() => concat([a, randn([4, 6], { dtype: 'float16' })], 0), { name: 'TypeError', message: /^concat: expected tensors\[1\] to be a float32 tensor like tensors\[0\]/ });
    assert.throws(() => concat([a, a], 2), { name: 'RangeError', message: /^concat: dimension 2 is out of range for a tensor of rank 2/ });
    assert.throws(() => concat([randn([])], 0), { name: 'RangeError', message: /^concat: tensors\[0\] must be at least 1-D/ });
    const big = empty([8, 6]);
    assert.throws(() => concat([slice(big, 0, 0, 4), a], 0, { out: big }), { name: 'RangeError', message: /^concat: options.out must not share storage/ });
  });
  it('slice rejects ranges outside the dim and non-integers', () => {
    assert.throws(() => slice(a, 1, 2, 7), { name: 'RangeError', message: /^slice: \[2, 7\) is not a range within dim 1 of size 6/ });
    assert.throws(() => slice(a, 0, 3, 1), { name: 'RangeError', message: /^slice: \[3, 1\)/ });
    assert.throws(() => slice(a, 0, -5), { name: 'RangeError', message: /^slice:/ });
    assert.throws(() => slice(a, 0, 1.5), { name: 'TypeError', message: /^slice: expected start to be an integer/ });
    assert.throws(() => slice(a, 2, 0), { name: 'RangeError', message: /^slice: dimension 2 is out of range/ });
  });
  it('permute, transpose and mean reject bad dims and options', () => {
    assert.throws(() => permute(a, [0, 0]), { name: 'TypeError', message: /^permute: expected dims to be a permutation of 0\.\.1/ });
    assert.throws(() => permute(a, [0]), { name: 'TypeError', message: /^permute: expected dims/ });
    assert.throws(() => transpose(a, 0, 2), { name: 'RangeError', message: /^transpose: dimension 2 is out of range/ });
    assert.throws(() => mean(a, -3), { name: 'RangeError', message: /^mean: dimension -3 is out of range/ });
    assert.throws(() => mean(a, 0, { keepDim: 'yes' as unknown as boolean }), { name: 'TypeError', message: /^mean: expected options.keepDim to be a boolean/ });
    assert.throws(() => mean(a, 0, { out: empty([4]) }), { name: 'RangeError', message: /^mean: options.out must have shape \[6\], got \[4\]/ });
    assert.throws(() => mean(a, 0, { out: a._view([6], [1]) }), { name: 'RangeError', message: /^mean: options.out must not share storage/ });
    const d = randn([2]);
    d.dispose();
    assert.throws(() => transpose(d), { name: 'TypeError', message: /^transpose: x has been disposed/ });
    assert.throws(() => mean(d, 0), { name: 'TypeError', message: /^mean: x has been disposed/ });
  });
});

describeDevice('cuda:0', 'elementwise device mismatch', () => {
  it('rejects operands and out on another device', () => {
    const x = randn([4, 6], { device: 'cuda:0' });
    assert.throws(() => add(x, randn([6])), { name: 'TypeError', message: /^add: expected b to be on cuda:0 like a/ });
    assert.throws(() => residualAdd(x, randn([4, 6])), { name: 'TypeError', message: /^residualAdd: expected branch to be on cuda:0 like x/ });
    assert.throws(() => concat([x, randn([4, 6])], 0), { name: 'TypeError', message: /^concat: expected tensors\[1\] to be on cuda:0/ });
    assert.throws(() => mean(x, 0, { out: empty([6]) }), { name: 'TypeError', message: /^mean: expected options.out to be on cuda:0/ });
    x.dispose();
  });
});
