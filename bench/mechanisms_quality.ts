// The quality table of issue 26 (the Long Range Arena idea on data we can ship): the same small
// ViT over pixel-level MNIST (28 x 28 patches of 1 pixel: 784 tokens and a class token), each
// attention mechanism in turn, trained for the same wall-clock budget (examples/mnist's
// trainMnist: AdamW, cosine schedule), then its test accuracy, time per step and, on CUDA,
// the peak memory of its training. Writes the table (markdown) and a JSON of the rows.
//   node --import tsx bench/mechanisms_quality.ts [--device cuda:0] [--seconds 20] [--out file.json]
//     [--mechanisms a,b] [--patch 1]
import * as fs from 'node:fs';
import { builtInAttentionMechanisms, cuda, Device } from '../ts/index';
import { MNIST_VIT, trainMnist } from '../examples/mnist/train';

const NEEDS_OWN_INPUT = new Set(['sparse', 'block_sparse']);

export interface QualityRow { mechanism: string; accuracy: number | null; msPerStep: number | null; steps: number; peakMiB: number | null; note?: string }

export function qualityRun(o: { device: Device; seconds: number; patch: number; mechanisms?: string[]; perClass?: number; log?: (l: string) => void }): QualityRow[] {
  const names = o.mechanisms ?? builtInAttentionMechanisms().filter((m) => !NEEDS_OWN_INPUT.has(m));
  const rows: QualityRow[] = [];
  for (const mechanism of names) {
    const gpu = o.device !== 'cpu';
    if (gpu) {
      cuda.synchronize(o.device);
      cuda.resetPeak(o.device);
    }
    const base = gpu ? cuda.memory(o.device).allocated : 0;
    // A step's time: between consecutive steps' progress calls (the test evaluations left out), the median.
    const gaps: number[] = [];
    let last = 0;
    try {
      const r = trainMnist({
        device: o.device, epochs: 1000, maxSeconds: o.seconds, perClass: o.perClass, batchSize: 64, seed: 1,
        model: { ...MNIST_VIT, patch_size: o.patch, attention: { mechanism } },
        onProgress: (p) => {
          const now = performance.now();
          if (p.testAccuracy === undefined && last > 0 && p.step > 1) gaps.push(now - last);
          last = p.testAccuracy === undefined ? now : 0;
        },
      });
      const peak = gpu ? (cuda.memory(o.device).peak - base) / 2 ** 20 : null;
      gaps.sort((a, b) => a - b);
      const msPerStep = gaps.length > 0 ? gaps[gaps.length >> 1] : (1e3 * r.seconds) / r.losses.length;
      const row = { mechanism, accuracy: r.accuracies[r.accuracies.length - 1] ?? null, msPerStep, steps: r.losses.length, peakMiB: peak };
      rows.push(row);
      o.log?.(`${mechanism}: ${(100 * (row.accuracy ?? NaN)).toFixed(2)}% after ${row.steps} steps, ${row.msPerStep.toFixed(1)} ms/step${peak === null ? '' : `, ${peak.toFixed(0)} MiB`}`);
    } catch (e) {
      rows.push({ mechanism, accuracy: null, msPerStep: null, steps: 0, peakMiB: null, note: String((e as Error).message ?? e).split('\n')[0] });
      o.log?.(`${mechanism}: failed: ${rows[rows.length - 1].note}`);
    }
  }
  return rows;
}

export function qualityTable(rows: readonly QualityRow[]): string {
  const lines = ['| mechanism | test accuracy | steps | ms / step | peak memory |', '| --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.mechanism} | ${r.accuracy === null ? `failed: ${r.note}` : `${(100 * r.accuracy).toFixed(2)}%`} | ${r.steps} | ` +
      `${r.msPerStep?.toFixed(1) ?? '-'} | ${r.peakMiB === null ? '-' : `${r.peakMiB.toFixed(0)} MiB`} |`);
  }
  return lines.join('\n');
}

function main(argv: string[]): void {
  const arg = (name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
  const device = (arg('device') ?? 'cpu') as Device;
  const seconds = Number(arg('seconds') ?? 20);
  const patch = Number(arg('patch') ?? 1);
  const rows = qualityRun({ device, seconds, patch, mechanisms: arg('mechanisms')?.split(','), log: (l) => console.log(l) });
  console.log(`\nPixel-level MNIST (patch ${patch}: ${(28 / patch) ** 2} tokens and a class token), ${seconds} s of training each, ${device}` +
    `${device === 'cpu' ? '' : ` (${cuda.device().name})`}, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log(qualityTable(rows));
  const out = arg('out');
  if (out) fs.writeFileSync(out, JSON.stringify({ device, seconds, patch, rows }, null, 1));
}

if (require.main === module) main(process.argv.slice(2));
