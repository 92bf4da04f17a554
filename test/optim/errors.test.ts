// Bad input to the optimizers: each a clear error naming the function and the problem, before
// any parameter changes; and the addon's own checks of a forged optimizerStep call.
import * as assert from 'node:assert/strict';
import { AdamW, captureGraph, Linear, mul, SGD, tensor, Tensor, zeros } from '../../ts/index';
import { native } from '../../ts/native';
import { describeDevice, host } from '../helpers';
import { eachTwoParams, param, setGrad, values } from './reference';

const HYPER = new Float64Array([0, 0, 0, 0.9, 0.999, 1e-8, 0]);

describe('optimizer argument errors', () => {
  const params = eachTwoParams();

  it('refuses params that are not a list of live, contiguous float leaves given once', () => {
    const { p, q } = params;
    assert.throws(() => new AdamW(p as never), { name: 'TypeError', message: /AdamW: expected params to be an iterable of Tensors, \[name, Tensor\] pairs or parameter groups, got Tensor\[4\]/ });
    assert.throws(() => new AdamW([]), { name: 'RangeError', message: /AdamW: params is empty/ });
    assert.throws(() => new SGD([p, p]), /SGD: params\[1\] \(1\) is given twice/);
    assert.throws(() => new SGD([['w', p], ['w', q]]), /SGD: two parameters are named 'w'/);
    assert.throws(() => new SGD([tensor([1, 2], [2], { dtype: 'int32' })]), /SGD: expected params\[0\] to be a float tensor/);
    const y = mul(p, 2);
    assert.throws(() => new SGD([y]), /SGD: params\[0\] was made by a recorded op: an optimizer updates leaf tensors/);
    const m = param(values(6, 3), [2, 3]);
    const mt = m.detach().transpose();
    assert.throws(() => new SGD([mt]), /SGD: params\[0\] is not contiguous/);
    const gone = param(values(2, 4), [2]);
    gone.dispose();
    assert.throws(() => new SGD([p, gone]), /SGD: params\[1\] has been disposed/);
    assert.throws(() => new SGD([{ params: [p] }, q] as never), /SGD: expected params to be all parameter groups or no groups/);
    assert.throws(() => new AdamW([{ params: [p], betas: [0.5, 0.5] } as never]), /AdamW: params\[0\] sets betas: a group may set only lr and weightDecay/);
    assert.throws(() => new AdamW([{ params: [p], lr: -1 }]), /AdamW: params\[0\]\.lr must be a finite number >= 0, got -1/);
    for (const t of [y, m, mt]) t.dispose();
  });

  it('refuses an lr of NaN, betas out of [0, 1), and other bad options', () => {
    const { p } = params;
    assert.throws(() => new AdamW([p], { lr: NaN }), { name: 'RangeError', message: /AdamW: options\.lr must be a finite number >= 0, got NaN/ });
    assert.throws(() => new SGD([p], { lr: Infinity }), /SGD: options\.lr must be a finite number >= 0, got Infinity/);
    assert.throws(() => new SGD([p], { lr: '0.1' as never }), { name: 'TypeError', message: /SGD: expected options\.lr to be a number, got '0\.1'/ });
    assert.throws(() => new AdamW([p], { betas: [1, 0.999] }), { name: 'RangeError', message: /AdamW: options\.betas\[0\] must be in \[0, 1\), got 1/ });
    assert.throws(() => new AdamW([p], { betas: [0.9, -0.1] }), /AdamW: options\.betas\[1\] must be in \[0, 1\), got -0\.1/);
    assert.throws(() => new AdamW([p], { betas: [0.9] as never }), /AdamW: expected options\.betas to be a pair of numbers/);
    assert.throws(() => new AdamW([p], { eps: -1 }), /AdamW: options\.eps must be a finite number >= 0, got -1/);
    assert.throws(() => new AdamW([p], { weightDecay: NaN }), /AdamW: options\.weightDecay must be a finite number >= 0, got NaN/);
    assert.throws(() => new SGD([p], { nesterov: true }), { name: 'RangeError', message: /SGD: Nesterov momentum needs a momentum above 0 and a dampening of 0/ });
    assert.throws(() => new SGD([p], { momentum: 0.9, dampening: 0.1, nesterov: true }), /SGD: Nesterov momentum needs/);
    assert.throws(() => new SGD([p], { masterWeights: 1 as never }), /SGD: expected options\.masterWeights to be a boolean, got 1/);
  });

  it('step() refuses an lr a caller set to NaN, and a disposed parameter, before changing anything', () => {
    const { p, q } = params;
    const opt = new AdamW([['a', p], ['b', q]], { lr: 0.1 });
    setGrad(p, [1, 2, 3, 4]);
    setGrad(q, [1, 2, 3, 4]);
    opt.paramGroups[0].lr = NaN;
    assert.throws(() => opt.step(), { name: 'RangeError', message: /AdamW\.step: paramGroups\[0\]\.lr must be a finite number >= 0, got NaN/ });
    opt.paramGroups[0].lr = 0.1;
    const before = host(p);
    q.dispose();
    assert.throws(() => opt.step(), /AdamW\.step: parameter 'b' has been disposed \(Module\.to\(\) and cast\(\) replace a model's parameters: make the optimizer after them\)/);
    assert.deepEqual(host(p), before, 'a is unchanged: every parameter is checked before any steps');
    assert.throws(() => opt.zeroGrad(), /AdamW\.zeroGrad: parameter 'b' has been disposed/);
    opt.dispose();
  });

  it("a model cast after the optimizer was made: the optimizer's parameters are gone, and it says so", () => {
    
    const layer = new Linear(3, 2);
    for (const t of layer.parameters().values()) t.requiresGrad_();
    const opt = new SGD(layer.parameters(), { lr: 0.1 });
    layer.cast('float16');
    assert.throws(() => opt.step(), /SGD\.step: parameter 'weight' has been disposed/);
    layer.dispose();
  });

  it("loadStateDict refuses another optimizer's state, other parameters, and tensors that do not fit", () => {
    const { p, q } = params;
    const opt = new AdamW([['a', p], ['b', q]]);
    setGrad(p, [1, 2, 3, 4]);
    opt.step();
    const state = opt.stateDict();
    const sgd = new SGD([['a', p], ['b', q]], { momentum: 0.9 });
    assert.throws(() => sgd.loadStateDict(state), /SGD\.loadStateDict: the state is of AdamW, not SGD/);
    const other = new AdamW([['a', p], ['c', q]]);
    assert.throws(() => other.loadStateDict(state), /AdamW\.loadStateDict: the saved groups hold parameters \[a, b\] but this optimizer's hold \[a, c\]/);
    const wrong = new Map(state.tensors);
    wrong.set('state.a.exp_avg', zeros([5]));
    assert.throws(() => opt.loadStateDict({ tensors: wrong, meta: state.meta }), /AdamW\.loadStateDict: 'state\.a\.exp_avg' has shape \[5\] but its parameter has \[4\]/);
    wrong.delete('state.a.exp_avg');
    assert.throws(() => opt.loadStateDict({ tensors: wrong, meta: state.meta }), /AdamW\.loadStateDict: the saved state has no 'state\.a\.exp_avg' for a parameter stepped 1 times/);
    assert.throws(() => opt.loadStateDict({ tensors: state.tensors, meta: { ...state.meta, options: { ...state.meta.options, betas: [2, 0] } } }),
      /AdamW\.loadStateDict: options\.betas\[0\] must be in \[0, 1\), got 2/);
    assert.deepEqual(opt.betas, [0.9, 0.999], 'a refused load leaves the options');
    assert.throws(() => opt.loadStateDict(null as never), /AdamW\.loadStateDict: expected state to be an optimizer state/);
    for (const t of [...state.tensors.values(), ...wrong.values()]) t.dispose();
    for (const o of [opt, sgd, other]) o.dispose();
  });

  it('the addon refuses a forged optimizerStep: bad state ranges, overlaps, missing buffers, bad numbers', () => {
    const { p, q } = params;
    const g = tensor([1, 2, 3, 4]);
    const m = zeros([8]), v = zeros([8]);
    const step = (entries: number[], o: { params?: Tensor[]; grads?: Tensor[]; m?: Tensor | null; v?: Tensor | null; hyper?: Float64Array } = {}) =>
      native().optimizerStep(1, o.params ?? [p], o.grads ?? [g], null, o.m === undefined ? m : o.m, o.v === undefined ? v : o.v, null, new Float64Array(entries), o.hyper ?? HYPER);
    assert.throws(() => step([5, 0.1, 0, 1]), /optimizerStep: a parameter's state range runs past the end of a state buffer/);
    assert.throws(() => step([4, 0.1, 0, 1, 0, 0.1, 0, 1], { params: [p, q], grads: [g, g] }), /optimizerStep: state offsets must ascend/);
    assert.throws(() => step([0, 0.1, 0, 1], { params: [m._view([4], [1], 0)], v: m }), /optimizerStep: params and state buffers must not overlap each other or a grad/);
    assert.throws(() => step([0, 0.1, 0, 1], { grads: [p] }), /optimizerStep: params and state buffers must not overlap each other or a grad/);
    assert.throws(() => step([0, 0.1, 0, 1], { v: null }), /optimizerStep: state2 \(exp_avg_sq\) must be given for this optimizer and its options/);
    assert.throws(() => step([0, NaN, 0, 1]), /optimizerStep: lr must be a finite number >= 0/);
    assert.throws(() => step([0, 0.1, 0, 0]), /optimizerStep: entries: steps must be integers of at least 1/);
    assert.throws(() => step([0.5, 0.1, 0, 1]), /optimizerStep: entries: state offsets must be non-negative integers/);
    assert.throws(() => step([0, 0.1, 0]), /optimizerStep: entries must hold 4 numbers/);
    assert.throws(() => step([0, 0.1, 0, 1], { hyper: new Float64Array([0, 0, 0, 1, 0.999, 1e-8, 0]) }), /optimizerStep: betas must be in \[0, 1\)/);
    assert.throws(() => step([0, 0.1, 0, 1], { grads: [tensor([1, 2, 3])] }), /optimizerStep: every param and grad must be contiguous and of one float dtype/);
    assert.throws(() => native().optimizerStep(2, [p], [g], null, m, v, null, new Float64Array([0, 0.1, 0, 1]), HYPER), /optimizerStep: kind must be 0 \(SGD\) or 1 \(AdamW\)/);
    assert.throws(() => native().optimizerStep(0, [p], [g], null, null, null, null, new Float64Array([0, 0.1, 0, 1]), new Float64Array([0, 0, 1, 0, 0, 0, 0])),
      /optimizerStep: nesterov needs a momentum above 0 and a dampening of 0/);
    const dead = tensor([1, 2, 3, 4]);
    dead.dispose();
    assert.throws(() => step([0, 0.1, 0, 1], { grads: [dead] }), /optimizerStep: grads\[0\] must be a Tensor/);
    assert.deepEqual(host(p), values(4, 1), 'no forged call changed the parameter');
    for (const t of [g, m, v]) t.dispose();
  });
});

describeDevice('cuda:0', 'optimizer device errors', () => {
  it('an optimizer over parameters on two devices steps each on its own; a call mixing devices is refused', () => {
    const a = param(values(5, 1), [5], 'float32', 'cpu'), b = param(values(5, 1), [5], 'float32', 'cuda:0');
    const opt = new SGD([a, b], { lr: 0.1, momentum: 0.5 });
    setGrad(a, values(5, 2));
    setGrad(b, values(5, 2));
    opt.step();
    assert.deepEqual(host(b), host(a));
    const g = tensor(values(5, 2), [5], { device: 'cuda:0' });
    assert.throws(() => native().optimizerStep(0, [a], [g], null, null, null, null, new Float64Array([0, 0.1, 0, 1]), new Float64Array(7)),
      /optimizerStep: tensors are on different devices \(cpu and cuda:0\)/);
    for (const t of [a, b, g]) t.dispose();
    opt.dispose();
  });

  it('a step inside a CUDA graph capture is refused (its list is uploaded from the host each call)', () => {
    const p = param(values(5, 1), [5], 'float32', 'cuda:0');
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    setGrad(p, values(5, 2));
    assert.throws(() => captureGraph('cuda:0', () => opt.step()), /optimizerStep: the optimizer ops upload their list of tensors from the host on every call, which a CUDA graph capture cannot record/);
    opt.step();
    assert.notDeepEqual(host(p), values(5, 1), 'the device is usable after the refused capture');
    p.dispose();
    opt.dispose();
  });
});
