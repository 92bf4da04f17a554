// Trains a small ViT on the MNIST digits (examples/mnist/README.md): AdamW with a cosine
// schedule after a warmup, the mean cross-entropy, test accuracy after every epoch, and the
// loss curve as an SVG. Users write `require('nodeformers')` where this file imports ../../ts.
//   node --import tsx examples/mnist/train.ts [--device cuda:0] [--epochs 10] [--svg loss.svg]
import * as fs from 'node:fs';
import { AdamW, buildViT, CosineWithWarmup, crossEntropy, Device, noGrad, tidy, ViTConfig } from '../../ts/index';
import { batch, Digits, IMAGE, loadDigits, shuffled } from './data';

export interface TrainOptions {
  device?: Device;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** Digits of each class to use (1,000 at most): fewer for a short run. */
  perClass?: number;
  /** Stop training after this many seconds (the last epoch is cut short), for a bounded run. */
  maxSeconds?: number;
  model?: ViTConfig;
  seed?: number;
  /** Called after every step and epoch (progress lines, a bar). */
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerSecond: number;
  testAccuracy?: number;
}

export interface TrainResult {
  /** The training loss of every step. */
  losses: number[];
  /** Test accuracy after each epoch. */
  accuracies: number[];
  imagesPerSecond: number;
  seconds: number;
}

/** A ViT for 28 x 28 digits: 7 x 7 patches of 4 x 4 pixels plus a class token. */
export const MNIST_VIT: ViTConfig = {
  img_size: IMAGE, patch_size: 4, in_chans: 1, num_classes: 10, embed_dim: 64, depth: 4, num_heads: 4, mlp_ratio: 2,
  qkv_bias: true, attention: { mechanism: 'memory_efficient' },
};

export function accuracy(model: ReturnType<typeof buildViT>, set: Digits, device: Device, batchSize = 500): number {
  let correct = 0;
  noGrad(() => {
    for (let start = 0; start < set.count; start += batchSize) {
      const rows = Int32Array.from({ length: Math.min(batchSize, set.count - start) }, (_, i) => start + i);
      tidy(() => {
        const { images, labels } = batch(set, rows, device);
        const logits = model.forward(images).dataSync();
        const truth = labels.dataSync();
        const classes = logits.length / rows.length;
        for (let i = 0; i < rows.length; i++) {
          let best = 0;
          for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
          if (best === truth[i]) correct++;
        }
      });
    }
  });
  return correct / set.count;
}

export function trainMnist(o: TrainOptions = {}): TrainResult {
  const device = o.device ?? 'cpu';
  const epochs = o.epochs ?? 10;
  const batchSize = o.batchSize ?? 128;
  const { train, test } = loadDigits(o.perClass);
  const model = buildViT({ ...MNIST_VIT, ...o.model }, { device, seed: o.seed ?? 0 });
  model.train();
  const opt = new AdamW(model.namedParameters(), { lr: o.lr ?? 2e-3, weightDecay: 0.05 });
  const stepsPerEpoch = Math.floor(train.count / batchSize);
  const total = epochs * stepsPerEpoch;
  const schedule = new CosineWithWarmup(opt, { warmupSteps: Math.min(100, Math.floor(total / 10)), totalSteps: total });
  const losses: number[] = [];
  const accuracies: number[] = [];
  const began = performance.now();
  let images = 0;
  let step = 0;
  let stop = false;
  for (let epoch = 0; epoch < epochs && !stop; epoch++) {
    const order = shuffled(train.count, (o.seed ?? 0) * 1000 + epoch);
    for (let s = 0; s < stepsPerEpoch; s++, step++) {
      const loss = tidy(() => {
        const b = batch(train, order.subarray(s * batchSize, (s + 1) * batchSize), device);
        const l = crossEntropy(model.forward(b.images), b.labels);
        l.backward();
        return l.dataSync()[0];
      });
      opt.step();
      opt.zeroGrad();
      schedule.step();
      losses.push(loss);
      images += batchSize;
      const seconds = (performance.now() - began) / 1000;
      o.onProgress?.({ epoch, step: s + 1, steps: stepsPerEpoch, loss, imagesPerSecond: images / seconds });
      if (o.maxSeconds !== undefined && seconds >= o.maxSeconds) { stop = true; break; }
    }
    model.eval();
    accuracies.push(accuracy(model, test, device));
    model.train();
    const seconds = (performance.now() - began) / 1000;
    o.onProgress?.({ epoch, step: stepsPerEpoch, steps: stepsPerEpoch, loss: losses[losses.length - 1], imagesPerSecond: images / seconds, testAccuracy: accuracies[accuracies.length - 1] });
  }
  const seconds = (performance.now() - began) / 1000;
  model.dispose();
  opt.dispose();
  return { losses, accuracies, imagesPerSecond: images / seconds, seconds };
}

/** The loss curve as a Vega-Lite line chart rendered to SVG (needs the optional vega packages). */
export async function lossCurveSVG(losses: number[]): Promise<string> {
  const { renderSVG } = await import('../../ts/bench/plot');
  return renderSVG({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'MNIST ViT: training loss', width: 560, height: 300,
    data: { values: losses.map((loss, step) => ({ step, loss })) },
    mark: { type: 'line', strokeWidth: 1 },
    encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'loss', type: 'quantitative', title: 'cross-entropy' } },
  });
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
  const device = (arg('device') ?? 'cpu') as Device;
  const svg = arg('svg') ?? 'mnist-loss.svg';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bar = process.stdout.isTTY ? new (require('cli-progress').SingleBar)({ format: 'epoch {epoch} [{bar}] {value}/{total} loss {loss} {ips} img/s' }) : null;
  let barEpoch = -1;
  const result = trainMnist({
    device, epochs: Number(arg('epochs') ?? 10), batchSize: Number(arg('batch') ?? 128),
    maxSeconds: arg('max-seconds') ? Number(arg('max-seconds')) : undefined,
    onProgress: (p) => {
      if (p.testAccuracy !== undefined) {
        bar?.stop();
        barEpoch = -1;
        console.log(`epoch ${p.epoch + 1}: loss ${p.loss.toFixed(4)}, test accuracy ${(100 * p.testAccuracy).toFixed(2)}%, ${p.imagesPerSecond.toFixed(0)} images/s`);
      } else if (bar) {
        if (barEpoch !== p.epoch) { bar.start(p.steps, 0, { epoch: p.epoch + 1, loss: '', ips: '' }); barEpoch = p.epoch; }
        bar.update(p.step, { loss: p.loss.toFixed(4), ips: p.imagesPerSecond.toFixed(0) });
      } else if (p.step % 10 === 0) {
        console.log(`epoch ${p.epoch + 1} step ${p.step}/${p.steps}: loss ${p.loss.toFixed(4)}, ${p.imagesPerSecond.toFixed(0)} images/s`);
      }
    },
  });
  fs.writeFileSync(svg, await lossCurveSVG(result.losses));
  console.log(`test accuracy ${(100 * result.accuracies[result.accuracies.length - 1]).toFixed(2)}% after ${result.seconds.toFixed(1)} s; loss curve: ${svg}`);
}

if (require.main === module) main(process.argv.slice(2)).catch((e) => { console.error(e); process.exitCode = 1; });
