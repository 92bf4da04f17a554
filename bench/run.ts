// npm run bench / bench:cuda: the notebook ViT benchmark, then the attention and fused-op
// sweeps, each beside PyTorch where python3 with torch is present. Without a GPU it says so
// (the CPU benchmarks belong to the benchmarking-API work).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { backends } from '../ts/index';

const passThrough = process.argv.slice(2);
if (!backends().includes('cuda')) {
  const msg = 'bench: no CUDA backend or GPU here; the CUDA benchmarks need one';
  if (process.env.NODEFORMERS_REQUIRE_CUDA === '1') throw new Error(msg);
  console.log(msg);
  process.exit(0);
}
for (const script of ['vit.ts', 'attention.ts', 'ops.ts']) {
  execFileSync(process.execPath, ['--import', 'tsx', path.join(__dirname, script), ...passThrough], { stdio: 'inherit' });
}
