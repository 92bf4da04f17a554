// The tape: what is recorded (only with an input that requires grad, never in inference or
// under noGrad), accumulation and zeroGrad, gradients meeting at a tensor, freeing records
// once used or once their outputs are gone, tidy, detach, and 200 training steps that leak nothing.
import * as assert from 'node:assert/strict';
import {
  add, backward, isGradEnabled, linear, matmul, mean, mul, noGrad, randn, tensor, tidy, zeroGrad, Tensor,
} from '../../ts/index';
import { liveGradNodes } from '../../ts/autograd/graph';
import { liveStorage } from '../../ts/tensor';

const values = (t: Tensor | null) => Array.from((t as Tensor).dataSync());

describe('autograd tape', () => {
  it('an inference forward of tensors without requiresGrad records nothing', () => {
    const nodes = liveGradNodes();
    const x = randn([4, 8], { seed: 1 });
    const w = randn([3, 8], { seed: 2 });
    const b = randn([3], { seed: 3 });
    const h = linear(x, w, b);
    const y = mean(mul(add(h, 1), h.transpose().transpose().reshape([4, 3])), 0);
    assert.equal(liveGradNodes(), nodes);
    for (const t of [h, y]) assert.equal(t.requiresGrad, false);
    for (const t of [x, w, b, h, y]) t.dispose();
  });

  it('noGrad records nothing even from tensors that require grad, and nests', () => {
    const nodes = liveGradNodes();
    const w = randn([3, 3], { seed: 4 }).requiresGrad_();
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      return noGrad(() => matmul(w, w));
    });
    assert.equal(isGradEnabled(), true);
    assert.equal(y.requiresGrad, false);
    assert.equal(liveGradNodes(), nodes);
    assert.throws(() => noGrad(async () => 1), /noGrad: fn must be synchronous/);
    assert.equal(isGradEnabled(), true);
    w.dispose();
    y.dispose();
  });

  it('gradients accumulate over backwards until zeroGrad', () => {
    const w = tensor([1, 2, 3]).requiresGrad_();
    for (let i = 0; i < 2; i++) mean(mul(w, w), 0).backward();
    assert.deepEqual(values(w.grad), [4 / 3, 8 / 3, 12 / 3].map(Math.fround).map((v) => Math.fround(v * 1)));
    const grad = w.grad;
    zeroGrad([w]);
    assert.equal(w.grad, null);
    assert.equal(grad!.disposed, true);
    w.dispose();
  });

  it('gradients that reach a tensor by two paths are summed', () => {
    const x = tensor([1, -2]).requiresGrad_();
    const h = mul(x, 3); // used twice below
    const y = add(mul(h, h), h); // y = 9x² + 3x, dy/dx = 18x + 3
    backward(y, tensor([1, 1]));
    assert.deepEqual(values(x.grad), [21, -33]);
    for (const t of [x, h, y]) t.dispose();
  });

  it('a leaf given to backward gets the gradient itself', () => {
    const x = tensor([1, 2]).requiresGrad_();
    backward(x, tensor([3, 4]));
    assert.deepEqual(values(x.grad), [3, 4]);
    x.dispose();
  });

  it('backward frees the records it used; disposing the outputs frees an unused tape', () => {
    const nodes = liveGradNodes();
    const storages = liveStorage().storages;
    const w = randn([5, 5], { seed: 6 }).requiresGrad_();
    const h = matmul(w, w);
    const loss = tidy(() => mean(mean(h, 0), 0));
    assert.equal(liveGradNodes(), nodes + 3);
    loss.backward();
    assert.equal(liveGradNodes(), nodes);
    const h2 = matmul(w, w);
    const loss2 = tidy(() => mean(mean(h2, 0), 0));
    h2.dispose();
    assert.equal(liveGradNodes(), nodes + 3, 'loss2 still holds the records below it');
    loss2.dispose();
    assert.equal(liveGradNodes(), nodes);
    for (const t of [w, h, loss]) t.dispose();
    assert.equal(liveStorage().storages, storages);
  });

  it('tidy may dispose intermediates: backward still runs through them (the tape holds its own views)', () => {
    const w = tensor([1, 2, 3, 4], [2, 2]).requiresGrad_();
    const loss = tidy(() => mean(mean(matmul(w, w), 1), 0));
    loss.backward();
    // d/dW mean(W W) = (1/4)(1ᵀ Wᵀ + Wᵀ 1): rows of [[1+3, 2+4]]/4 ... computed in float64 below.
    const W = [[1, 2], [3, 4]];
    const expected = [0, 1].flatMap((i) => [0, 1].map((j) => (W[0][i] + W[1][i] + W[j][0] + W[j][1]) / 4));
    assert.deepEqual(values(w.grad), expected);
    w.dispose();
    loss.dispose();
  });

  it('detach gives the values without the history', () => {
    const x = tensor([1, 2]).requiresGrad_();
    const y = mul(x, 2);
    const d = y.detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.isLeaf, true);
    assert.deepEqual(values(d), [2, 4]);
    const z = mul(d, x); // only x's path is recorded
    backward(z, tensor([1, 1]));
    assert.deepEqual(values(x.grad), [2, 4]);
    for (const t of [x, y, d, z]) t.dispose();
  });

  it('200 training steps (forward, backward, zeroGrad, dispose) leave no storage and no record alive', () => {
    const w1 = randn([16, 8], { seed: 7 }).requiresGrad_();
    const b1 = randn([16], { seed: 8 }).requiresGrad_();
    const w2 = randn([4, 16], { seed: 9 }).requiresGrad_();
    const storages = liveStorage().storages;
    const nodes = liveGradNodes();
    for (let step = 0; step < 200; step++) {
      const x = randn([3, 8], { seed: step });
      const loss = tidy(() => mean(mean(mul(linear(linear(x, w1, b1), w2), 0.5), 1), 0));
      loss.backward();
      noGrad(() => {
        for (const p of [w1, b1, w2]) add(p, p.grad!, { alpha: -0.01, out: p }); // an SGD step
      });
      zeroGrad([w1, b1, w2]);
      loss.dispose();
      x.dispose();
    }
    assert.equal(liveGradNodes(), nodes);
    assert.equal(liveStorage().storages, storages);
    for (const t of [w1, b1, w2]) t.dispose();
  });
});
