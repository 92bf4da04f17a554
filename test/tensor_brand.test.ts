// The public API takes only tensors the library made (issue 24): Object.create(t), a Proxy
// around a tensor and a plain object shaped like one are TypeErrors naming the op, and no
// getter of theirs runs; a real tensor's fields cannot be replaced by getters.
import * as assert from 'node:assert/strict';
import {
  add, attention, concat, layerNorm, linear, matmul, ones, relu, saveSafetensors, serializeSafetensors, slice, softmax, Tensor, tidy, zeros,
} from '../ts/index';
import { isTensor } from '../ts/tensor';

/** Fakes of `t`: each with getters that count their calls and dispose `t` (a use-after-free, were they read). */
function fakesOf(t: Tensor): { name: string; fake: Tensor; reads: () => number }[] {
  let reads = 0;
  const freeing = {
    get offset() { reads++; t.dispose(); return 0; },
    get shape() { reads++; t.dispose(); return [...t.shape]; },
  };
  const derived = Object.create(t, Object.getOwnPropertyDescriptors(freeing)) as Tensor;
  const proxy = new Proxy(t, { get(target, key) { reads++; if (key === 'offset') target.dispose(); return Reflect.get(target, key, target); } });
  const plain = Object.defineProperties({ strides: [1], dtype: t.dtype, device: t.device, get _storage() { reads++; return null; } },
    Object.getOwnPropertyDescriptors(freeing)) as unknown as Tensor;
  return [
    { name: 'Object.create(t) with a freeing offset getter', fake: derived, reads: () => reads },
    { name: 'a Proxy around t', fake: proxy, reads: () => reads },
    { name: 'a plain object shaped like a tensor', fake: plain, reads: () => reads },
  ];
}

describe('only real tensors (issue 24)', () => {
  for (const { name, make } of [
    { name: 'softmax(x)', make: (f: Tensor) => () => softmax(f) },
    { name: 'add(a, b)', make: (f: Tensor) => () => add(ones([4]), f) },
    { name: 'add(a, 1, { out })', make: (f: Tensor) => () => add(ones([4]), 1, { out: f }) },
    { name: 'relu(x)', make: (f: Tensor) => () => relu(f) },
    { name: 'layerNorm(x, weight)', make: (f: Tensor) => () => layerNorm(ones([2, 4]), f, null) },
    { name: 'linear(x, weight)', make: (f: Tensor) => () => linear(ones([2, 4]), f) },
    { name: 'matmul(a, b)', make: (f: Tensor) => () => matmul(f, ones([4, 2])) },
    { name: 'concat([t, fake])', make: (f: Tensor) => () => concat([ones([4]), f], 0) },
    { name: 'slice(x)', make: (f: Tensor) => () => slice(f, 0, 0, 2) },
    { name: 'attention(q, k, v)', make: (f: Tensor) => () => attention(f, f, f) },
    { name: 'serializeSafetensors({ w })', make: (f: Tensor) => () => serializeSafetensors({ w: f }) },
  ]) {
    it(`${name} refuses each fake with a TypeError naming the op, reading none of its fields`, () => {
      const op = name.slice(0, name.indexOf('('));
      for (const { name: kind, fake, reads } of fakesOf(ones([4]))) {
        assert.throws(make(fake), (e: Error) => {
          assert.equal(e.name, 'TypeError', kind);
          assert.match(e.message, new RegExp(`^${op}: expected .* to be a Tensor( or a number)?, got (an object made from a Tensor|Object)`), kind);
          return true;
        });
        assert.equal(reads(), 0, `${kind}: no getter ran`);
      }
    });
  }

  it('saveSafetensors refuses a fake too, before touching the file', async () => {
    const [{ fake }] = fakesOf(ones([4]));
    await assert.rejects(saveSafetensors('/nonexistent/x.safetensors', { w: fake }), { name: 'TypeError', message: /^saveSafetensors: expected tensors\['w'\] to be a Tensor/ });
  });

  it('isTensor tells a real tensor (and its views) from fakes; instanceof does not', () => {
    const t = ones([4]);
    assert.equal(isTensor(t), true);
    assert.equal(isTensor(slice(t, 0, 1, 3)), true);
    for (const { fake } of fakesOf(ones([4]))) assert.equal(isTensor(fake), false);
    assert.equal(Object.create(t) instanceof Tensor, true, 'the reason instanceof is not the check');
    assert.equal(isTensor(null), false);
    assert.equal(isTensor({}), false);
  });

  it("a real tensor's fields cannot be replaced by getters or reassigned (it is frozen), and it still disposes", () => {
    const t = zeros([2, 3]);
    assert.ok(Object.isFrozen(t));
    assert.throws(() => Object.defineProperty(t, 'offset', { get: () => 0 }), TypeError);
    assert.equal(Reflect.set(t, 'offset', 5), false);
    assert.equal(Reflect.set(t, 'extra', 1), false);
    assert.equal(t.offset, 0);
    assert.deepEqual(Array.from(softmax(t).dataSync()), Array(6).fill(Math.fround(1 / 3)));
    t.dispose();
    assert.equal(t.disposed, true);
    assert.equal(t._storage, null);
  });

  it('a Tensor method called on a fake receiver throws a TypeError, and tidy() keeps only real tensors it made', () => {
    const t = ones([4]);
    assert.throws(() => Tensor.prototype.reshape.call(Object.create(t), [2, 2]), { name: 'TypeError', message: /^reshape: expected tensor to be a Tensor/ });
    assert.throws(() => Object.create(t).dataSync(), { name: 'TypeError', message: /^dataSync: expected tensor to be a Tensor/ });
    let made: Tensor | undefined;
    const result = tidy(() => {
      made = ones([2]);
      return { fake: Object.create(made) as Tensor };
    });
    assert.equal(made!.disposed, true, 'a fake in the result does not keep the tensor it was made from');
    assert.ok(result.fake);
  });
});
