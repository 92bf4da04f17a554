// Bad uses of autograd: each a clear Error naming backward (or the op), nothing crashes.
import * as assert from 'node:assert/strict';
import {
  add, attention, backends, backward, noGrad, registerAttention, gelu, layerNorm, linear, mean, mul, patchEmbed, randn, residualAdd, softmax, tensor, zeroGrad, zeros,
} from '../../ts/index';

describe('autograd errors', () => {
  it('backward of a non-scalar without a gradient', () => {
    const x = tensor([1, 2]).requiresGrad_();
    const y = mul(x, 2);
    assert.throws(() => y.backward(), /^RangeError: backward: the tensor has shape \[2\] \(2 elements\): give a gradient/);
    for (const t of [x, y]) t.dispose();
  });

  it('backward twice through a freed tape', () => {
    const x = tensor([1, 2]).requiresGrad_();
    const loss = mean(mul(x, x), 0);
    loss.backward();
    assert.throws(() => loss.backward(), /^Error: backward: the tape through 'mean' was freed by an earlier backward/);
    for (const t of [x, loss]) t.dispose();
  });

  it('a disposed leaf in the tape, found before any gradient is computed', () => {
    const x = tensor([1, 2]).requiresGrad_();
    const w = tensor([3, 4]).requiresGrad_();
    const loss = mean(mul(x, w), 0);
    w.dispose();
    assert.throws(() => loss.backward(), /^TypeError: backward: a tensor that requires grad \(input 1 of 'mul'\) has been disposed/);
    assert.equal(x.grad, null);
    for (const t of [x, loss]) t.dispose();
  });

  it('a saved tensor written in place after the forward', () => {
    const x = tensor([1, 2]).requiresGrad_();
    const h = tensor([3, 4]);
    const loss = mean(mul(x, h), 0);
    add(h, 1, { out: h });
    assert.throws(() => loss.backward(), /^Error: backward: a tensor 'mul' saved for its gradient was written in place/);
    for (const t of [x, h, loss]) t.dispose();
  });

  it('a gradient of the wrong shape, dtype or device; a tensor that does not require grad', () => {
    const x = tensor([1, 2]).requiresGrad_();
    const y = mul(x, 2);
    assert.throws(() => backward(y, tensor([1, 2, 3])), /backward: gradient has shape \[3\] but the tensor has \[2\]/);
    assert.throws(() => backward(y, tensor([1, 2], [2], { dtype: 'float16' })), /backward: expected gradient to be a float32 tensor/);
    if (backends().includes('cuda')) {
      const g = tensor([1, 1], [2], { device: 'cuda:0' });
      assert.throws(() => backward(y, g), /backward: expected gradient to be on cpu/);
      g.dispose();
    }
    assert.throws(() => backward(tensor([1])), /backward: the tensor .* does not require grad/);
    assert.throws(() => backward(null as never), /backward: expected tensor to be a Tensor/);
    for (const t of [x, y]) t.dispose();
    assert.throws(() => y.backward(), /backward: tensor has been disposed/);
  });

  it('ops that cannot record say so: options.out (the fused ones too), an in-place leaf, an op with no gradient yet', () => {
    const x = randn([2, 3], { seed: 1 }).requiresGrad_();
    const w = randn([3, 3], { seed: 2 });
    const out = randn([2, 3], { seed: 3 });
    assert.throws(() => add(x, 1, { out }), /^TypeError: add: options.out cannot be used while an input requires grad/);
    assert.throws(() => residualAdd(x, out), /^RangeError: residualAdd: x is a leaf that requires grad/);
    assert.throws(() => layerNorm(x, null, null, 1e-5, { out }), /^TypeError: layerNorm: options.out cannot be used while an input requires grad/);
    assert.throws(() => softmax(x, { out }), /^TypeError: softmax: options.out cannot be used while an input requires grad/);
    assert.throws(() => gelu(x, { out }), /^TypeError: gelu: options.out cannot be used while an input requires grad/);
    assert.throws(() => linear(x, w, null, { activation: 'relu', out }), /^TypeError: linear: options.out cannot be used while an input requires grad/);
    const images = randn([1, 3, 4, 4], { seed: 4 }).requiresGrad_();
    const pw = randn([2, 3, 2, 2], { seed: 5 });
    assert.throws(() => patchEmbed(images, pw, null, 2, { out: randn([1, 4, 2]) }), /^TypeError: patchEmbed: options.out cannot be used while an input requires grad/);
    // Attention records for every built-in mechanism; a registered one that records no gradient is refused, never silently not recorded.
    const q = randn([1, 3, 1, 4], { seed: 6 });
    const qg = randn([1, 3, 1, 4], { seed: 7 }).requiresGrad_();
    const bias = randn([1, 1, 3, 3], { seed: 8 }).requiresGrad_();
    for (const [mechanism, args] of [['memory_efficient', [qg, q, q]], ['vanilla', [q, q, qg]], ['memory_efficient', [q, qg, q]]] as const) {
      const o = attention(args[0], args[1], args[2], { mechanism });
      assert.equal(o.requiresGrad, true, mechanism);
      o.dispose();
    }
    registerAttention('errors_test_no_grad', { notSupportedReasons: () => [], forward: (i) => zeros(i.q.shape) }); // through no op that records
    for (const [args, options] of [[[qg, q, q], {}], [[q, q, q], { bias }]] as const) {
      assert.throws(() => attention(args[0], args[1], args[2], { mechanism: 'errors_test_no_grad', ...options }),
        /^TypeError: attention: mechanism 'errors_test_no_grad' has no gradient: an input requires grad, but it has no forwardWithGrad/);
    }
    const plain = noGrad(() => attention(qg, q, q, { mechanism: 'errors_test_no_grad' }));
    assert.equal(plain.requiresGrad, false, 'under noGrad it runs');
    plain.dispose();
    for (const t of [x, w, out, images, pw, q, qg, bias]) t.dispose();
  });

  it('requiresGrad_ and zeroGrad check their arguments', () => {
    const i = tensor(new Int32Array([1]));
    assert.throws(() => i.requiresGrad_(), /requiresGrad_: expected this to be a float tensor/);
    const x = tensor([1]).requiresGrad_();
    const y = mul(x, 2);
    assert.throws(() => y.requiresGrad_(false), /requiresGrad_: this tensor was made by a recorded op/);
    assert.throws(() => zeroGrad(3 as never), /zeroGrad: expected tensors to be an iterable of Tensors/);
    for (const t of [i, x, y]) t.dispose();
  });
});
