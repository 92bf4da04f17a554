// Kernel: a user's compiled CUDA function loaded on a device (cuda.compile, loadKernel,
// loadTritonKernel), launched on the device's stream after every op queued before it, with its
// arguments checked against the declared signature first. The addon checks them again
// (native/addon/user_kernels.cc), so a call that skips this class cannot crash either.
import type { Device } from '../dtype';
import { invalidParameterError, rangeError, typeError } from '../errors';
import { native, NativeKernel, NativeKernelAttributes } from '../native';
import { isTensor, Tensor } from '../tensor';
import { argumentLabel, formatParam, KernelParam } from './signature';

/** A grid or block size: x, or [x], [x, y], [x, y, z]; the missing sizes are 1. */
export type Dim3 = number | readonly number[];

export interface LaunchConfig {
  /** Blocks along x, y, z: x at most 2^31 - 1, y and z at most 65535. */
  grid: Dim3;
  /** Threads a block along x, y, z (at most 1024 in all). A Triton kernel's is fixed by its num_warps: leave it out. */
  block?: Dim3;
  /** Dynamic shared memory, bytes; default 0 (a Triton kernel: what its compile fixed). Above 48 KiB the kernel is opted in. */
  sharedMem?: number;
}

/** A launch's argument: a Tensor for a ptr<…> parameter, a number (or a bigint for an integer one) for a scalar. */
export type KernelArg = Tensor | number | bigint;

export type KernelAttributes = NativeKernelAttributes;

/** Where a kernel's compiled code came from. */
export type KernelOrigin = 'nvrtc' | 'memory-cache' | 'disk-cache' | 'cubin' | 'ptx' | 'triton';

/** The launch a kernel's compiler fixed (a Triton kernel's block and shared memory). */
export interface FixedLaunch {
  block: readonly [number, number, number];
  sharedMem: number;
}

/** @internal Enqueues one launch: the addon's kernelLaunch, or a test's stand-in. */
export type Launcher = (handle: NativeKernel, grid: readonly number[], block: readonly number[], sharedMem: number, args: KernelArg[]) => void;

/** @internal What a Kernel is made from. */
export interface KernelInit {
  handle: NativeKernel;
  /** The kernel's symbol in its module. */
  name: string;
  device: Device;
  params: readonly KernelParam[];
  origin: KernelOrigin;
  fixed?: FixedLaunch;
  /** NVRTC's log of a compile that succeeded (warnings), else ''. */
  log?: string;
  launcher?: Launcher;
}

const nativeLauncher: Launcher = (handle, grid, block, sharedMem, args) =>
  native().kernelLaunch(handle, grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedMem, args);

const fn = 'kernel.launch';
const MAX_GRID = [2 ** 31 - 1, 65535, 65535];
const MAX_BLOCK = [1024, 1024, 64];
const INT_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  i32: [-(2n ** 31n), 2n ** 31n - 1n], u32: [0n, 2n ** 32n - 1n], i64: [-(2n ** 63n), 2n ** 63n - 1n], u64: [0n, 2n ** 64n - 1n],
};

/** `value` as [x, y, z], each an integer in [1, limits[i]]; errors name `name`. */
function dim3(name: string, value: unknown, limits: readonly number[]): [number, number, number] {
  const list = typeof value === 'number' ? [value] : Array.isArray(value) ? [...value] : null;
  if (list === null || list.length < 1 || list.length > 3) throw invalidParameterError(fn, name, 'a positive integer or an array of 1 to 3 of them', value);
  const d: [number, number, number] = [1, 1, 1];
  list.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalidParameterError(fn, `${name}[${i}]`, 'a positive integer', v);
    if (v > limits[i]) throw rangeError(fn, `${name}[${i}] is ${v}; CUDA allows at most ${limits[i]}`);
    d[i] = v;
  });
  return d;
}

/** `value` as parameter `p`'s scalar, or an Error naming the argument. */
function checkScalar(p: KernelParam, label: string, value: unknown): number | bigint {
  if (p.kind === 'f32' || p.kind === 'f64') {
    if (typeof value !== 'number') throw invalidParameterError(fn, label, `a number (its parameter is ${formatParam(p)})`, value);
    return value;
  }
  const [lo, hi] = INT_RANGES[p.kind];
  if (typeof value === 'bigint') {
    if (value < lo || value > hi) throw rangeError(fn, `${label} is ${value}, outside ${p.kind}'s range [${lo}, ${hi}]`);
    return value;
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidParameterError(fn, label, `an integer (its parameter is ${formatParam(p)})`, value);
  if (!Number.isSafeInteger(value)) throw rangeError(fn, `${label} is ${value}, not exact as a number: pass a bigint`);
  if (BigInt(value) < lo || BigInt(value) > hi) throw rangeError(fn, `${label} is ${value}, outside ${p.kind}'s range [${lo}, ${hi}]`);
  return value;
}

export class Kernel {
  /** The kernel's symbol in its module (for NVRTC, the lowered name of the one asked for). */
  readonly name: string;
  readonly device: Device;
  /** The declared parameters, as 'ptr<float32> x', 'i32 n', ... */
  readonly signature: readonly string[];
  readonly origin: KernelOrigin;
  /** A Triton kernel's block and shared memory, which its launches take; undefined for others. */
  readonly fixedLaunch: FixedLaunch | undefined;
  /** NVRTC's warnings for a compiled kernel ('' when none, or not compiled here). */
  readonly log: string;
  readonly #handle: NativeKernel;
  readonly #params: readonly KernelParam[];
  readonly #launcher: Launcher;

  /** @internal Kernels come from cuda.compile, loadKernel and loadTritonKernel. */
  constructor(init: KernelInit) {
    this.#handle = init.handle;
    this.#params = Object.freeze([...init.params]);
    this.#launcher = init.launcher ?? nativeLauncher;
    this.name = init.name;
    this.device = init.device;
    this.signature = Object.freeze(this.#params.map(formatParam));
    this.origin = init.origin;
    this.fixedLaunch = init.fixed;
    this.log = init.log ?? '';
  }

  /** What the driver says of the loaded function: threads a block, registers, shared and local memory, parameter sizes. */
  get attributes(): KernelAttributes {
    return this.#handle.attributes();
  }

  /**
   * Enqueues one launch on the device's stream, after every op queued before it and before
   * every op after it; returns at once. Tensors are passed as device pointers to their first
   * element (each on the kernel's device, of the dtype its ptr<…> declares, contiguous),
   * numbers as the declared scalar types. A wrong argument throws before anything runs; a
   * launch the driver refuses throws its error. What the kernel writes is up to it: the
   * autograd tape does not see it (wrap a kernel in customOp to give it a gradient).
   */
  launch(config: LaunchConfig, ...args: KernelArg[]): void {
    if (!(#params in this)) throw typeError(fn, 'the receiver is not a Kernel');
    if (config === null || typeof config !== 'object') throw invalidParameterError(fn, 'config', 'an object { grid, block, sharedMem }', config);
    const { grid: gridIn, block: blockIn, sharedMem: sharedIn } = config; // each getter runs once
    const grid = dim3('config.grid', gridIn, MAX_GRID);
    const fixed = this.fixedLaunch;
    let block: readonly number[];
    if (blockIn === undefined && fixed) block = fixed.block;
    else {
      if (blockIn === undefined) throw invalidParameterError(fn, 'config.block', 'a positive integer or an array of 1 to 3 of them', blockIn);
      block = dim3('config.block', blockIn, MAX_BLOCK);
      if (fixed && block.some((b, i) => b !== fixed.block[i])) {
        throw rangeError(fn, `'${this.name}' was compiled for blocks of [${fixed.block.join(', ')}] threads (its num_warps), not [${block.join(', ')}]: leave config.block out`);
      }
    }
    if (block[0] * block[1] * block[2] > 1024) throw rangeError(fn, `config.block [${block.join(', ')}] has ${block[0] * block[1] * block[2]} threads; CUDA allows at most 1024`);
    const sharedMem: unknown = sharedIn ?? fixed?.sharedMem ?? 0;
    if (typeof sharedMem !== 'number' || !Number.isInteger(sharedMem) || sharedMem < 0 || sharedMem > 2 ** 32 - 1) {
      throw invalidParameterError(fn, 'config.sharedMem', 'a non-negative integer (bytes)', sharedIn);
    }
    if (fixed && sharedIn !== undefined && sharedMem !== fixed.sharedMem) {
      throw rangeError(fn, `'${this.name}' was compiled for ${fixed.sharedMem} bytes of shared memory, not ${sharedMem}: leave config.sharedMem out`);
    }
    const params = this.#params;
    if (args.length !== params.length) {
      throw typeError(fn, `'${this.name}' takes ${params.length} arguments (${this.signature.join(', ')}), got ${args.length}`);
    }
    const values = params.map((p, i) => {
      const a = args[i];
      const label = argumentLabel(p, i);
      if (p.kind !== 'pointer') return checkScalar(p, label, a);
      if (!isTensor(a)) throw invalidParameterError(fn, label, `a Tensor (its parameter is ${formatParam(p)})`, a);
      if (a.disposed) throw typeError(fn, `${label} has been disposed`);
      if (a.device !== this.device) throw typeError(fn, `${label} is on ${a.device}, but the kernel is on ${this.device}`);
      if (p.dtype !== null && a.dtype !== p.dtype) throw typeError(fn, `${label} is ${a.dtype}, but its parameter is ${formatParam(p)}`);
      if (!a.isContiguous) throw typeError(fn, `${label} must be contiguous (its [${a.shape.join(', ')}] view has strides [${a.strides.join(', ')}]): pass t.contiguous()`);
      return a;
    });
    this.#launcher(this.#handle, grid, block, sharedMem, values);
  }

  toString(): string {
    return `Kernel ${this.name}(${this.signature.join(', ')}) on ${this.device}`;
  }
}
