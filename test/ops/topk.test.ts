import * as assert from 'node:assert/strict';
import { argmax, randn, tensor, topk } from '../../ts/index';
import { DEVICES, describeDevice } from '../helpers';

/** float64 reference: per line along dim, indices sorted by value descending (NaN first), ties by index. */
function reference(values: Float32Array, shape: number[], dim: number, k: number): { values: number[]; indices: number[] } {
  const n = shape[dim], inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1), outer = values.length / (n * inner);
  const outV: number[] = new Array(outer * k * inner), outI: number[] = new Array(outer * k * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const line = Array.from({ length: n }, (_, j) => ({ j, v: values[o * n * inner + j * inner + i] }));
      line.sort((a, b) => (Number.isNaN(b.v) ? 1 : 0) - (Number.isNaN(a.v) ? 1 : 0) || b.v - a.v || a.j - b.j);
      for (let j = 0; j < k; j++) { outV[(o * k + j) * inner + i] = line[j].v; outI[(o * k + j) * inner + i] = line[j].j; }
    }
  }
  return { values: outV, indices: outI };
}

for (const device of DEVICES) {
  describeDevice(device, 'topk and argmax', () => {
    it('topk along each dimension matches a sort, largest first; argmax is topk 1 with the dimension removed', () => {
      const x = randn([3, 5, 4], { seed: 4, device });
      const host = x.dataSync() as Float32Array;
      for (const dim of [0, 1, 2, -1]) {
        const d = dim < 0 ? dim + 3 : dim;
        const k = Math.min(3, x.shape[d]);
        const r = topk(x, k, dim);
        const want = reference(host, [3, 5, 4], d, k);
        const shape = [3, 5, 4]; shape[d] = k;
        assert.deepEqual(r.values.shape, shape);
        assert.equal(r.indices.dtype, 'int32');
        assert.equal(r.values.device, x.device);
        assert.deepEqual(Array.from(r.values.dataSync()), want.values.map(Math.fround));
        assert.deepEqual(Array.from(r.indices.dataSync()), want.indices);
        const a = argmax(x, dim);
        assert.deepEqual(a.shape, shape.filter((_, i) => i !== d));
        assert.deepEqual(Array.from(a.dataSync()), reference(host, [3, 5, 4], d, 1).indices);
        for (const t of [r.values, r.indices, a]) t.dispose();
      }
      x.dispose();
    });

    it('NaN counts as the largest and ties keep the lower index (as PyTorch); float16 and int32 keep their dtype', () => {
      const x = tensor([1, NaN, 3, 3, -Infinity, 2], [6], { device });
      const r = topk(x, 4);
      assert.deepEqual(Array.from(r.indices.dataSync()), [1, 2, 3, 5]);
      assert.deepEqual(Array.from(argmax(tensor([2, 7, 7], [3], { device })).dataSync()), [1]);
      const h = topk(tensor([0.5, 0.25, 1], [3], { device, dtype: 'float16' }), 2);
      assert.equal(h.values.dtype, 'float16');
      assert.deepEqual(Array.from(h.values.dataSync()), [1, 0.5]);
      const i = topk(tensor([4, -1, 9], [3], { device, dtype: 'int32' }), 1);
      assert.equal(i.values.dtype, 'int32');
      assert.deepEqual(Array.from(i.values.dataSync()), [9]);
    });

    it('bad arguments say what is wrong', () => {
      const x = tensor([1, 2, 3], [3], { device });
      assert.throws(() => topk(x, 4), /topk: k 4 is larger than dimension -1's size 3/);
      assert.throws(() => topk(x, 0), /topk: k must be at least 1/);
      assert.throws(() => topk(x, 1, 1), /topk: dimension 1 is out of range for a tensor of rank 1/);
      assert.throws(() => argmax([1, 2] as never), /argmax: expected x to be a Tensor/);
      const g = tensor([1, 2, 3], [3], { device }).requiresGrad_(true);
      assert.throws(() => topk(g, 1), /topk: has no gradient yet and an input requires grad/);
    });
  });
}
