// Why an eager linear on the ViT shapes costs what it does (issue 3: 12608x96 -> 288 float16
// took 11-13 us eager in earlier calls and 19.6 us in another, beside PyTorch's 13-20 us,
// though its GPU time is 7.4 us). For each of bench/ops.ts' ViT linear cases (with `out`):
// the eager median (blocked autorange, CUDA events), the host's time per call over 5000
// calls with no sync between them, and, under NODEFORMERS_HOST_TIMES=1, the part of it
// inside the CUDA backend's gemm (cublasLtMatmul and what it launches). Run it under
// NODEFORMERS_DEBUG_PLANS=1 as well to see each plan's candidates, their timings and the
// one picked.
// Usage: node --import tsx bench/linear_probe.ts
import { benchmark } from '../ts/bench';
import { native } from '../ts/native';
import { hostTimed } from './host_timing';
import { work } from './op_cases';

const device = 'cuda';
const calls = 5000;
const warmup = 500;
for (const dtype of ['float16', 'float32'] as const) {
  for (const [k, n, activation] of [[96, 288, undefined], [96, 96, undefined], [96, 288, 'gelu'], [288, 96, undefined]] as const) {
    const w = work({ op: 'linear', dtype, m: 12608, k, n, activation });
    w.fn(); // makes the plan (its candidates' timings go to stderr under NODEFORMERS_DEBUG_PLANS=1)
    const eager = benchmark(w.fn, { device, minRunTime: 0.3 }).median * 1e6;
    native().cudaHostTimes(device, true);
    const { hostUs, wallUs } = hostTimed(w.fn, calls, device, warmup);
    const gemm = native().cudaHostTimes(device, true).gemm;
    const inside = gemm.calls > 0 ? `  gemm in the backend ${(gemm.us / gemm.calls).toFixed(2)} us (${(gemm.calls / (calls + warmup)).toFixed(2)} a call)` : '';
    console.log(`linear ${dtype} 12608x${k} -> ${n}${activation ? ' +gelu' : ''}`.padEnd(38) +
      `eager ${eager.toFixed(2).padStart(6)} us  host ${hostUs.toFixed(2).padStart(6)} us  wall ${wallUs.toFixed(2).padStart(6)} us${inside}`);
    for (const t of w.tensors) t.dispose();
  }
}
