// SGD and AdamW against PyTorch's update formulas in float64: one step, several steps, groups,
// parameters without a gradient, mixed precision with float32 master weights; on every device.
import * as assert from 'node:assert/strict';
import { AdamW, Device, FloatDType, GradScaler, mean, mul, SGD, Tensor, tensor, tidy } from '../../ts/index';
import { liveStorage } from '../../ts/tensor';
import { assertClose, DEVICES, describeDevice, host } from '../helpers';
import { AdamWHyper, AdamWRef, param, setGrad, SGDHyper, SGDRef, values } from './reference';

// Sizes around the CUDA kernel's 4096-element chunks, and a 1-element parameter.
const SHAPES: number[][] = [[1], [7, 3], [4097], [2, 2600]];
const sizeOf = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** ‖(a − p0) − (r − p0)‖ / ‖r − p0‖: the update itself, not the value it was added to. */
function assertUpdate(after: Float32Array, before: ArrayLike<number>, ref: Float64Array, tol: number, label: string): void {
  const got = after.map((v, i) => v - before[i]);
  const want = Array.from(ref, (v, i) => v - before[i]);
  assertClose(got, want, tol, `${label} update`);
}

function makeParams(device: Device, dtype: FloatDType = 'float32', seed = 1): { params: Tensor[]; init: Float32Array[] } {
  const init = SHAPES.map((s, i) => Float32Array.from(host(tensor(values(sizeOf(s), seed + i), s, { dtype }))));
  return { params: SHAPES.map((s, i) => param(init[i], s, dtype, device)), init };
}

/** A float64 reference of one parameter's optimizer. */
interface Reference { p: Float64Array; update(g: ArrayLike<number>): void }

/**
 * `steps` steps of `opt` over SHAPES' parameters with fresh gradients, each mirrored by its
 * reference; then every parameter and its last update against the reference.
 */
function checkSteps(opt: AdamW | SGD, params: Tensor[], init: Float32Array[], refs: Reference[], steps: number, label: string): void {
  let before = init;
  for (let t = 0; t < steps; t++) {
    params.forEach((p, i) => {
      const g = values(p.size, 100 * t + i, 0.5);
      setGrad(p, g);
      refs[i].update(g);
    });
    before = params.map((p) => host(p));
    opt.step();
    opt.zeroGrad();
  }
  params.forEach((p, i) => {
    assertClose(host(p), refs[i].p, 1e-6 * (1 + steps), `${label} param ${i}`);
    assertUpdate(host(p), before[i], refs[i].p, 1e-4, `${label} param ${i}`);
  });
}

function adamwStep(device: Device, h: AdamWHyper, steps: number, label: string): void {
  const { params, init } = makeParams(device);
  const refs = init.map((v) => new AdamWRef(v));
  const opt = new AdamW(params, { lr: h.lr, weightDecay: h.weightDecay, betas: h.betas, eps: h.eps, amsgrad: h.amsgrad });
  checkSteps(opt, params, init, refs.map((r) => ({ p: r.p, update: (g) => r.update(g, h) })), steps, label);
  const state = opt.stateDict();
  assertClose(host(state.tensors.get('state.2.exp_avg')!), refs[2].m, 1e-6, `${label} exp_avg`);
  assertClose(host(state.tensors.get('state.2.exp_avg_sq')!), refs[2].v, 1e-6, `${label} exp_avg_sq`);
  if (h.amsgrad) assertClose(host(state.tensors.get('state.2.max_exp_avg_sq')!), refs[2].vmax, 1e-6, `${label} max_exp_avg_sq`);
  assert.deepEqual(state.meta.steps, { 0: steps, 1: steps, 2: steps, 3: steps });
  for (const t of [...params, ...state.tensors.values()]) t.dispose();
  opt.dispose();
}

function sgdStep(device: Device, h: SGDHyper, steps: number, label: string): void {
  const { params, init } = makeParams(device);
  const refs = init.map((v) => new SGDRef(v));
  const opt = new SGD(params, h);
  checkSteps(opt, params, init, refs.map((r) => ({ p: r.p, update: (g) => r.update(g, h) })), steps, label);
  const state = opt.stateDict();
  if (h.momentum !== 0) assertClose(host(state.tensors.get('state.3.momentum_buffer')!), refs[3].buf!, 1e-6, `${label} momentum_buffer`);
  for (const t of [...params, ...state.tensors.values()]) t.dispose();
  opt.dispose();
}

const ADAMW: AdamWHyper = { lr: 0.05, weightDecay: 0.1, betas: [0.9, 0.999], eps: 1e-8, amsgrad: false };
const SGD_CASES: [string, SGDHyper][] = [
  ['plain', { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 }],
  ['momentum, dampening, weight decay', { lr: 0.1, momentum: 0.9, dampening: 0.25, nesterov: false, weightDecay: 0.05 }],
  ['Nesterov, weight decay', { lr: 0.1, momentum: 0.8, dampening: 0, nesterov: true, weightDecay: 0.01 }],
];

for (const device of DEVICES) {
  describeDevice(device, 'optimizers against PyTorch\'s formulas in float64', () => {
    it('one AdamW step: decoupled weight decay, bias correction', () => adamwStep(device, ADAMW, 1, 'AdamW'));
    it('six AdamW steps with amsgrad and betas [0.8, 0.99]', () => {
      adamwStep(device, { ...ADAMW, betas: [0.8, 0.99], eps: 1e-6, amsgrad: true }, 6, 'AdamW amsgrad');
    });
    for (const [label, h] of SGD_CASES) {
      it(`one SGD step, ${label}`, () => sgdStep(device, h, 1, `SGD ${label}`));
      it(`five SGD steps, ${label}`, () => sgdStep(device, h, 5, `SGD ${label}`));
    }

    it('groups take their own lr and weight decay', () => {
      const a = param(values(50, 1), [50], 'float32', device), b = param(values(50, 2), [50], 'float32', device);
      const opt = new AdamW([{ params: [['a', a]], lr: 0.01 }, { params: [['b', b]], weightDecay: 0 }], { lr: 0.1, weightDecay: 0.5 });
      const ra = new AdamWRef(values(50, 1)), rb = new AdamWRef(values(50, 2));
      const ga = values(50, 3), gb = values(50, 4);
      setGrad(a, ga);
      setGrad(b, gb);
      opt.step();
      ra.update(ga, { ...ADAMW, lr: 0.01, weightDecay: 0.5 });
      rb.update(gb, { ...ADAMW, lr: 0.1, weightDecay: 0 });
      assertUpdate(host(a), values(50, 1), ra.p, 1e-4, 'group a');
      assertUpdate(host(b), values(50, 2), rb.p, 1e-4, 'group b');
      for (const t of [a, b]) t.dispose();
      opt.dispose();
    });

    it('skips a parameter without a gradient: its values, state and step count stay', () => {
      const a = param(values(9, 1), [9], 'float32', device), b = param(values(9, 2), [9], 'float32', device);
      const opt = new SGD([['a', a], ['b', b]], { lr: 0.1, momentum: 0.9 });
      setGrad(a, values(9, 3));
      opt.step();
      assert.deepEqual(host(b), values(9, 2), 'b has no gradient: unchanged');
      assert.deepEqual(opt.stateDict().meta.steps, { a: 1 });
      opt.zeroGrad();
      setGrad(b, values(9, 4));
      opt.step();
      const ref = new SGDRef(values(9, 2));
      ref.update(values(9, 4), { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 });
      assertClose(host(b), ref.p, 1e-6, 'b on its own first step (momentum buffer = gradient)');
      assert.deepEqual(opt.stateDict().meta.steps, { a: 1, b: 1 });
      for (const t of [a, b]) t.dispose();
      opt.dispose();
    });

    for (const dtype of ['float16', 'bfloat16'] as const) {
      it(`${dtype} parameters: float32 master weights follow float64, each parameter its master rounded`, () => {
        const { params, init } = makeParams(device, dtype, 7);
        const refs = init.map((v) => new AdamWRef(v));
        const opt = new AdamW(params.map((p, i) => [`p${i}`, p] as const), { lr: 1e-3, weightDecay: 0.1 });
        for (let t = 0; t < 3; t++) {
          params.forEach((p, i) => {
            const g = host(tensor(values(p.size, 10 * t + i), p.shape, { dtype })); // exact in the dtype
            setGrad(p, g);
            refs[i].update(g, { ...ADAMW, lr: 1e-3 });
          });
          opt.step();
          opt.zeroGrad();
        }
        const state = opt.stateDict();
        params.forEach((p, i) => {
          const master = state.tensors.get(`state.p${i}.master`)!;
          assert.equal(master.dtype, 'float32');
          // Updates of 1e-3 are below a 16-bit ulp of most values: only the master can follow them.
          assertUpdate(host(master), init[i], refs[i].p, 1e-4, `${dtype} master ${i}`);
          assert.deepEqual(host(p), host(tensor(host(master), p.shape, { dtype })), `${dtype} param ${i} = its master rounded`);
        });
        for (const t of [...params, ...state.tensors.values()]) t.dispose();
        opt.dispose();
      });
    }

    it('masterWeights: false updates a float16 parameter in place, rounding once a step', () => {
      const init = host(tensor(values(64, 5), [64], { dtype: 'float16' }));
      const p = param(init, [64], 'float16', device);
      const opt = new SGD([p], { lr: 0.25, masterWeights: false });
      const g = host(tensor(values(64, 6), [64], { dtype: 'float16' }));
      setGrad(p, g);
      opt.step();
      const want = host(tensor(init.map((v, i) => Math.fround(v - Math.fround(0.25 * g[i]))), [64], { dtype: 'float16' }));
      assert.deepEqual(host(p), want);
      assert.deepEqual([...opt.stateDict().tensors.keys()], [], 'no master weights, no momentum buffer');
      p.dispose();
      opt.dispose();
    });

    it('training steps inside tidy() keep the state; dispose() frees it: no storage is left behind', () => {
      const before = liveStorage().storages;
      const ps = [param(values(300, 1), [300], 'float16', device), param(values(7, 2), [7], 'float32', device)];
      const opt = new AdamW(ps, { lr: 0.01, amsgrad: true });
      const scaler = new GradScaler({ initScale: 64 });
      for (let t = 0; t < 3; t++) {
        tidy(() => {
          scaler.scale(mean(mul(ps[0], ps[0]), 0)).backward();
          scaler.scale(mean(mul(ps[1], ps[1]), 0)).backward();
          scaler.step(opt);
          scaler.update();
          opt.zeroGrad();
        });
      }
      const state = opt.stateDict();
      assert.equal(state.meta.steps[0], 3, 'the state made inside the first tidy() outlived it');
      for (const t of state.tensors.values()) t.dispose();
      opt.dispose();
      for (const t of ps) t.dispose();
      assert.equal(liveStorage().storages, before);
    });

    it('a step counts as a write: a tape that saved the parameter refuses backward', () => {
      const p = param(values(4, 1), [4], 'float32', device);
      const opt = new SGD([p], { lr: 0.1 });
      setGrad(p, values(4, 2));
      const y = mul(p, p); // saves p
      opt.step();
      assert.throws(() => y.backward(tensor(new Float32Array(4).fill(1), [4], { device })), /written in place/);
      for (const t of [p, y]) t.dispose();
      opt.dispose();
    });
  });
}

describeDevice('cuda:0', 'optimizers: CUDA against the CPU', () => {
  for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
    it(`AdamW (amsgrad) and SGD (Nesterov) steps on CUDA give the CPU's values, ${dtype}`, () => {
      const run = (device: Device, make: (ps: [string, Tensor][]) => AdamW | SGD): Float32Array[] => {
        const { params } = makeParams(device, dtype, 11);
        const opt = make(params.map((p, i) => [`p${i}`, p]));
        for (let t = 0; t < 3; t++) {
          params.forEach((p, i) => setGrad(p, values(p.size, 50 + 10 * t + i)));
          opt.step();
          opt.zeroGrad();
        }
        const out = params.map((p) => host(p));
        for (const p of params) p.dispose();
        opt.dispose();
        return out;
      };
      const adamw = (ps: [string, Tensor][]) => new AdamW(ps, { lr: 0.01, amsgrad: true });
      const sgd = (ps: [string, Tensor][]) => new SGD(ps, { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-3 });
      for (const make of [adamw, sgd]) {
        const cpu = run('cpu', make), gpu = run('cuda:0', make);
        cpu.forEach((c, i) => assertClose(gpu[i], c, dtype === 'float32' ? 1e-6 : 4e-3, `${make === adamw ? 'AdamW' : 'SGD'} param ${i}`));
      }
    });
  }
});
