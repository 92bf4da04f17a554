// cuda.compile: CUDA C++ compiled at run time by NVRTC for the device's architecture (a cubin
// where NVRTC knows the GPU, else PTX of the newest architecture below it, which the driver
// compiles on load), cached (cache.ts), and loaded as a Kernel.
import type { DeviceLike } from '../dtype';
import { checkBoolean, invalidParameterError, operationError } from '../errors';
import { native, NativeNvrtcInfo } from '../native';
import { cacheKey, CompiledImage, readCached, writeCached } from './cache';
import { Kernel } from './kernel';
import { kernelDevice, loadImage } from './load';
import { parseSignature } from './signature';

export interface CompileOptions {
  /** The kernel: a __global__ function's name, or a template instance such as 'softmax<float>'. */
  name: string;
  /** Its parameters, in order: ['ptr<float32> x', 'i32 n', ...] (see ts/kernels/signature.ts). */
  signature: readonly string[];
  /**
   * NVRTC options, e.g. ['--use_fast_math', '-DBLOCK=256']. The GPU's architecture
   * (--gpu-architecture) and CUDA's include directory are added unless an architecture is given.
   */
  options?: readonly string[];
  /** Default 'cuda:0'. */
  device?: DeviceLike;
  /** Read and write the compile cache (default true). */
  cache?: boolean;
}

/** An Error carrying NVRTC's log of a failed compile. */
export interface CompileError extends Error {
  code: 'ERR_NVRTC_COMPILE';
  log: string;
}

const ARCH_OPTION = /^(-arch|--gpu-architecture)(=|$)/;

/** NVRTC's version as 'major.minor', or throws the reason NVRTC cannot be used. */
function availableNvrtc(fn: string): NativeNvrtcInfo & { version: [number, number] } {
  const nv = native().nvrtcInfo();
  if (!nv.available || nv.version === null) throw operationError(fn, `NVRTC is not available: ${nv.error}`);
  return nv as NativeNvrtcInfo & { version: [number, number] };
}

/**
 * @internal The options NVRTC gets for architecture `arch` (a compute capability as 90):
 * sm_<arch> where NVRTC knows it, else compute_<the newest it knows below>; CUDA's include
 * directory; then the user's (whose own architecture replaces ours).
 */
export function nvrtcOptions(fn: string, nv: NativeNvrtcInfo, arch: number, user: readonly string[]): string[] {
  const out: string[] = [];
  if (!user.some((o) => ARCH_OPTION.test(o))) {
    if (nv.archs.includes(arch)) {
      out.push(`--gpu-architecture=sm_${arch}`);
    } else {
      const below = nv.archs.filter((a) => a <= arch);
      if (below.length === 0) {
        throw operationError(fn, `NVRTC ${nv.version?.join('.')} compiles for sm_${Math.min(...nv.archs)} and newer, not for this GPU's sm_${arch}`);
      }
      out.push(`--gpu-architecture=compute_${Math.max(...below)}`);
    }
  }
  if (nv.includeDir !== '') out.push(`--include-path=${nv.includeDir}`);
  return [...out, ...user];
}

/**
 * @internal NVRTC's image of kernel `name` of `source` for architecture `arch`, from the
 * cache when `useCache` and there, else compiled (and cached). A compile error throws an
 * Error (code ERR_NVRTC_COMPILE) whose message and `log` hold NVRTC's log.
 */
export function compileImage(fn: string, source: string, name: string, user: readonly string[], arch: number, useCache = true):
  { entry: CompiledImage; from: 'nvrtc' | 'memory-cache' | 'disk-cache' } {
  const nv = availableNvrtc(fn);
  const options = nvrtcOptions(fn, nv, arch, user);
  const key = cacheKey({ source, name, options, arch, nvrtc: nv.version.join('.') });
  const hit = useCache ? readCached(key) : null;
  if (hit) return hit;
  const program = `${name.replace(/[^A-Za-z0-9_]/g, '_')}.cu`;
  const out = native().nvrtcCompile(source, program, name, options);
  if (!out.ok || out.image === null) {
    const err = operationError(fn, `'${name}' did not compile (NVRTC ${nv.version.join('.')}, ${options.join(' ')}):\n${out.log}`) as CompileError;
    err.code = 'ERR_NVRTC_COMPILE';
    err.log = out.log;
    throw err;
  }
  const entry: CompiledImage = { image: out.image, ptx: out.ptx, loweredName: out.loweredName, log: out.log };
  if (useCache) writeCached(key, entry); // a cache that cannot be written costs the next process a compile, nothing more
  return { entry, from: 'nvrtc' };
}

/** `list` as an array of strings, or a TypeError naming `name`. */
function stringList(fn: string, name: string, list: unknown): string[] {
  if (!Array.isArray(list)) throw invalidParameterError(fn, name, 'an array of strings', list);
  const copy = [...list];
  copy.forEach((o, i) => {
    if (typeof o !== 'string') throw invalidParameterError(fn, `${name}[${i}]`, 'a string', o);
  });
  return copy as string[];
}

/**
 * Compiles CUDA C++ `source` with NVRTC for the device's GPU and loads kernel `options.name`
 * (a __global__ function; extern "C" or not, a template instance too). Compiled code is
 * cached by the source, options, GPU architecture and NVRTC version, in memory and on disk
 * (NODEFORMERS_KERNEL_CACHE, default <tmpdir>/nodeformers-kernels). A compile error throws
 * an Error with NVRTC's log; no CUDA device or no NVRTC is an Error saying so.
 */
export function compileKernel(source: string, options: CompileOptions): Kernel {
  const fn = 'cuda.compile';
  if (typeof source !== 'string' || source.trim() === '') throw invalidParameterError(fn, 'source', 'a non-empty string of CUDA C++', source);
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object { name, signature, options }', options);
  const { name, signature, options: nvrtc = [], device, cache = true } = options;
  if (typeof name !== 'string' || name.trim() === '') throw invalidParameterError(fn, 'options.name', 'the name of a __global__ function', name);
  const params = parseSignature(fn, signature, 'options.signature');
  const user = stringList(fn, 'options.options', nvrtc);
  checkBoolean(fn, 'options.cache', cache);
  const d = kernelDevice(fn, device);
  const [major, minor] = native().cudaDeviceInfo(d).computeCapability.split('.').map(Number);
  const { entry, from } = compileImage(fn, source, name, user, major * 10 + minor, cache);
  const handle = loadImage(fn, d, entry.image, entry.loweredName, params);
  return new Kernel({ handle, name, device: d, params, origin: from, log: entry.log });
}
