// customOp records a user backward on the tape; gradcheck passes a right one and fails a wrong one.
import * as assert from 'node:assert/strict';
import { add, backward, customOp, gradcheck, mean, mul, randn, Tensor, tensor } from '../../ts/index';

// x², its backward g·factor·x: right with factor 2, wrong otherwise.
const squareWithFactor = (factor: number) => customOp({
  name: 'square',
  forward: (ctx, x: Tensor) => {
    ctx.save(x);
    return mul(x, x);
  },
  backward: (ctx, g) => mul(g, ctx.saved[0], { alpha: factor }),
});
const square = squareWithFactor(2);

describe('customOp', () => {
  it('a right backward passes gradcheck, and composes with built-in ops', () => {
    const x = randn([197, 3], { seed: 1 }).requiresGrad_();
    assert.equal(gradcheck((t) => add(square(t), t), [x]), true);
    x.dispose();
  });

  it('gradcheck fails a deliberately wrong backward (half the gradient)', () => {
    const wrong = squareWithFactor(1);
    const x = randn([3, 4], { seed: 2 }).requiresGrad_();
    assert.throws(() => gradcheck((t) => wrong(t), [x]), /gradcheck: the backward disagrees with finite differences/);
    assert.equal(gradcheck((t) => wrong(t), [x], { raiseException: false }), false);
    x.dispose();
  });

  it('gradcheck fails a gradient that misses the broadcast sum by one element', () => {
    const addNoReduce = customOp({
      forward: (_ctx, a: Tensor, b: Tensor) => add(a, b),
      backward: (_ctx, g) => [g, mean(g, 0)], // mean, not sum: wrong by the row count
    });
    const a = randn([3, 2], { seed: 3 }).requiresGrad_();
    const b = randn([2], { seed: 4 }).requiresGrad_();
    assert.throws(() => gradcheck((x, y) => addNoReduce(x, y), [a, b]), /inputs\[1\]/);
    a.dispose();
    b.dispose();
  });

  it('gradcheck fails a gradient 1% too large at 197 rows', () => {
    const off = squareWithFactor(2.02);
    const x = randn([197, 3], { seed: 5 }).requiresGrad_();
    assert.throws(() => gradcheck((t) => off(t), [x]), /gradcheck: the backward disagrees/);
    x.dispose();
  });

  it('non-tensor arguments pass through; the context carries data', () => {
    const scale = customOp({
      forward: (ctx, x: Tensor, s: number) => {
        ctx.data.s = s;
        return mul(x, s);
      },
      backward: (ctx, g) => [mul(g, ctx.data.s as number), null],
    });
    const x = tensor([1, 2, 3]).requiresGrad_();
    backward(scale(x, 3), tensor([1, 1, 1]));
    assert.deepEqual(Array.from(x.grad!.dataSync()), [3, 3, 3]);
    x.dispose();
  });

  it('a gradient of the wrong shape or count is an Error naming backward and the op', () => {
    const badShape = customOp({ name: 'badShape', forward: (_c, x: Tensor) => mul(x, 1), backward: () => tensor([1]) });
    const badCount = customOp({ name: 'badCount', forward: (_c, x: Tensor) => mul(x, 1), backward: (_c, g) => [mul(g, 1), null] });
    const x = tensor([1, 2]).requiresGrad_();
    assert.throws(() => backward(badShape(x), tensor([1, 1])), /^Error: backward: 'badShape' gave input 0 a gradient/);
    assert.throws(() => backward(badCount(x), tensor([1, 1])), /backward: 'badCount' returned 2 gradients for 1 arguments/);
    assert.throws(() => customOp({ forward: 1 } as never), /customOp: expected definition.forward to be a function/);
    x.dispose();
  });
});
