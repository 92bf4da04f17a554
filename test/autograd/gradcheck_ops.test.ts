// Every op with a TypeScript gradient, checked by gradcheck (finite differences in float64
// around float32 evaluations) over awkward shapes: 1, 3, 197 rows, broadcasts, batches.
import * as assert from 'node:assert/strict';
import {
  add, backward, concat, linear, matmul, mean, mul, permute, randn, residualAdd, slice, sub, tensor, transpose,
} from '../../ts/index';
import { itGradchecks } from '../helpers';

let seed = 100;
const leaf = (shape: number[]) => randn(shape, { seed: seed++ }).requiresGrad_();
const constant = (shape: number[]) => randn(shape, { seed: seed++ });

const check = itGradchecks;

const BROADCASTS: [number[], number[]][] = [
  [[1], [1]], [[3], [3]], [[197, 3], [3]], [[197, 1], [1, 4]], [[2, 1, 5], [3, 1]], [[3], [197, 3]], [[2, 3, 4], [1, 1, 1]], [[4, 5], []],
];

describe('gradcheck: elementwise ops', () => {
  for (const [as, bs] of BROADCASTS) {
    check(`add [${as}] + [${bs}] with alpha`, (a, b) => add(a, b, { alpha: 0.5 }), [leaf(as), leaf(bs)]);
    check(`sub [${as}] - [${bs}]`, (a, b) => sub(a, b), [leaf(as), leaf(bs)]);
    check(`mul [${as}] * [${bs}] with alpha`, (a, b) => mul(a, b, { alpha: -2 }), [leaf(as), leaf(bs)]);
  }
  check('mul of a tensor by itself (two paths into one leaf)', (a) => mul(a, a), [leaf([197, 3])]);
  check('add and mul by numbers', (a) => mul(add(a, 3), 0.25), [leaf([3, 5])]);
  check('mul with one input constant', (a, b) => mul(a, b), [leaf([197, 3]), constant([3])]);
  check('residualAdd on a recorded x, broadcast branch, scale', (a, b) => residualAdd(mul(a, 1), b, { scale: 0.7 }), [leaf([197, 4]), leaf([4])]);
  check('residualAdd into a constant x', (b) => residualAdd(randn([3, 4], { seed: 5 }), b), [leaf([3, 1])]);
  for (const [shape, dim, keepDim] of [[[1], 0, false], [[197, 3], 0, false], [[197, 3], 1, true], [[2, 3, 5], -2, false]] as const) {
    check(`mean [${shape}] over ${dim}${keepDim ? ' keepDim' : ''}`, (a) => mean(a, dim, { keepDim }), [leaf([...shape])]);
  }
});

describe('gradcheck: shape ops and views', () => {
  check('reshape view and copy (of a transposed view)', (a) => a.transpose().reshape([-1]), [leaf([197, 3])]);
  check('Tensor.permute (a view) then mul', (a) => mul(a.permute([2, 0, 1]), 2), [leaf([2, 3, 5])]);
  check('Tensor.transpose', (a) => a.transpose(0, 1), [leaf([3, 197])]);
  check('permute op (a copy)', (a) => permute(a, [1, 2, 0]), [leaf([2, 3, 5])]);
  check('transpose op (a copy)', (a) => transpose(a), [leaf([197, 3])]);
  check('slice of the middle rows', (a) => slice(a, 0, 50, 150), [leaf([197, 3])]);
  check('slice of the last dim, negative indices', (a) => slice(a, -1, -3), [leaf([2, 5])]);
  check('concat of three along dim 1', (a, b, c) => concat([a, b, c], 1), [leaf([3, 1]), leaf([3, 4]), constant([3, 2])]);
  check('concat along dim 0', (a, b) => concat([a, b], 0), [leaf([197, 3]), leaf([1, 3])]);
  check('contiguous of a transposed view', (a) => a.transpose().contiguous(), [leaf([3, 197])]);
  check('clone', (a) => a.clone(), [leaf([3])]);
  check('cast to float32 (a copy)', (a) => a.cast('float32'), [leaf([3, 4])]);
  it('cast to float16: the gradient is cast back to float32 (exact for values float16 holds)', () => {
    const a = leaf([3]);
    backward(a.cast('float16'), tensor([0.5, -2, 1024], [3], { dtype: 'float16' }));
    assert.equal(a.grad!.dtype, 'float32');
    assert.deepEqual(Array.from(a.grad!.dataSync()), [0.5, -2, 1024]);
    a.dispose();
  });
  check('to the same device', (a) => a.to('cpu'), [leaf([1])]);
});

describe('gradcheck: matmul and linear', () => {
  for (const [M, K, N] of [[1, 1, 1], [3, 4, 5], [197, 8, 5]]) {
    check(`matmul [${M}, ${K}] @ [${K}, ${N}]`, (a, b) => matmul(a, b), [leaf([M, K]), leaf([K, N])]);
    check(`linear [${M}, ${K}] -> ${N} with bias`, (x, w, b) => linear(x, w, b), [leaf([M, K]), leaf([N, K]), leaf([N])]);
  }
  check('matmul transposeA and transposeB', (a, b) => matmul(a, b, { transposeA: true, transposeB: true }), [leaf([4, 3]), leaf([5, 4])]);
  check('matmul transposeA only', (a, b) => matmul(a, b, { transposeA: true }), [leaf([4, 3]), leaf([4, 5])]);
  check('matmul with broadcast batch dims', (a, b) => matmul(a, b), [leaf([2, 1, 3, 4]), leaf([3, 4, 2])]);
  check('matmul of a transposed view', (a, b) => matmul(a.transpose(), b), [leaf([4, 3]), leaf([4, 2])]);
  check('linear of a 1-D x, no bias', (x, w) => linear(x, w), [leaf([4]), leaf([3, 4])]);
  check('linear of a batched 3-D x with a residual', (x, w, b, r) => linear(x, w, b, { residual: r }), [leaf([2, 3, 4]), leaf([5, 4]), leaf([5]), leaf([2, 3, 5])]);
  check('linear with only the weight requiring grad', (x, w) => linear(x, w), [constant([3, 4]), leaf([2, 4])]);
});
