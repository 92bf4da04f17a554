// npm run bench / bench:cuda: the flow of ts/bench/suite/run.ts (also `npx nodeformers bench`):
// the notebook ViT in the seed's format, a summary beside PyTorch, kernel sweeps, host-side
// call costs, results JSON and plots where --out says (default ./bench-results), and the run
// against bench/baselines/<gpu kind>.json. Flags: see `npx nodeformers help`.
import { main } from '../ts/cli';

main(['bench', ...process.argv.slice(2)]).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
