// GradScaler: the unscale (one fused call that also flags inf/NaN), skipped steps, the scale's
// backoff and growth, its state; on every device.
import * as assert from 'node:assert/strict';
import { GradScaler, mean, mul, SGD, tensor } from '../../ts/index';
import { native } from '../../ts/native';
import { DEVICES, describeDevice, host } from '../helpers';
import { param, setGrad, values } from './reference';

for (const device of DEVICES) {
  describeDevice(device, 'GradScaler', () => {
    it('scale() multiplies the loss; step() unscales the gradients and steps', () => {
      const p = param(values(6, 1), [6], 'float16', device);
      const opt = new SGD([p], { lr: 0.5 });
      const scaler = new GradScaler({ initScale: 1024 });
      const loss = mean(mul(p, p), 0);
      const scaled = scaler.scale(loss);
      assert.equal(host(scaled)[0], host(loss)[0] * 1024);
      scaled.backward();
      const init = host(p), scaledGrad = host(p.grad!);
      assert.ok(scaler.step(opt), 'no inf: stepped');
      // The float32 master steps by the gradient divided back (exactly: a power of two), then rounds to float16.
      const want = host(tensor(init.map((v, i) => Math.fround(v - 0.5 * (scaledGrad[i] / 1024))), [6], { dtype: 'float16' }));
      assert.deepEqual(host(p), want);
      scaler.update();
      assert.equal(scaler.getScale(), 1024, 'one clean step of growthInterval 2000: no growth yet');
      for (const t of [p, loss, scaled]) t.dispose();
      opt.dispose();
    });

    it('unscale_ divides every gradient of every dtype and flags an inf or a NaN', () => {
      const a = param(values(5000, 2), [5000], 'float32', device), b = param(values(3, 3), [3], 'bfloat16', device);
      const opt = new SGD([a, b], { lr: 0.1 });
      const ga = values(5000, 4, 100);
      setGrad(a, ga);
      setGrad(b, [8, -16, 32]);
      const scaler = new GradScaler({ initScale: 8 });
      scaler.unscale_(opt);
      assert.deepEqual(host(a.grad!), ga.map((v) => Math.fround(v * 0.125)));
      assert.deepEqual(host(b.grad!), Float32Array.from([1, -2, 4]));
      assert.throws(() => scaler.unscale_(opt), /GradScaler\.unscale_: called twice on one optimizer since the last update\(\)/);
      assert.ok(scaler.step(opt), 'finite gradients: stepped');
      scaler.update();
      for (const bad of [Infinity, NaN]) {
        opt.zeroGrad();
        setGrad(a, ga);
        const gb = [1, bad, 2];
        setGrad(b, gb);
        const before = [host(a), host(b)];
        assert.equal(scaler.step(opt), false, `a gradient of ${bad}: skipped`);
        assert.deepEqual([host(a), host(b)], before, 'the parameters are unchanged');
        scaler.update();
      }
      assert.equal(scaler.getScale(), 2, 'halved twice');
      for (const t of [a, b]) t.dispose();
      opt.dispose();
    });

    it('the scale grows after growthInterval clean steps, a skip resets the count', () => {
      const p = param(values(4, 5), [4], 'float32', device);
      const opt = new SGD([p], { lr: 0.01 });
      const scaler = new GradScaler({ initScale: 16, growthInterval: 3, growthFactor: 4, backoffFactor: 0.25 });
      const iteration = (g: number[]) => {
        opt.zeroGrad();
        setGrad(p, g);
        const stepped = scaler.step(opt);
        scaler.update();
        return [stepped, scaler.getScale(), scaler.stateDict().growthTracker];
      };
      assert.deepEqual(iteration([1, 2, 3, 4]), [true, 16, 1]);
      assert.deepEqual(iteration([1, 2, 3, 4]), [true, 16, 2]);
      assert.deepEqual(iteration([1, 2, 3, 4]), [true, 64, 0]);
      assert.deepEqual(iteration([1, 2, 3, 4]), [true, 64, 1]);
      assert.deepEqual(iteration([1, Infinity, 3, 4]), [false, 16, 0]);
      assert.deepEqual(iteration([1, 2, 3, 4]), [true, 16, 1]);
      p.dispose();
      opt.dispose();
    });

    it('update() before any step is refused; update(newScale) sets the scale', () => {
      const scaler = new GradScaler();
      assert.throws(() => scaler.update(), /GradScaler\.update: no inf checks were recorded/);
      scaler.update(512);
      assert.equal(scaler.getScale(), 512);
      assert.throws(() => scaler.update(-1), /GradScaler\.update: newScale must be a finite number > 0, got -1/);
    });
  });
}

describe('GradScaler state and options', () => {
  it('stateDict() round-trips through a new scaler', () => {
    const a = new GradScaler({ initScale: 256, growthInterval: 7 });
    a.update(128);
    const b = new GradScaler();
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
    assert.deepEqual(b.stateDict(), { scale: 128, growthFactor: 2, backoffFactor: 0.5, growthInterval: 7, growthTracker: 0 });
  });

  it('disabled, it passes the loss through and steps every time', () => {
    const p = param(values(3, 1), [3]);
    const opt = new SGD([p], { lr: 1 });
    const scaler = new GradScaler({ enabled: false });
    const loss = tensor([2]);
    assert.equal(scaler.scale(loss), loss);
    setGrad(p, [1, 1, 1]);
    assert.ok(scaler.step(opt));
    assert.deepEqual(host(p), values(3, 1).map((v) => Math.fround(v - 1)));
    for (const t of [p, loss]) t.dispose();
  });

  it('refuses bad options and states with messages that name them', () => {
    assert.throws(() => new GradScaler({ initScale: NaN }), { name: 'RangeError', message: /GradScaler: options\.initScale must be a finite number > 0, got NaN/ });
    assert.throws(() => new GradScaler({ growthFactor: 0.5 }), /GradScaler: options\.growthFactor must be above 1/);
    assert.throws(() => new GradScaler({ backoffFactor: 1 }), /GradScaler: options\.backoffFactor must be below 1/);
    assert.throws(() => new GradScaler({ growthInterval: 0 }), /GradScaler: options\.growthInterval must be at least 1/);
    assert.throws(() => new GradScaler().loadStateDict({ scale: 1 } as never), /GradScaler\.loadStateDict: expected state\.growthFactor to be a number/);
    assert.throws(() => new GradScaler().step({} as never), /GradScaler\.step: expected optimizer to be an Optimizer/);
  });

  it('the addon refuses a foundInf that is not one float32 element, or that overlaps a gradient', () => {
    const g = tensor([1, 2, 3, 4]);
    assert.throws(() => native().unscaleGrads([g], tensor([0, 0]), 1), /unscaleGrads: foundInf must be a float32 tensor of one element/);
    assert.throws(() => native().unscaleGrads([g], g._view([1], [1], 2), 1), /unscaleGrads: grads and foundInf must not overlap each other/);
    assert.throws(() => native().unscaleGrads([g, g], tensor([0]), 1), /unscaleGrads: grads and foundInf must not overlap each other/);
    assert.throws(() => native().unscaleGrads(g as never, tensor([0]), 1), /unscaleGrads: grads must be an array of Tensors/);
    g.dispose();
  });
});
