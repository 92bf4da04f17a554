// The notebook ViT (float32) forward on the CPU: median ms of several rounds at batch 1 and 8,
// for each thread count and for the reference GEMM, in one process.
//   node --import tsx bench/cpu/vit.ts [rounds]
import { buildViT, cpu, rand } from '../../ts/index';
import { NOTEBOOK_VIT } from '../../ts/bench/suite/vit';

const rounds = Number(process.argv[2] ?? 7);
const model = buildViT(NOTEBOOK_VIT, { seed: 1 });
model.eval?.();
const median = (xs: number[]) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const cores = cpu.numThreads();
for (const batch of [1, 8]) {
  const x = rand([batch, 3, 224, 224], { seed: 2 });
  for (const [kernel, threads] of [['best', cores], ['best', 1], ['reference', 1]] as [string, number][]) {
    cpu.gemmKernel(kernel);
    cpu.setNumThreads(threads);
    model.forward(x).dispose();
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = process.hrtime.bigint();
      model.forward(x).dispose();
      cpu.synchronize(); // the forward runs on the CPU queue
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(`notebook ViT batch ${batch}, ${cpu.gemmKernel()} GEMM, ${threads} threads: median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, ${rounds} rounds)`);
  }
  x.dispose();
}
cpu.gemmKernel('best');
cpu.setNumThreads(cores);
