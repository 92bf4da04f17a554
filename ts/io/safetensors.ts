// Safetensors reading and writing: an 8-byte little-endian header length, a JSON header
// (name -> { dtype, shape, data_offsets }, plus an optional __metadata__), then the raw
// little-endian bytes. Every field is checked before any byte is read, so a truncated or
// malformed file is a clear Error, never an out-of-bounds read.
import * as fs from 'node:fs';
import { bf16BitsToFloat, DType, halfBitsToFloat } from '../dtype';
import { Tensor, tensor } from '../tensor';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const DTYPE_SIZE: Record<SafetensorsDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** One tensor of a safetensors file, its bytes still on the host. */
export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: number[];
  /** The raw little-endian bytes (a view into the file's buffer). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

function fail(source: string, message: string): never {
  throw new Error(`safetensors: ${source}: ${message}`);
}

/** Parses a safetensors file held in memory. `source` names it in errors. */
export function parseSafetensors(buffer: Uint8Array, source = 'buffer'): SafetensorsFile {
  if (buffer.byteLength < 8) fail(source, `file is ${buffer.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(buffer.byteLength - 8)) fail(source, `header length ${headerLength} runs past the end of the ${buffer.byteLength}-byte file`);
  const headerEnd = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(8, headerEnd)));
  } catch (e) {
    fail(source, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(source, 'header is not a JSON object');
  const dataLength = buffer.byteLength - headerEnd;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object') fail(source, '__metadata__ is not an object');
      metadata = raw as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (entry === null || typeof entry !== 'object') fail(source, `entry '${name}' is not an object`);
    if (typeof entry.dtype !== 'string' || !(entry.dtype in DTYPE_SIZE)) fail(source, `'${name}' has unknown dtype ${JSON.stringify(entry.dtype)}`);
    const dtype = entry.dtype as SafetensorsDType;
    if (!Array.isArray(entry.shape) || entry.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(source, `'${name}' has a bad shape ${JSON.stringify(entry.shape)}`);
    const shape = entry.shape as number[];
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0) || offsets[0] > offsets[1]) {
      fail(source, `'${name}' has bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (end > dataLength) fail(source, `'${name}' data_offsets [${begin}, ${end}] run past the ${dataLength} data bytes (truncated file?)`);
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
    if (end - begin !== expected) fail(source, `'${name}' holds ${end - begin} bytes but ${dtype} [${shape.join(', ')}] needs ${expected}`);
    ranges.push([begin, end, name]);
    tensors.set(name, { dtype, shape, bytes: buffer.subarray(headerEnd + begin, headerEnd + end) });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) fail(source, `'${ranges[i][2]}' overlaps '${ranges[i - 1][2]}'`);
  }
  return { tensors, metadata };
}

/** Reads and parses a safetensors file; a missing file says so. */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  let buffer: Buffer;
  try {
    buffer = await fs.promises.readFile(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`safetensors: cannot read '${file}': ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  return parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), file);
}

/** The entry's values as float64 numbers (any dtype). */
export function entryValues(entry: SafetensorsEntry): Float64Array {
  const n = entry.bytes.byteLength / DTYPE_SIZE[entry.dtype];
  const dv = new DataView(entry.bytes.buffer, entry.bytes.byteOffset, entry.bytes.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    switch (entry.dtype) {
      case 'F64': out[i] = dv.getFloat64(i * 8, true); break;
      case 'F32': out[i] = dv.getFloat32(i * 4, true); break;
      case 'F16': out[i] = halfBitsToFloat(dv.getUint16(i * 2, true)); break;
      case 'BF16': out[i] = bf16BitsToFloat(dv.getUint16(i * 2, true)); break;
      case 'I64': out[i] = Number(dv.getBigInt64(i * 8, true)); break;
      case 'I32': out[i] = dv.getInt32(i * 4, true); break;
      case 'I16': out[i] = dv.getInt16(i * 2, true); break;
      case 'I8': out[i] = dv.getInt8(i); break;
      default: out[i] = dv.getUint8(i);
    }
  }
  return out;
}

/** The entry as a Tensor on `device` in `dtype` (values converted through float32 where needed). */
export function entryToTensor(entry: SafetensorsEntry, opts: { dtype?: DType; device?: 'cpu' | 'cuda' | `cuda:${number}` } = {}): Tensor {
  const isInt = entry.dtype === 'I32' || entry.dtype === 'U8' || entry.dtype === 'BOOL';
  const dtype = opts.dtype ?? (entry.dtype === 'I32' ? 'int32' : entry.dtype === 'U8' || entry.dtype === 'BOOL' ? 'uint8' : 'float32');
  if (entry.dtype === 'F32' && entry.bytes.byteOffset % 4 === 0) {
    const f32 = new Float32Array(entry.bytes.buffer, entry.bytes.byteOffset, entry.bytes.byteLength / 4);
    return tensor(f32, entry.shape, { dtype, device: opts.device });
  }
  const values = entryValues(entry);
  return tensor(isInt && (dtype === 'int32' || dtype === 'uint8') ? Array.from(values) : Float32Array.from(values), entry.shape, { dtype, device: opts.device });
}

const TO_SAFETENSORS: Record<DType, SafetensorsDType> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int32: 'I32', uint8: 'U8' };

/** Serializes named tensors (read back from their devices) into safetensors bytes. */
export function serializeSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    let bytes: Uint8Array;
    if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
      // Raw 16-bit patterns, read through a same-size uint8 view of the contiguous storage.
      const c = t.contiguous();
      bytes = new Uint8Array(c.size * 2);
      c._readRaw(bytes);
      c.dispose();
    } else {
      const data = t.dataSync();
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    header[name] = { dtype: TO_SAFETENSORS[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const b of blobs) { out.set(b, at); at += b.byteLength; }
  return out;
}

/** Writes named tensors to a safetensors file. */
export async function saveSafetensors(file: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  await fs.promises.writeFile(file, serializeSafetensors(tensors, metadata));
}
