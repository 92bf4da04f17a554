// GEMM 1024³ float32 on the CPU: the median of several rounds per thread count and kernel,
// as GFLOP/s (2 M N K / time). Compare with bench/cpu/fma_peak.cc's peak on the same machine.
//   node --import tsx bench/cpu/gemm.ts [size] [rounds]
import { cpu, matmul, randn } from '../../ts/index';

const size = Number(process.argv[2] ?? 1024);
const rounds = Number(process.argv[3] ?? 9);
const a = randn([size, size], { seed: 1 });
const b = randn([size, size], { seed: 2 });
const median = (xs: number[]) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const cores = cpu.numThreads();
for (const kernel of ['best', 'reference']) {
  cpu.gemmKernel(kernel);
  for (let threads = 1; threads <= cores; threads++) {
    cpu.setNumThreads(threads);
    matmul(a, b).dispose();
    const times: number[] = [];
    for (let r = 0; r < (kernel === 'reference' ? 3 : rounds); r++) {
      const t0 = process.hrtime.bigint();
      matmul(a, b).dispose();
      cpu.synchronize(); // the product runs on the CPU queue
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const ms = median(times);
    console.log(`${cpu.gemmKernel()} ${size}³ threads ${threads}: median ${ms.toFixed(1)} ms = ${(2 * size ** 3 / ms / 1e6).toFixed(1)} GFLOP/s (min ${Math.min(...times).toFixed(1)} ms, ${times.length} rounds)`);
  }
}
cpu.gemmKernel('best');
