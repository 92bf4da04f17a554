// Checkpoints: a tiny model trained N steps, saved at step k and resumed in a fresh model,
// optimizer, schedule (and scaler) gives the same loss curve bit for bit on the CPU; the files'
// contents and the errors of a checkpoint that does not fit.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AdamW, CosineWithWarmup, FloatDType, GradScaler, Linear, loadCheckpoint, mean, Module, mul, readSafetensors, saveCheckpoint, SGD, StepLR,
  sub, tensor, Tensor, tidy,
} from '../../ts/index';
import { values } from './reference';

class TinyNet extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(seed: number, dtype: FloatDType = 'float32') {
    super();
    this.fc1 = this.child('fc1', new Linear(6, 16, { seed, dtype }));
    this.fc2 = this.child('fc2', new Linear(16, 3, { seed: seed + 1, dtype }));
    this.train(); // a forward records only in training mode (or from inputs that require grad)
  }
  /** The mean squared error of the net on a batch, composed from sub, mul and mean. */
  loss(x: Tensor, target: Tensor): Tensor {
    return tidy(() => {
      const d = sub(this.fc2.forward(this.fc1.forward(x, 'gelu')), target);
      return mean(mean(mul(d, d), 1), 0);
    });
  }
}

interface Run {
  model: TinyNet;
  step(t: number): number; // one training step on batch t; returns its loss
  parts(): { optimizer: AdamW | SGD; scheduler: CosineWithWarmup | StepLR; scaler?: GradScaler };
}

// A teacher the net can learn: targets x·T for a fixed T [6, 3].
const TEACHER = values(6 * 3, 77);
function batch(t: number, dtype: FloatDType): [Tensor, Tensor] {
  const x = values(8 * 6, 1000 + t);
  const y = Float32Array.from({ length: 8 * 3 }, (_, k) => {
    const [r, c] = [Math.floor(k / 3), k % 3];
    return TEACHER.reduce((s, w, i) => (i % 3 === c ? s + w * x[r * 6 + Math.floor(i / 3)] : s), 0);
  });
  return [tensor(x, [8, 6], { dtype }), tensor(y, [8, 3], { dtype })];
}

/** AdamW with cosine warmup in float32. */
function adamwRun(seed: number): Run {
  const model = new TinyNet(seed);
  const optimizer = new AdamW(model.parameters(), { lr: 0.02, weightDecay: 0.05, amsgrad: true });
  const scheduler = new CosineWithWarmup(optimizer, { warmupSteps: 3, totalSteps: 12 });
  return {
    model,
    parts: () => ({ optimizer, scheduler }),
    step(t) {
      const [x, y] = batch(t, 'float32');
      const loss = model.loss(x, y);
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
      scheduler.step();
      const v = loss.dataSync()[0];
      for (const u of [x, y, loss]) u.dispose();
      return v;
    },
  };
}

/** SGD with Nesterov momentum on a float16 model: master weights and loss scaling. */
function halfRun(seed: number): Run {
  const model = new TinyNet(seed, 'float16');
  const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true });
  const scheduler = new StepLR(optimizer, { stepSize: 4, gamma: 0.5 });
  const scaler = new GradScaler({ initScale: 2 ** 14, growthInterval: 2 });
  return {
    model,
    parts: () => ({ optimizer, scheduler, scaler }),
    step(t) {
      const [x, y] = batch(t, 'float16');
      const loss = model.loss(x, y);
      const scaled = scaler.scale(loss);
      scaled.backward();
      scaler.step(optimizer);
      scaler.update();
      optimizer.zeroGrad();
      scheduler.step();
      const v = loss.dataSync()[0];
      for (const u of [x, y, loss, scaled]) u.dispose();
      return v;
    },
  };
}

describe('checkpoints', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeformers-ckpt-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const N = 10, K = 4;
  for (const [label, make] of [['AdamW (amsgrad), cosine warmup, float32', adamwRun], ['SGD (Nesterov), StepLR, GradScaler, float16 with master weights', halfRun]] as const) {
    it(`resumed at step ${K} of ${N}, the loss curve is the same bit for bit: ${label}`, async () => {
      const whole = make(1);
      const curve: number[] = [];
      for (let t = 0; t < N; t++) {
        curve.push(whole.step(t));
        if (t + 1 === K) await saveCheckpoint(dir, { model: whole.model, ...whole.parts(), step: K });
      }
      assert.ok(curve[N - 1] < curve[0], `the tiny net learns: ${curve[0]} -> ${curve[N - 1]}`);

      const resumed = make(99); // other initial weights: everything must come from the checkpoint
      const { step } = await loadCheckpoint(dir, { model: resumed.model, ...resumed.parts() });
      assert.equal(step, K);
      const rest: number[] = [];
      for (let t = K; t < N; t++) rest.push(resumed.step(t));
      assert.deepEqual(rest, curve.slice(K));
      for (const run of [whole, resumed]) {
        run.model.dispose();
        run.parts().optimizer.dispose();
      }
    });
  }

  it('model.safetensors holds the parameters by their names, nothing else; training.safetensors the rest', async () => {
    const run = adamwRun(3);
    run.step(0);
    await saveCheckpoint(dir, { model: run.model, ...run.parts(), step: 1 });
    const model = await readSafetensors(path.join(dir, 'model.safetensors'));
    assert.deepEqual([...model.tensors.keys()].sort(), ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    assert.equal(model.metadata.format, 'pt');
    assert.deepEqual(model.tensors.get('fc1.weight')!.shape, [16, 6]);
    const training = await readSafetensors(path.join(dir, 'training.safetensors'));
    assert.deepEqual([...training.tensors.keys()].sort(), ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'].flatMap((k) =>
      ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight'].map((n) => `optimizer.state.${n}.${k}`)).sort());
    const meta = JSON.parse(training.metadata['nodeformers.training']);
    assert.equal(meta.step, 1);
    assert.deepEqual(meta.optimizer.steps, { 'fc1.weight': 1, 'fc1.bias': 1, 'fc2.weight': 1, 'fc2.bias': 1 });
    assert.deepEqual(meta.scheduler, { lastStep: 1, baseLrs: [0.02] });
    run.model.dispose();
    run.parts().optimizer.dispose();
  });

  it('refuses a checkpoint whose two files come from different saves, or whose weights do not fit', async () => {
    const run = adamwRun(5);
    const other = path.join(dir, 'other');
    await saveCheckpoint(dir, { model: run.model });
    await saveCheckpoint(other, { model: run.model });
    fs.copyFileSync(path.join(other, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    await assert.rejects(loadCheckpoint(dir, { model: run.model }), /loadCheckpoint: '.*': model\.safetensors and training\.safetensors are from different saves/);
    await assert.rejects(loadCheckpoint(other, { model: run.model, ...run.parts() }), /loadCheckpoint: '.*' holds no optimizer state/);

    class Wider extends Module {
      constructor() {
        super();
        this.child('fc1', new Linear(6, 17));
        this.child('fc3', new Linear(3, 3));
      }
    }
    const wider = new Wider();
    await assert.rejects(loadCheckpoint(other, { model: wider }),
      /the weights do not fit the model: '.*fc1\.weight' is \[16, 6\] in the file, \[17, 6\] in the model; .*missing 'fc3\.weight'.*unexpected 'fc2\.weight'/);
    await assert.rejects(saveCheckpoint('', { model: run.model }), /saveCheckpoint: expected dir to be a directory path/);
    await assert.rejects(saveCheckpoint(dir, { model: {} as Module }), /saveCheckpoint: expected parts\.model to be a Module/);
    for (const m of [run.model, wider]) m.dispose();
    run.parts().optimizer.dispose();
  });
});
