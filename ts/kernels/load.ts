// loadKernel: a kernel from a compiled module (a cubin or fatbin, or PTX that the driver
// compiles for the GPU), loaded through the driver API on a CUDA device.
import { cudaDevice } from '../cuda';
import type { Device, DeviceLike } from '../dtype';
import { invalidParameterError, operationError } from '../errors';
import { native, NativeKernel } from '../native';
import { Kernel } from './kernel';
import { KernelParam, paramCodes, parseSignature } from './signature';

export interface LoadKernelOptions {
  /** A cubin or fatbin (an ELF image, as nvcc -cubin or -fatbin writes it). Give this or ptx. */
  cubin?: Uint8Array;
  /** PTX text (or its bytes), compiled by the driver for the GPU. Give this or cubin. */
  ptx?: string | Uint8Array;
  /** The kernel's symbol in the module: its name for an extern "C" kernel, else the mangled name. */
  name: string;
  /** Its parameters: ['ptr<float32> x', 'i32 n', ...] (see ts/kernels/signature.ts). */
  signature: readonly string[];
  /** Default 'cuda:0'. */
  device?: DeviceLike;
}

const ELF = [0x7f, 0x45, 0x4c, 0x46];
const FATBIN = [0x50, 0xed, 0x55, 0xba]; // 0xBA55ED50, little-endian

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

/** Whether `bytes` look like a cubin or a fatbin. */
export function isBinaryImage(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && (startsWith(bytes, ELF) || startsWith(bytes, FATBIN));
}

/** @internal The CUDA device a kernel is for: this build must have the backend, and the machine a GPU. */
export function kernelDevice(fn: string, device: DeviceLike | undefined): Device {
  const d = cudaDevice(fn, device);
  const count = native().cudaDeviceCount();
  if (count === 0) throw operationError(fn, 'this machine has no CUDA device (its kernels need one)');
  return d;
}

/**
 * @internal `symbol` of `image` loaded on `device` with `params` (then `hiddenPointers` null
 * pointers, Triton's scratch). The addon's errors are given the caller's name `fn`.
 */
export function loadImage(fn: string, device: Device, image: Uint8Array, symbol: string, params: readonly KernelParam[], hiddenPointers = 0): NativeKernel {
  try {
    return native().loadKernel(device, image, symbol, paramCodes(params, hiddenPointers));
  } catch (e) {
    const err = e as Error & { code?: string };
    if (fn === 'loadKernel' || typeof err.message !== 'string') throw e;
    const renamed = new (err instanceof TypeError ? TypeError : Error)(`${fn}: ${err.message}`, { cause: e }) as Error & { code?: string };
    if (err.code !== undefined) renamed.code = err.code;
    throw renamed;
  }
}

/** A kernel of a compiled module, loaded on a CUDA device (a module stays loaded while the device's backend lives). */
export function loadKernel(options: LoadKernelOptions): Kernel {
  const fn = 'loadKernel';
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object { cubin | ptx, name, signature }', options);
  const { cubin, ptx, name, signature, device } = options;
  if ((cubin === undefined) === (ptx === undefined)) throw invalidParameterError(fn, 'options', 'one of options.cubin and options.ptx', options);
  let image: Uint8Array;
  if (cubin !== undefined) {
    if (!(cubin instanceof Uint8Array)) throw invalidParameterError(fn, 'options.cubin', 'a Uint8Array', cubin);
    if (!isBinaryImage(cubin)) throw invalidParameterError(fn, 'options.cubin', 'a cubin or fatbin (bytes starting with an ELF or fatbin header)', cubin);
    image = new Uint8Array(cubin);
  } else if (typeof ptx === 'string') {
    image = new TextEncoder().encode(ptx);
  } else if (ptx instanceof Uint8Array) {
    image = new Uint8Array(ptx);
  } else {
    throw invalidParameterError(fn, 'options.ptx', 'a string or Uint8Array of PTX', ptx);
  }
  if (image.byteLength === 0) throw invalidParameterError(fn, cubin !== undefined ? 'options.cubin' : 'options.ptx', 'a non-empty image', image);
  if (typeof name !== 'string' || name === '') throw invalidParameterError(fn, 'options.name', "the kernel's symbol (a non-empty string)", name);
  const params = parseSignature(fn, signature, 'options.signature');
  const d = kernelDevice(fn, device);
  const handle = loadImage(fn, d, image, name, params);
  return new Kernel({ handle, name, device: d, params, origin: cubin !== undefined ? 'cubin' : 'ptx' });
}
