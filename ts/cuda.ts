// The CUDA device: memory counters from the stream-ordered pool, peak reset, device facts,
// synchronization and event timing. Every function takes an optional device ('cuda:N').
import { checkDevice, Device, DeviceLike } from './dtype';
import { invalidParameterError } from './errors';
import { native, NativeCudaDevice, NativeCudaMemory } from './native';
import { compileKernel, CompileOptions, Kernel } from './kernels';

/** @internal `device` (default 'cuda:0') checked to be a CUDA device this build can use; errors name `fn`. */
export function cudaDevice(fn: string, device: DeviceLike | undefined): Device {
  const d = checkDevice(fn, device ?? 'cuda:0');
  if (d === 'cpu') throw invalidParameterError(fn, 'device', "a CUDA device ('cuda' or 'cuda:N')", device);
  if (!native().buildInfo.cuda) throw new Error(`${fn}: this build of nodeformers has no CUDA backend (see backends())`);
  return d;
}

/** The backends this build and machine can run: ['cpu'] or ['cpu', 'cuda']. */
export function backends(): ('cpu' | 'cuda')[] {
  return native().backends() as ('cpu' | 'cuda')[];
}

export type CudaMemory = NativeCudaMemory;
export type CudaDeviceInfo = NativeCudaDevice;

export const cuda = {
  /** Whether a CUDA device can be used. */
  isAvailable(): boolean {
    return backends().includes('cuda');
  },
  /** Number of CUDA devices (0 without the CUDA backend or a GPU). */
  deviceCount(): number {
    return native().cudaDeviceCount();
  },
  /**
   * Bytes of live blocks now, reserved from the driver, the peak of live blocks since
   * resetPeak(), freed blocks cached for reuse, and the pool's use by every thread. A freed
   * block waits in a cache for the next allocation of its size (cheaper for the host than the
   * pool; BENCHMARKS.md); NODEFORMERS_CUDA_CACHE_MB bounds the cache (default 2048, 0: none).
   */
  memory(device?: DeviceLike): CudaMemory {
    return native().cudaMemory(cudaDevice('cuda.memory', device));
  },
  /**
   * Gives the cached blocks back to the pool, waits for the device's stream, and returns the
   * pool's and the CUDA graphs' unused memory to the driver (as torch.cuda.empty_cache does).
   */
  emptyCache(device?: DeviceLike): void {
    native().cudaEmptyCache(cudaDevice('cuda.emptyCache', device));
  },
  /** Resets the peak counter to the bytes allocated now. */
  resetPeak(device?: DeviceLike): void {
    native().cudaResetPeak(cudaDevice('cuda.resetPeak', device));
  },
  /** Waits until all work queued on the device's stream has finished (blocks the thread). */
  synchronize(device?: DeviceLike): void {
    native().synchronize(cudaDevice('cuda.synchronize', device));
  },
  /** Name, compute capability, memory, SM count, L2 size and CUDA/cuBLASLt versions. */
  device(device?: DeviceLike): CudaDeviceInfo {
    return native().cudaDeviceInfo(cudaDevice('cuda.device', device));
  },
  /**
   * Milliseconds of device time taken by the work `fn` enqueues, measured with CUDA events
   * on the device's stream. Waits for that work to finish.
   */
  time(fn: () => void, device?: DeviceLike): number {
    if (typeof fn !== 'function') throw invalidParameterError('cuda.time', 'fn', 'a function', fn);
    return native().cudaTimeRegion(cudaDevice('cuda.time', device), fn);
  },
  /**
   * Compiles CUDA C++ with NVRTC for the device's GPU and loads kernel `options.name` with
   * parameters `options.signature` (ts/kernels/compile.ts; cached by source, options, GPU and
   * NVRTC version). Throws NVRTC's log when the source does not compile.
   */
  compile(source: string, options: CompileOptions): Kernel {
    return compileKernel(source, options);
  },
};
