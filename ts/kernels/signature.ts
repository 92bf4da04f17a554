// A user kernel's declared parameters: what kernel.launch checks each argument against, and
// the (kind, dtype) codes the addon keeps for its own checks (ParamKind in
// native/core/user_kernel.h). One entry per parameter, in order:
//   'ptr<float32>' (or ptr<float>, ptr<half>/ptr<float16>, ptr<bfloat16>/ptr<__nv_bfloat16>,
//   ptr<int32>/ptr<int>, ptr<uint8>, ptr<void> for any dtype): a Tensor, passed as the device
//   address of its first element;
//   'i32' | 'u32' | 'i64' | 'u64' | 'f32' | 'f64' (or int, unsigned, int64_t, uint64_t,
//   float, double): a number (a bigint too for the integers);
// each optionally followed by a name for the messages: 'ptr<float> out', 'i32 n'.
import type { DType } from '../dtype';
import { invalidParameterError, rangeError } from '../errors';

export type ScalarKind = 'i32' | 'u32' | 'i64' | 'u64' | 'f32' | 'f64';

export interface KernelParam {
  /** 'pointer': a tensor; else the scalar's C type. */
  kind: 'pointer' | ScalarKind;
  /** A pointer's element dtype; null: any dtype (ptr<void>) or a scalar. */
  dtype: DType | null;
  /** The name the signature gave, or null. */
  name: string | null;
}

const POINTEE: Readonly<Record<string, DType | null>> = {
  float32: 'float32', float: 'float32', float16: 'float16', half: 'float16', __half: 'float16',
  bfloat16: 'bfloat16', __nv_bfloat16: 'bfloat16', int32: 'int32', int: 'int32', int32_t: 'int32',
  uint8: 'uint8', uint8_t: 'uint8', void: null,
};

const SCALAR: Readonly<Record<string, ScalarKind>> = {
  i32: 'i32', int: 'i32', int32_t: 'i32', u32: 'u32', unsigned: 'u32', uint32_t: 'u32',
  i64: 'i64', int64_t: 'i64', u64: 'u64', uint64_t: 'u64', f32: 'f32', float: 'f32', f64: 'f64', double: 'f64',
};

/** ParamKind's codes (native/core/user_kernel.h). */
const KIND_CODES: Readonly<Record<KernelParam['kind'], number>> = { pointer: 0, i32: 1, u32: 2, i64: 3, u64: 4, f32: 5, f64: 6 };
const NULL_POINTER = 7;
const DTYPE_CODES: Readonly<Record<DType, number>> = { float32: 0, float16: 1, bfloat16: 2, int32: 3, uint8: 4 };

const ENTRY = /^\s*(?:ptr\s*<\s*([A-Za-z_][A-Za-z0-9_]*)\s*>|([A-Za-z_][A-Za-z0-9_]*))(?:\s+([A-Za-z_][A-Za-z0-9_]*))?\s*$/;

/** One entry, e.g. 'ptr<float> x' or 'i32'; errors name `fn` and `what` (e.g. "signature[2]"). */
export function parseParam(fn: string, what: string, entry: unknown): KernelParam {
  if (typeof entry !== 'string') throw invalidParameterError(fn, what, "a parameter type such as 'ptr<float32>' or 'i32'", entry);
  const m = ENTRY.exec(entry);
  const pointee = m?.[1];
  if (m && pointee !== undefined && Object.hasOwn(POINTEE, pointee)) return { kind: 'pointer', dtype: POINTEE[pointee], name: m[3] ?? null };
  const scalar = m?.[2];
  if (m && scalar !== undefined && Object.hasOwn(SCALAR, scalar)) return { kind: SCALAR[scalar], dtype: null, name: m[3] ?? null };
  throw rangeError(fn, `${what} '${entry}' is no parameter type: expected ptr<T> (T one of ${Object.keys(POINTEE).join(', ')}) ` +
    `or a scalar (${Object.keys(SCALAR).join(', ')}), optionally followed by a name`);
}

/** A signature: an array of entries, each checked. */
export function parseSignature(fn: string, signature: unknown, name = 'signature'): KernelParam[] {
  if (!Array.isArray(signature)) throw invalidParameterError(fn, name, "an array of parameter types such as ['ptr<float32>', 'i32']", signature);
  return [...signature].map((entry, i) => parseParam(fn, `${name}[${i}]`, entry));
}

/** How a parameter reads in messages and in kernel.signature: 'ptr<float32> x', 'i32 n'. */
export function formatParam(p: KernelParam): string {
  const type = p.kind === 'pointer' ? `ptr<${p.dtype ?? 'void'}>` : p.kind;
  return p.name === null ? type : `${type} ${p.name}`;
}

/** "argument 2 (n)": how launch names an argument. */
export function argumentLabel(p: KernelParam, i: number): string {
  return p.name === null ? `argument ${i}` : `argument ${i} (${p.name})`;
}

/** The addon's (kind, dtype) pairs for `params`, then `hiddenPointers` null pointers (Triton's scratch). */
export function paramCodes(params: readonly KernelParam[], hiddenPointers = 0): Int32Array {
  const codes = new Int32Array(2 * (params.length + hiddenPointers));
  params.forEach((p, i) => {
    codes[2 * i] = KIND_CODES[p.kind];
    codes[2 * i + 1] = p.dtype === null ? -1 : DTYPE_CODES[p.dtype];
  });
  for (let i = params.length; i < params.length + hiddenPointers; i++) {
    codes[2 * i] = NULL_POINTER;
    codes[2 * i + 1] = -1;
  }
  return codes;
}
