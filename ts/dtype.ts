// Dtypes and devices: names, sizes, the arrays that hold them on the host, and the one
// parser of device names.
import { checkOneOf, invalidParameterError } from './errors';

export const DTYPES = ['float32', 'float16', 'bfloat16', 'int32', 'uint8'] as const;
export type DType = (typeof DTYPES)[number];
export type FloatDType = 'float32' | 'float16' | 'bfloat16';
export const FLOAT_DTYPES: readonly FloatDType[] = ['float32', 'float16', 'bfloat16'];

/** The host array `data()` returns for each dtype (float16 and bfloat16 widen to float32). */
export type DataFor<D extends DType> = D extends 'int32' ? Int32Array : D extends 'uint8' ? Uint8Array : Float32Array;
export type TypedData = Float32Array | Int32Array | Uint8Array;

export const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, float16: 2, bfloat16: 2, int32: 4, uint8: 1 };

export function checkDType(fn: string, dtype: unknown, name = 'dtype'): DType {
  return checkOneOf(fn, name, dtype, DTYPES);
}

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16';
}

/** 'cpu' or 'cuda:N'. 'cuda' is accepted everywhere and means 'cuda:0'. */
export type Device = 'cpu' | `cuda:${number}`;
export type DeviceLike = Device | 'cuda';

export function checkDevice(fn: string, device: unknown, name = 'device'): Device {
  if (device === 'cpu' || device === 'cuda:0') return device;  // the common names, without the pattern test
  if (device === 'cuda') return 'cuda:0';
  if (typeof device === 'string' && /^cuda:\d{1,3}$/.test(device)) return `cuda:${Number(device.slice(5))}`;
  throw invalidParameterError(fn, name, "'cpu', 'cuda' or 'cuda:N'", device);
}

// float16 / bfloat16 bits to float32 (exact), for reading tensors back.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function bf16BitsToFloat(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}

/** Widens raw 16-bit float storage into a Float32Array. */
export function widen16(bits: Uint16Array, dtype: 'float16' | 'bfloat16'): Float32Array {
  const out = new Float32Array(bits.length);
  if (dtype === 'bfloat16') {
    const outBits = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  } else {
    for (let i = 0; i < bits.length; i++) out[i] = halfBitsToFloat(bits[i]);
  }
  return out;
}
