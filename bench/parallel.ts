// Issue 9's figure: the notebook ViT (memory_efficient), forward, float16, batch 256, on one
// GPU and with dataParallel over 2 (and all, when more) GPUs, eager and with one CUDA graph
// per replica. Timed on the host clock with every GPU synchronized after each forward
// (events on one device would not see the others' work), blocked autorange as elsewhere.
// On a machine with one GPU it measures that GPU alone and says so.
// Usage: node --import tsx bench/parallel.ts [--batch 256] [--dtype float16|float32] [--out file.json]
import * as fs from 'node:fs';
import { cuda, dataParallel, Device, FloatDType, rand } from '../ts/index';
import { benchmark, Measurement } from '../ts/bench/timer';
import { compare } from '../ts/bench/compare';
import { toJSON } from '../ts/bench/report';
import { NOTEBOOK_VIT } from '../ts/bench/suite/vit';
import { buildViT } from '../ts/models/vit';
import { resultsFile } from './lib/results';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const batch = Number(opt('--batch', '256'));
const dtype = opt('--dtype', 'float16') as FloatDType;
const gpus = cuda.deviceCount();
const label = `notebook ViT forward, memory_efficient, ${dtype}, batch ${batch}`;

const model = buildViT({ ...NOTEBOOK_VIT, attention: { mechanism: 'memory_efficient' } }, { device: 'cuda:0', dtype, seed: 0 });
const images = rand([batch, 3, 224, 224], { device: 'cuda:0', dtype, seed: 1 });
const all: Device[] = Array.from({ length: gpus }, (_, i) => `cuda:${i}` as Device);
const syncAll = () => all.forEach((d) => cuda.synchronize(d));
const measurements: Measurement[] = [];
const time = (subLabel: string, fn: () => void, params: Record<string, unknown>) => {
  const m = benchmark(() => { fn(); syncAll(); }, { device: 'cpu', minRunTime: 2, label, subLabel, params: { ...params, dtype, batch } });
  console.log(`${subLabel}\n${m.toString()}\n`);
  measurements.push(m);
};

const counts = [...new Set([1, Math.min(2, gpus), gpus])].filter((n) => n >= 1 && n <= gpus);
for (const n of counts) {
  const devices = all.slice(0, n);
  const dp = dataParallel(model, devices);
  try {
    time(`${n} GPU${n > 1 ? 's' : ''}, eager`, () => dp.forward(images).dispose(), { gpus: n, graph: false });
    const captured = dp.capture(images.shape);
    try {
      time(`${n} GPU${n > 1 ? 's' : ''}, a CUDA graph per replica`, () => captured.run(images).dispose(), { gpus: n, graph: true });
    } finally {
      captured.dispose();
    }
  } finally {
    dp.dispose();
  }
}
if (gpus < 2) console.log(`(this machine has ${gpus} GPU: the forward across GPUs was not measured)\n`);
console.log(compare(measurements).toString());

const date = new Date().toISOString().slice(0, 10);
const file = resultsFile(opt('--out', ''), date, cuda.device().name, `x${gpus}-parallel`);
fs.writeFileSync(file, JSON.stringify({ date, gpus, device: cuda.device(), measurements: JSON.parse(toJSON(measurements)) }, null, 1));
console.log(`wrote ${file}`);
images.dispose();
model.dispose();
