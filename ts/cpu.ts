// The CPU backend's settings: the size of its thread pool and the GEMM kernel in use.
import { invalidParameterError } from './errors';
import { native } from './native';

export const cpu = {
  /**
   * Threads the CPU kernels run with: the machine's cores, or NODEFORMERS_NUM_THREADS (an
   * integer in [1, 256], read once; anything else means the core count) until setNumThreads.
   */
  numThreads(): number {
    return native().cpuNumThreads();
  },
  /**
   * Sets the CPU thread pool's size (an integer in [1, 256]). The pool is one per process,
   * shared by the main thread and every worker_thread: a call that finds it busy runs on its
   * own thread alone, so results never depend on who else is computing.
   */
  setNumThreads(n: number): void {
    if (typeof n !== 'number' || !Number.isInteger(n)) throw invalidParameterError('cpu.setNumThreads', 'n', 'an integer', n);
    native().cpuSetNumThreads(n);
  },
  /**
   * The float32 GEMM micro-kernel in use: 'avx512', 'avx2', 'neon' or 'scalar' (chosen from
   * the CPU at load), or 'reference' (the plain loops, for parity checks).
   * NODEFORMERS_CPU_GEMM=<name> picks one at load; `name` ('best' or one of those) picks one now.
   */
  gemmKernel(name?: string): string {
    if (name !== undefined && typeof name !== 'string') throw invalidParameterError('cpu.gemmKernel', 'name', 'a string', name);
    return native().cpuGemmKernel(name);
  },
};
