// The CPU backend's settings (the size of its thread pool, the GEMM kernel in use) and its
// queue: CPU ops run in order on a thread of their own, as CUDA ops run on a stream.
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
   * Waits until the CPU ops called so far on this thread have run (blocks the thread). CPU
   * ops return at once and run in order on a queue of their own; reading a tensor's data
   * (`await t.data()` without blocking, `dataSync()` blocking) waits for the ops before it.
   * An op that failed on the queue is reported here, or by the next read. With
   * NODEFORMERS_CPU_QUEUE=0 every op runs on the calling thread instead.
   */
  synchronize(): void {
    native().synchronize('cpu');
  },
  /** True when no CPU op of this thread is queued or running. */
  idle(): boolean {
    return native().cpuIdle();
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
