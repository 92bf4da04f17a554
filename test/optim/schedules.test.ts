// Learning-rate schedules: their values at the steps that define them, what they set on the
// optimizer's groups, their saved state, their argument errors.
import * as assert from 'node:assert/strict';
import { AdamW, CosineWithWarmup, LinearLR, SGD, StepLR } from '../../ts/index';
import { eachTwoParams } from './reference';

const close = (a: number[], b: number[], label: string) =>
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-12 * Math.max(1, Math.abs(b[i])), `${label}[${i}]: ${v} vs ${b[i]}`));

describe('learning-rate schedules', () => {
  const params = eachTwoParams();

  it('CosineWithWarmup: 0 at step 0, linear to the base lr at the end of warmup, cosine to minLr, held after', () => {
    const { p, q } = params;
    const opt = new AdamW([{ params: [p], lr: 0.1 }, { params: [q], lr: 0.01 }]);
    const s = new CosineWithWarmup(opt, { warmupSteps: 4, totalSteps: 12, minLr: 0.001 });
    close(s.lrsAt(0), [0, 0], 'step 0');
    close(s.lrsAt(1), [0.025, 0.0025], 'step 1');
    close(s.lrsAt(4), [0.1, 0.01], 'end of warmup');
    close(s.lrsAt(8), [0.001 + 0.099 / 2, 0.001 + 0.009 / 2], 'half way through the decay');
    close(s.lrsAt(6), [0.001 + 0.099 * (1 + Math.SQRT1_2) / 2, 0.001 + 0.009 * (1 + Math.SQRT1_2) / 2], 'a quarter of the decay');
    close(s.lrsAt(12), [0.001, 0.001], 'end');
    close(s.lrsAt(40), [0.001, 0.001], 'after the end');
    assert.deepEqual(opt.paramGroups.map((g) => g.lr), [0, 0], 'made: the lr of step 0 is set');
    for (let t = 0; t < 6; t++) s.step();
    assert.equal(s.lastStep, 6);
    close(opt.paramGroups.map((g) => g.lr), s.lrsAt(6), 'after six steps');
    close(s.getLastLr(), s.lrsAt(6), 'getLastLr');
  });

  it('CosineWithWarmup without warmup starts at the base lr', () => {
    const { p } = params;
    const s = new CosineWithWarmup(new SGD([p], { lr: 0.2 }), { warmupSteps: 0, totalSteps: 10 });
    close(s.lrsAt(0), [0.2], 'step 0');
    close(s.lrsAt(5), [0.1], 'step 5');
    close(s.lrsAt(10), [0], 'step 10');
  });

  it('StepLR: base · gamma^⌊t / stepSize⌋', () => {
    const { p } = params;
    const s = new StepLR(new SGD([p], { lr: 1 }), { stepSize: 3, gamma: 0.5 });
    close([0, 1, 2, 3, 5, 6, 9].map((t) => s.lrsAt(t)[0]), [1, 1, 1, 0.5, 0.5, 0.25, 0.125], 'StepLR');
  });

  it('LinearLR: a linear ramp of the factor from startFactor to endFactor over totalIters, then held', () => {
    const { p, q } = params;
    const s = new LinearLR(new SGD([p], { lr: 0.3 }), { startFactor: 0.25, endFactor: 1, totalIters: 3 });
    close([0, 1, 2, 3, 10].map((t) => s.lrsAt(t)[0]), [0.075, 0.15, 0.225, 0.3, 0.3], 'warmup');
    const d = new LinearLR(new SGD([q], { lr: 1 }), { startFactor: 1, endFactor: 0, totalIters: 4 });
    close([0, 2, 4, 5].map((t) => d.lrsAt(t)[0]), [1, 0.5, 0, 0], 'decay');
    close(new LinearLR(new SGD([q], { lr: 3 })).lrsAt(0), [1], "torch's defaults: 1/3 over 5 steps");
  });

  it('a schedule restored from its state sets the same lr on a fresh optimizer', () => {
    const { p, q } = params;
    const a = new CosineWithWarmup(new AdamW([p], { lr: 0.1 }), { warmupSteps: 2, totalSteps: 20 });
    for (let t = 0; t < 7; t++) a.step();
    const opt = new AdamW([q], { lr: 0.5 });
    const b = new CosineWithWarmup(opt, { warmupSteps: 2, totalSteps: 20 });
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
    assert.equal(b.lastStep, 7);
    assert.equal(opt.paramGroups[0].lr, a.optimizer.paramGroups[0].lr);
    b.step();
    a.step();
    assert.equal(opt.paramGroups[0].lr, a.optimizer.paramGroups[0].lr);
  });

  it('refuses bad options with messages that name them', () => {
    const { p } = params;
    const opt = new SGD([p], { lr: 0.1 });
    assert.throws(() => new CosineWithWarmup(opt, { warmupSteps: -1, totalSteps: 10 }), { name: 'RangeError', message: /^CosineWithWarmup: options\.warmupSteps must be at least 0/ });
    assert.throws(() => new CosineWithWarmup(opt, { warmupSteps: 5, totalSteps: 4 }), /CosineWithWarmup: options\.totalSteps must be at least 5/);
    assert.throws(() => new CosineWithWarmup(opt, { warmupSteps: 1.5, totalSteps: 4 }), { name: 'TypeError', message: /expected options\.warmupSteps to be an integer/ });
    assert.throws(() => new StepLR(opt, { stepSize: 0 }), /StepLR: options\.stepSize must be at least 1/);
    assert.throws(() => new LinearLR(opt, { startFactor: 0 }), /LinearLR: options\.startFactor must be in \(0, 1\]/);
    assert.throws(() => new StepLR({} as never, { stepSize: 1 }), /StepLR: expected optimizer to be an Optimizer/);
    assert.throws(() => new StepLR(opt, { stepSize: 1 }).loadStateDict({ lastStep: 0, baseLrs: [1, 2] }), /StepLR\.loadStateDict: the state has 2 groups, the optimizer 1/);
  });
});
