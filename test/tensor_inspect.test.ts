import * as assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { randn, tensor, zeros } from '../ts/index';
import { describeDevice } from './helpers';

describe('util.inspect of a Tensor (console.log)', () => {
  it('shows the values as PyTorch does, then shape, dtype and device', () => {
    assert.equal(inspect(tensor([1, 2, 3, 4, 5, 6], [2, 3])),
      "tensor([[1., 2., 3.],\n        [4., 5., 6.]], shape=[2, 3], dtype=float32, device='cpu')");
    assert.equal(inspect(tensor([0.5, -1.25], [2])), "tensor([ 0.5000, -1.2500], shape=[2], dtype=float32, device='cpu')");
    assert.equal(inspect(tensor([1e-6, 2], [2])), "tensor([1.0000e-06, 2.0000e+00], shape=[2], dtype=float32, device='cpu')");
    assert.equal(inspect(tensor([NaN, Infinity, 1], [3])), "tensor([nan, inf,  1.], shape=[3], dtype=float32, device='cpu')");
    assert.equal(inspect(zeros([2, 2], { dtype: 'int32' })), "tensor([[0, 0],\n        [0, 0]], shape=[2, 2], dtype=int32, device='cpu')");
    assert.equal(inspect({ t: tensor([1.5], [1]) }), "{ t: tensor([1.5000], shape=[1], dtype=float32, device='cpu') }");
    assert.match(inspect(tensor([1], [1]).requiresGrad_(true)), /requiresGrad=true\)$/);
  });

  it('summarizes a tensor over 1000 elements with the first and last three of each dimension', () => {
    const text = inspect(randn([50, 40], { seed: 1 }));
    const lines = text.split('\n');
    assert.equal(lines.length, 7, 'three rows, ..., three rows');
    assert.equal(lines[3].trim(), '...,');
    assert.equal(lines[0].split(',').length, 8, 'three values, ..., three values');
    assert.match(text, /\.\.\./);
    assert.match(lines[6], /shape=\[50, 40\], dtype=float32, device='cpu'\)$/);
  });

  it('a large tensor formats only what it shows (an image batch)', () => {
    const t = zeros([2, 3, 224, 224]);
    const text = inspect(t);
    assert.ok(text.length < 2000, `${text.length} characters`);
    assert.match(text, /shape=\[2, 3, 224, 224\]/);
    t.dispose();
  });

  it('a disposed tensor says so', () => {
    const t = zeros([3]);
    t.dispose();
    assert.equal(inspect(t), "tensor(<disposed>, shape=[3], dtype=float32, device='cpu')");
  });
});

describeDevice('cuda:0', 'util.inspect of a CUDA tensor', () => {
  it('never reads it: metadata and how to read it', () => {
    const t = zeros([2, 3], { device: 'cuda:0' });
    assert.equal(inspect(t), "tensor(<on cuda:0: not read; await t.data() reads it>, shape=[2, 3], dtype=float32, device='cuda:0')");
    t.dispose();
  });
});
