// The xFormers notebook ViT benchmark (224/16, embed 96, depth 8, 8 heads, mlp 3, no qkv
// bias), batch 64, forward, printed in the seed's shape, beside timm on PyTorch in the
// same run. Usage: node --import tsx bench/vit.ts [--dtype float16|float32] [--batch 64] [--compile] [--no-peers] [--out file]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cuda, rand, FloatDType } from '../ts/index';
import { benchmark, Measurement } from '../ts/bench/timer';
import { buildViT, ViTConfig } from '../ts/models/vit';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const dtypes = (args.includes('--dtype') ? [opt('--dtype', 'float16')] : ['float16', 'float32']) as FloatDType[];
const batch = Number(opt('--batch', '64'));
const peers = !args.includes('--no-peers');

export const NOTEBOOK_VIT: ViTConfig = {
  img_size: 224, patch_size: 16, embed_dim: 96, depth: 8, num_heads: 8, mlp_ratio: 3, qkv_bias: false, num_classes: 1000, norm_eps: 1e-5,
};

function main(): void {
  const device = cuda.device();
  const date = new Date().toISOString().slice(0, 10);
  const record: Record<string, unknown>[] = [];
  for (const dtype of dtypes) {
    const images = rand([batch, 3, 224, 224], { device: 'cuda', dtype, seed: 0 });
    const measured: Record<string, Measurement> = {};
    for (const [title, mechanism] of [['Benchmarking ViT', 'vanilla'], ['Benchmarking Mem efficient ViT', 'memory_efficient']]) {
      const model = buildViT({ ...NOTEBOOK_VIT, attention: { mechanism } }, { device: 'cuda', dtype, seed: 0 });
      const m = benchmark(() => model.forward(images).dispose(), { device: 'cuda', minRunTime: 2, label: 'f(x)', description: `${mechanism}, ${dtype}, batch ${batch}` });
      console.log(`${title}\n${m.toString()}\n`);
      measured[mechanism] = m;
      model.dispose();
    }
    images.dispose();
    let theirs: { torch: string; timm: string; results: { torch: Record<string, { median?: number; peakMemoryBytes?: number; error?: string }> }[] } | null = null;
    if (peers) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-bench-'));
      fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify([{ dtype, batch, compile: args.includes('--compile') }]));
      try {
        execFileSync('python3', [path.join(__dirname, 'peers', 'vit.py'), path.join(dir, 'cases.json'), path.join(dir, 'out.json')], { stdio: 'inherit' });
        theirs = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8'));
      } catch (e) {
        console.log(`PyTorch peer not run: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    console.log(`| ${device.name}, ${date}, ${dtype}, batch ${batch} | median | IQR | peak memory over weights + input |`);
    console.log('| --- | --- | --- | --- |');
    for (const [name, m] of Object.entries(measured)) {
      console.log(`| nodeformers ${name} | ${(m.median * 1e3).toFixed(3)} ms | ${(m.iqr * 1e3).toFixed(3)} ms | ${((m.peakMemoryBytes ?? 0) / 1e6).toFixed(1)} MB |`);
    }
    for (const [name, r] of Object.entries(theirs?.results[0]?.torch ?? {})) {
      console.log(`| PyTorch ${theirs!.torch} ${name} | ${r.median ? `${(r.median * 1e3).toFixed(3)} ms` : r.error} | | ${r.peakMemoryBytes ? `${(r.peakMemoryBytes / 1e6).toFixed(1)} MB` : ''} |`);
    }
    console.log('');
    record.push({ dtype, batch, ours: Object.fromEntries(Object.entries(measured).map(([k, m]) => [k, m.toJSON()])), peers: theirs });
  }
  const file = opt('--out', path.join(__dirname, 'results', `${date}-${device.name.replace(/\W+/g, '_')}-vit.json`));
  fs.writeFileSync(file, JSON.stringify({ date, device, cases: record }, null, 1));
  console.log(`wrote ${file}`);
}

main();
