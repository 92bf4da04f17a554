// npm run bench / bench:cuda: the flow of ts/bench/suite/run.ts (also `npx nodeformers bench`):
// the notebook ViT in the seed's format, a summary beside PyTorch, kernel sweeps, host-side
// call costs, results JSON and plots in bench/results, and on CUDA BENCHMARKS.md's marked
// section. Flags: see `npx nodeformers help`. On the CPU: a smaller batch and fewer cases.
import { main } from '../ts/cli';

main(['bench', ...process.argv.slice(2)]).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
