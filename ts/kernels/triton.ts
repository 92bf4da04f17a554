// loadTritonKernel: a kernel Triton compiled ahead of time. The format read is what
// triton.compile() (Triton 3.x, ASTSource) gives and keeps in its cache directory: for a
// kernel K, K.cubin (CompiledKernel.asm['cubin']) and K.json (its metadata: name, num_warps,
// shared, target, num_ctas, and from Triton 3.3 global_scratch_size, from 3.5
// profile_scratch_size). Triton's metadata has no signature: examples/triton/compile_softmax.py
// adds one to K.json as "signature" ({ argument name: Triton type } for the runtime arguments,
// in order, as ASTSource takes it, constexprs left out), or the caller gives it. Triton appends
// a hidden pointer parameter for each scratch size its metadata names; they are passed as null,
// and a kernel that needs scratch memory is refused. tools/compile.py's C launcher (the cubin
// as a C array) is not read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeviceLike } from '../dtype';
import { invalidParameterError, operationError } from '../errors';
import { native } from '../native';
import { Kernel } from './kernel';
import { isBinaryImage, kernelDevice, loadImage } from './load';
import { KernelParam, parseParam } from './signature';

export interface TritonKernelOptions {
  /** Which kernel of the directory (its file stem or metadata name); needed when it holds several. */
  name?: string;
  /** The runtime arguments, when K.json has no "signature": Triton types ('*fp32', 'i32', ...) or ours ('ptr<float32>'), in order. */
  signature?: readonly string[] | Readonly<Record<string, string>>;
  /** Default 'cuda:0'. */
  device?: DeviceLike;
}

/** @internal What readTritonArtifacts found: enough to load and launch the kernel. */
export interface TritonArtifacts {
  /** The kernel's symbol in the cubin (metadata "name"). */
  name: string;
  cubin: Uint8Array;
  params: KernelParam[];
  /** Null pointers Triton's launcher appends (its scratch pointers). */
  hiddenPointers: number;
  block: [number, number, number];
  sharedMem: number;
  /** The compute capability the cubin is for (metadata target.arch, e.g. 90), or null. */
  arch: number | null;
  tritonVersion: string | null;
}

const fn = 'loadTritonKernel';

/** Triton's type names (triton/backends/nvidia/driver.py) for the parameters we can pass. */
const TRITON_TYPES: Readonly<Record<string, string>> = {
  '*fp32': 'ptr<float32>', '*fp16': 'ptr<float16>', '*bf16': 'ptr<bfloat16>', '*i32': 'ptr<int32>', '*u8': 'ptr<uint8>',
  i32: 'i32', u32: 'u32', i64: 'i64', u64: 'u64', fp32: 'f32', fp64: 'f64',
};

/** One runtime argument's type, Triton's (with a ':16' hint or not) or ours, as a parameter. */
function tritonParam(what: string, type: unknown, name: string | null): KernelParam {
  if (typeof type !== 'string') throw invalidParameterError(fn, what, "a type such as '*fp32' or 'i32'", type);
  const bare = type.split(':')[0].trim();
  let p: KernelParam;
  try {
    p = parseParam(fn, what, Object.hasOwn(TRITON_TYPES, bare) ? TRITON_TYPES[bare] : bare);
  } catch {
    throw operationError(fn, `${what} is type '${type}', which kernel.launch cannot pass (Triton's ${Object.keys(TRITON_TYPES).join(', ')}; or ptr<T>, i32, ...)`);
  }
  return { ...p, name: p.name ?? name };
}

/** The signature from options or the metadata: an array of types, or { name: type } in order (constexprs skipped). */
function readSignature(given: unknown, source: string): KernelParam[] {
  if (Array.isArray(given)) return given.map((t, i) => tritonParam(`${source}[${i}]`, t, null));
  if (given !== null && typeof given === 'object') {
    return Object.entries(given as Record<string, unknown>)
      .filter(([, t]) => t !== 'constexpr')
      .map(([name, t]) => tritonParam(`${source}.${name}`, t, name));
  }
  throw invalidParameterError(fn, source, "the kernel's runtime argument types: an array, or { name: type }", given);
}

function nonNegativeInteger(meta: Record<string, unknown>, key: string, file: string, required: boolean): number | null {
  const v = meta[key];
  if (v === undefined && !required) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw operationError(fn, `${file}: "${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

/** The kernel stems of `dir`: each K with both K.json and K.cubin (Triton's __grp__ files aside). */
function kernelStems(dir: string, files: readonly string[]): string[] {
  const names = new Set(files);
  return files.filter((f) => f.endsWith('.json') && !f.startsWith('__grp__') && names.has(`${f.slice(0, -5)}.cubin`)).map((f) => f.slice(0, -5)).sort();
}

/** @internal Reads and checks a Triton kernel's artifacts in `dir` (no GPU needed). */
export function readTritonArtifacts(dir: unknown, options: TritonKernelOptions = {}): TritonArtifacts {
  if (typeof dir !== 'string' || dir === '') throw invalidParameterError(fn, 'dir', 'a directory path', dir);
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object { name, signature, device }', options);
  const { name: wanted, signature } = options;
  if (wanted !== undefined && typeof wanted !== 'string') throw invalidParameterError(fn, 'options.name', 'a string', wanted);
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch (e) {
    throw operationError(fn, `cannot read the directory '${dir}': ${(e as Error).message}`, e);
  }
  const stems = kernelStems(dir, files);
  const metas = new Map<string, Record<string, unknown>>();
  const meta = (stem: string): Record<string, unknown> => {
    if (!metas.has(stem)) {
      const file = path.join(dir, `${stem}.json`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        throw operationError(fn, `${file} is not readable JSON: ${(e as Error).message}`, e);
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw operationError(fn, `${file} holds no metadata object`);
      metas.set(stem, parsed as Record<string, unknown>);
    }
    return metas.get(stem) as Record<string, unknown>;
  };
  const chosen = wanted === undefined ? stems : stems.filter((s) => s === wanted || meta(s).name === wanted);
  if (chosen.length !== 1) {
    const found = stems.length === 0 ? 'no kernel (a K.json beside a K.cubin)' : `kernels ${stems.join(', ')}`;
    throw operationError(fn, chosen.length === 0
      ? `'${dir}' holds ${found}${wanted === undefined ? '' : `, none named '${wanted}'`}`
      : `'${dir}' holds ${found}: pass options.name to pick one`);
  }
  const stem = chosen[0];
  const file = path.join(dir, `${stem}.json`);
  const m = meta(stem);
  const name = m.name;
  if (typeof name !== 'string' || name === '') throw operationError(fn, `${file}: "name" (the kernel's symbol) must be a non-empty string`);
  const target = (m.target ?? {}) as Record<string, unknown>;
  if (target.backend !== undefined && target.backend !== 'cuda') throw operationError(fn, `${file}: the kernel was compiled for backend '${String(target.backend)}', not 'cuda'`);
  const warps = nonNegativeInteger(m, 'num_warps', file, true) as number;
  const warpSize = typeof target.warp_size === 'number' ? target.warp_size : 32;
  if (warps < 1 || warps * warpSize > 1024) throw operationError(fn, `${file}: num_warps ${warps} gives no valid block (at most 1024 threads)`);
  const shared = nonNegativeInteger(m, 'shared', file, true) as number;
  const ctas = nonNegativeInteger(m, 'num_ctas', file, false);
  if (ctas !== null && ctas !== 1) throw operationError(fn, `${file}: num_ctas ${ctas} needs a thread block cluster launch, which kernel.launch does not make`);
  for (const key of ['global_scratch_size', 'profile_scratch_size']) {
    const size = nonNegativeInteger(m, key, file, false);
    if (size !== null && size > 0) throw operationError(fn, `${file}: ${key} is ${size}: a kernel that needs scratch memory is not supported`);
  }
  if (m.launch_cooperative_grid === true) throw operationError(fn, `${file}: the kernel needs a cooperative launch, which kernel.launch does not make`);
  const hiddenPointers = ['global_scratch_size', 'profile_scratch_size'].filter((k) => m[k] !== undefined).length;
  const params = readSignature(signature ?? m.signature, signature !== undefined ? 'options.signature' : `${file} "signature"`);
  const cubinFile = path.join(dir, `${stem}.cubin`);
  const cubin = new Uint8Array(fs.readFileSync(cubinFile));
  if (!isBinaryImage(cubin)) throw operationError(fn, `${cubinFile} is no cubin (it has no ELF header)`);
  return {
    name, cubin, params, hiddenPointers, block: [warps * warpSize, 1, 1], sharedMem: shared,
    arch: typeof target.arch === 'number' ? target.arch : null,
    tritonVersion: typeof m.triton_version === 'string' ? m.triton_version : null,
  };
}

/** Whether a cubin for compute capability `arch` (as 90) runs on a GPU of capability `device`: same major, a minor at most the GPU's; 9.0 and newer (Triton's sm_90a, sm_100a) exactly. */
export function cubinRunsOn(arch: number, device: number): boolean {
  return arch >= 90 ? arch === device : Math.floor(arch / 10) === Math.floor(device / 10) && arch <= device;
}

/**
 * The kernel in `dir` that Triton compiled ahead of time (see the top of this file), loaded
 * on a CUDA device. Its launches take the block (num_warps · 32 threads) and the shared
 * memory its compile fixed: kernel.launch({ grid }, ...args).
 */
export function loadTritonKernel(dir: string, options: TritonKernelOptions = {}): Kernel {
  const a = readTritonArtifacts(dir, options);
  const d = kernelDevice(fn, options.device);
  const [major, minor] = native().cudaDeviceInfo(d).computeCapability.split('.').map(Number);
  if (a.arch !== null && !cubinRunsOn(a.arch, major * 10 + minor)) {
    throw operationError(fn, `'${a.name}' was compiled for sm_${a.arch}, which ${d} (compute capability ${major}.${minor}) cannot run: compile it again for this GPU`);
  }
  const handle = loadImage(fn, d, a.cubin, a.name, a.params, a.hiddenPointers);
  return new Kernel({ handle, name: a.name, device: d, params: a.params, origin: 'triton', fixed: { block: a.block, sharedMem: a.sharedMem } });
}
