// options.out and the inputs of an op (issue 24): an out that partly overlaps an input is a
// RangeError naming the op (it gave silently wrong values); out as the input itself (in
// place) and disjoint views of one storage keep working; ops that read inputs after writing
// out refuse any sharing of storage.
import * as assert from 'node:assert/strict';
import {
  add, biasActivation, concat, gelu, layerNorm, linear, matmul, mean, mul, patchEmbed, permute, relu, residualAdd, rmsNorm, slice, softmax, sub,
  tensor, Tensor, transpose, zeros,
} from '../../ts/index';

const iota = (n: number) => tensor(Array.from({ length: n }, (_, i) => i * 0.5 - 1));

describe('options.out overlapping an input (issue 24)', () => {
  it('add(slice(base, 0, 0, 5), 1, { out: slice(base, 0, 1, 6) }) is a RangeError, and base is left as it was', () => {
    const base = tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.throws(() => add(slice(base, 0, 0, 5), 1, { out: slice(base, 0, 1, 6) }),
      { name: 'RangeError', message: /^add: options.out overlaps an input \(a\) without being the same view: it may be a itself \(in place\), or apart from it/ });
    assert.deepEqual(Array.from(base.dataSync()), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('every elementwise, activation and norm op refuses an out partly over one of its inputs, naming it', () => {
    const base = iota(12);
    const x = () => slice(base, 0, 0, 8);
    const out = () => slice(base, 0, 2, 10);
    const cases: [string, string, () => Tensor][] = [
      ['sub', 'b', () => sub(zeros([8]), x(), { out: out() })],
      ['mul', 'a', () => mul(x(), 2, { out: out() })],
      ['softmax', 'x', () => softmax(x(), { out: out() })],
      ['relu', 'x', () => relu(x(), { out: out() })],
      ['gelu', 'x', () => gelu(x(), { out: out() })],
      ['biasActivation', 'bias', () => biasActivation(zeros([1, 8]), slice(base, 0, 1, 9), 'relu', { out: slice(base, 0, 0, 8).reshape([1, 8]) })],
      ['layerNorm', 'x', () => layerNorm(x(), null, null, 1e-5, { out: out() })],
      ['rmsNorm', 'weight', () => rmsNorm(zeros([8]), slice(base, 0, 4, 12), 1e-6, { out: x() })],
    ];
    for (const [fn, input, call] of cases) {
      assert.throws(call, { name: 'RangeError', message: new RegExp(`^${fn}: options.out overlaps an input \\(${input}\\)`) }, fn);
    }
    assert.deepEqual(Array.from(base.dataSync()), Array.from(iota(12).dataSync()), 'nothing was written');
  });

  it('residualAdd refuses a branch partly over x (x is updated in place), and takes x itself', () => {
    const base = tensor([1, 2, 3, 4, 5, 6]);
    assert.throws(() => residualAdd(slice(base, 0, 1, 6), slice(base, 0, 0, 5)),
      { name: 'RangeError', message: /^residualAdd: x overlaps an input \(branch\) without being the same view/ });
    const x = tensor([1, 2, 3]);
    residualAdd(x, x);
    assert.deepEqual(Array.from(x.dataSync()), [2, 4, 6]);
  });

  it('out as the input itself (in place) and disjoint views of one storage still work', () => {
    const x = tensor([1, 2, 3, 4]);
    add(x, 1, { out: x });
    assert.deepEqual(Array.from(x.dataSync()), [2, 3, 4, 5]);
    mul(x, x, { out: x });
    assert.deepEqual(Array.from(x.dataSync()), [4, 9, 16, 25]);
    relu(sub(x, 10, { out: x }), { out: x });
    assert.deepEqual(Array.from(x.dataSync()), [0, 0, 6, 15]);
    const rows = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const row0 = slice(rows, 0, 0, 1);
    softmax(row0, { out: row0 });
    layerNorm(rows, null, null, 1e-5, { out: rows });
    const base = tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    add(slice(base, 0, 0, 5), 1, { out: slice(base, 0, 5, 10) });
    assert.deepEqual(Array.from(base.dataSync()), [0, 1, 2, 3, 4, 1, 2, 3, 4, 5]);
    // A strided view whose range interleaves out's is refused: the test is conservative.
    // (a reads elements 0 and 4, out is elements 2 and 3: no element in common, but within a's range)
    const flat = tensor([0, 1, 2, 3, 4, 5, 6, 7]);
    const a = slice(flat.reshape([2, 4]), 1, 0, 1);
    assert.throws(() => add(a, 1, { out: slice(flat, 0, 2, 4).reshape([2, 1]) }), { name: 'RangeError', message: /^add: options.out overlaps an input \(a\)/ });
  });

  it('ops that write out before reading all of their inputs refuse any shared storage, naming the input', () => {
    const base = zeros([64]);
    const m = base.reshape([8, 8]);
    const cases: [string, string, () => Tensor][] = [
      ['concat', 'tensors\\[1\\]', () => concat([zeros([4]), slice(base, 0, 0, 4)], 0, { out: slice(base, 0, 8, 16) })],
      ['permute', 'x', () => permute(slice(m, 0, 0, 4), [1, 0], { out: slice(m, 0, 4, 8).reshape([8, 4]) })],
      ['transpose', 'x', () => transpose(slice(m, 0, 0, 4), 0, 1, { out: slice(m, 0, 4, 8).reshape([8, 4]) })],
      ['mean', 'x', () => mean(slice(m, 0, 0, 4), 0, { out: slice(base, 0, 56, 64) })],
      ['matmul', 'b', () => matmul(zeros([2, 8]), slice(m, 0, 0, 8), { out: slice(base, 0, 0, 16).reshape([2, 8]) })],
      ['linear', 'weight', () => linear(zeros([2, 8]), slice(m, 0, 0, 4), null, { out: slice(base, 0, 56, 64).reshape([2, 4]) })],
      ['patchEmbed', 'images', () => patchEmbed(base.reshape([1, 1, 8, 8]), zeros([1, 1, 4, 4]), null, 4, { out: slice(base, 0, 60, 64).reshape([1, 4, 1]) })],
    ];
    for (const [fn, input, call] of cases) {
      assert.throws(call, { name: 'RangeError', message: new RegExp(`^${fn}: options.out must not share storage with an input of this op \\(${input}\\)`) }, fn);
    }
  });
});
