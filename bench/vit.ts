// The xFormers notebook ViT benchmark alone (ts/bench/suite/vit.ts): batch 64, forward,
// printed in the seed's shape, then the summary beside timm on PyTorch in the same run.
// Usage: node --import tsx bench/vit.ts [--dtype float16|float32] [--batch 64] [--compile] [--no-peers] [--out file]
import * as fs from 'node:fs';
import { backends, cuda, FloatDType } from '../ts/index';
import { compare } from '../ts/bench/compare';
import { toJSON } from '../ts/bench/report';
import { benchViT } from '../ts/bench/suite/vit';
import { resultsFile } from './lib/results';

export { NOTEBOOK_VIT } from '../ts/bench/suite/vit';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const gpu = backends().includes('cuda');
const dtypes = (args.includes('--dtype') ? [opt('--dtype', 'float16')] : gpu ? ['float16', 'float32'] : ['float32']) as FloatDType[];
const batch = Number(opt('--batch', gpu ? '64' : '4'));

const r = benchViT({
  device: gpu ? 'cuda:0' : 'cpu', dtypes, batch, minRunTime: gpu ? 2 : 0.5, peers: !args.includes('--no-peers'),
  compile: args.includes('--compile'), log: (line) => console.log(line),
});
console.log(compare(r.summary, { baseline: r.summary.some((m) => m.subLabel === 'PyTorch timm eager SDPA') ? 'PyTorch timm eager SDPA' : undefined }).toString());
const date = new Date().toISOString().slice(0, 10);
const file = resultsFile(opt('--out', ''), date, gpu ? cuda.device().name : 'cpu', 'vit');
fs.writeFileSync(file, JSON.stringify({ date, torch: r.peers[0]?.torch ?? null, measurements: JSON.parse(toJSON([...r.measurements, ...r.summary])), skipped: r.skipped }, null, 1));
console.log(`wrote ${file}`);
