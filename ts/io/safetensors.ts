// Safetensors reading and writing: an 8-byte little-endian header length, a JSON header
// (name -> { dtype, shape, data_offsets }, plus an optional __metadata__ of strings), then
// the raw little-endian bytes. Every field is checked before any byte is read, so a truncated
// or malformed file is a clear Error naming the function and the file; names are looked up as
// own keys only. Saving replaces the file atomically (./atomic.ts).
import * as fs from 'node:fs';
import { bf16BitsToFloat, DType, halfBitsToFloat } from '../dtype';
import { invalidParameterError, operationError } from '../errors';
import { checkTensor, Tensor, tensorAs } from '../tensor';
import { writeFileAtomic } from './atomic';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

// A Map, so that a dtype read from a file is looked up as itself ('toString' is not a dtype).
const DTYPE_SIZE = new Map<string, number>([['F64', 8], ['F32', 4], ['F16', 2], ['BF16', 2], ['I64', 8], ['I32', 4], ['I16', 2], ['I8', 1], ['U8', 1], ['BOOL', 1]]);

/** The header key that holds the file's metadata, never a tensor's name. */
const METADATA_KEY = '__metadata__';

/** One tensor of a safetensors file, its bytes still on the host. */
export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: number[];
  /** The raw little-endian bytes (a view into the file's buffer). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  /** By name; any string is a name ('__proto__' and 'constructor' too), save '__metadata__'. */
  tensors: Map<string, SafetensorsEntry>;
  /** The file's __metadata__, strings to strings, in an object without a prototype. */
  metadata: Record<string, string>;
}

/** The own property `key` of a parsed JSON object, never one inherited. */
function own(o: object, key: string): unknown {
  return Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

/** The header's __metadata__ as a prototype-less object of strings, or why not. */
function readMetadata(raw: unknown, fail: (message: string) => never): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(`${METADATA_KEY} is not an object`);
  const metadata: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(raw as object)) {
    if (typeof value !== 'string') fail(`${METADATA_KEY} must map strings to strings, but '${key}' is ${JSON.stringify(value)}`);
    metadata[key] = value;
  }
  return metadata;
}

// parseSafetensors under the name of the public function that called it.
function parseAs(fn: string, buffer: Uint8Array, source: string): SafetensorsFile {
  const fail = (message: string): never => {
    throw operationError(fn, `${source}: ${message}`);
  };
  if (!(buffer instanceof Uint8Array)) throw invalidParameterError(fn, 'buffer', 'a Uint8Array', buffer);
  if (buffer.byteLength < 8) fail(`file is ${buffer.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(buffer.byteLength - 8)) fail(`header length ${headerLength} runs past the end of the ${buffer.byteLength}-byte file`);
  const headerEnd = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(8, headerEnd)));
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataLength = buffer.byteLength - headerEnd;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = Object.create(null);
  const ranges: [number, number, string][] = [];
  // JSON.parse makes every key an own property ('__proto__' too): Object.entries sees each once.
  for (const [name, raw] of Object.entries(header as object)) {
    if (name === METADATA_KEY) {
      metadata = readMetadata(raw, fail);
      continue;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(`entry '${name}' is not an object`);
    const dtype = own(raw, 'dtype');
    const size = typeof dtype === 'string' ? DTYPE_SIZE.get(dtype) : undefined;
    if (size === undefined) fail(`'${name}' has unknown dtype ${JSON.stringify(dtype)}`);
    const shape = own(raw, 'shape');
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`'${name}' has a bad shape ${JSON.stringify(shape)}`);
    const offsets = own(raw, 'data_offsets');
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0) || offsets[0] > offsets[1]) {
      fail(`'${name}' has bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (end > dataLength) fail(`'${name}' data_offsets [${begin}, ${end}] run past the ${dataLength} data bytes (truncated file?)`);
    const dims = shape as number[];
    const expected = dims.reduce((a, b) => a * b, 1) * (size as number);
    if (end - begin !== expected) fail(`'${name}' holds ${end - begin} bytes but ${dtype} [${dims.join(', ')}] needs ${expected}`);
    ranges.push([begin, end, name]);
    tensors.set(name, { dtype: dtype as SafetensorsDType, shape: dims, bytes: buffer.subarray(headerEnd + begin, headerEnd + end) });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) fail(`'${ranges[i][2]}' overlaps '${ranges[i - 1][2]}'`);
  }
  return { tensors, metadata };
}

/** Parses a safetensors file held in memory. `source` names it in errors. */
export function parseSafetensors(buffer: Uint8Array, source = 'buffer'): SafetensorsFile {
  return parseAs('parseSafetensors', buffer, source);
}

/** Reads and parses a safetensors file; a missing file says so. Errors name the path. */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  const fn = 'readSafetensors';
  if (typeof file !== 'string' || file === '') throw invalidParameterError(fn, 'file', 'a path', file);
  let buffer: Buffer;
  try {
    buffer = await fs.promises.readFile(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw operationError(fn, `cannot read '${file}': ${err.code === 'ENOENT' ? 'no such file' : err.message}`, e);
  }
  return parseAs(fn, new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), `'${file}'`);
}

/** The byte size of `entry`'s dtype, checking that it is an entry of a known dtype. */
function entrySize(fn: string, entry: SafetensorsEntry): number {
  if (entry === null || typeof entry !== 'object') throw invalidParameterError(fn, 'entry', 'a SafetensorsEntry', entry);
  const { dtype, bytes } = entry;
  const size = typeof dtype === 'string' ? DTYPE_SIZE.get(dtype) : undefined;
  if (size === undefined) throw invalidParameterError(fn, 'entry.dtype', `one of ${[...DTYPE_SIZE.keys()].join(', ')}`, dtype);
  if (!(bytes instanceof Uint8Array) || bytes.byteLength % size !== 0) throw invalidParameterError(fn, 'entry.bytes', `a Uint8Array of whole ${dtype} values`, bytes);
  return size;
}

/** The entry's values as float64 numbers (any dtype). */
export function entryValues(entry: SafetensorsEntry): Float64Array {
  return valuesOf(entry, entrySize('entryValues', entry));
}

function valuesOf(entry: SafetensorsEntry, size: number): Float64Array {
  const n = entry.bytes.byteLength / size;
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

/**
 * The entry as a Tensor on `device` in `dtype` (values converted through float32 where
 * needed; an int32 or uint8 tensor takes only the integers its range holds).
 */
export function entryToTensor(entry: SafetensorsEntry, opts: { dtype?: DType; device?: 'cpu' | 'cuda' | `cuda:${number}` } = {}): Tensor {
  const fn = 'entryToTensor';
  const size = entrySize(fn, entry);
  const dtype = opts?.dtype ?? (entry.dtype === 'I32' ? 'int32' : entry.dtype === 'U8' || entry.dtype === 'BOOL' ? 'uint8' : 'float32');
  if (entry.dtype === 'F32' && entry.bytes.byteOffset % 4 === 0) {
    const f32 = new Float32Array(entry.bytes.buffer, entry.bytes.byteOffset, entry.bytes.byteLength / 4);
    return tensorAs(fn, f32, entry.shape, { dtype, device: opts?.device });
  }
  return tensorAs(fn, valuesOf(entry, size), entry.shape, { dtype, device: opts?.device });
}

const TO_SAFETENSORS: Readonly<Record<DType, SafetensorsDType>> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int32: 'I32', uint8: 'U8' };

/** The named tensors of a save, checked: a Map or a plain object of live tensors, no name reserved. */
function namedTensors(fn: string, tensors: unknown): [string, Tensor][] {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) {
    throw invalidParameterError(fn, 'tensors', 'a Map or an object of named Tensors', tensors);
  }
  const entries: [unknown, unknown][] = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  return entries.map(([name, t]) => {
    if (typeof name !== 'string') throw invalidParameterError(fn, 'a tensor name', 'a string', name);
    if (name === METADATA_KEY) throw invalidParameterError(fn, 'a tensor name', `a name other than '${METADATA_KEY}' (the format reserves it)`, name);
    return [name, checkTensor(fn, `tensors['${name}']`, t)];
  });
}

/** Metadata as the format takes it: an object mapping strings to strings. */
function checkMetadata(fn: string, metadata: unknown): [string, string][] {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata) || metadata instanceof Map) {
    throw invalidParameterError(fn, 'metadata', 'an object mapping strings to strings', metadata);
  }
  const entries = Object.entries(metadata);
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw invalidParameterError(fn, `metadata['${key}']`, 'a string (the format maps strings to strings)', value);
  }
  return entries as [string, string][];
}

/** A tensor's raw little-endian bytes (16-bit floats as their bit patterns). */
function rawBytes(t: Tensor): Uint8Array {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    // Raw 16-bit patterns, read through a same-size uint8 view of the contiguous storage.
    const c = t.contiguous();
    try {
      const bytes = new Uint8Array(c.size * 2);
      c._readRaw(bytes);
      return bytes;
    } finally {
      c.dispose();
    }
  }
  const data = t.dataSync();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A safetensors file as chunks (the 8-byte length, the header, each tensor's bytes), every
 * argument checked first; the tensors are read now. Errors name `fn`.
 */
function safetensorsChunks(fn: string, tensors: unknown, metadata: unknown): Uint8Array[] {
  const named = namedTensors(fn, tensors);
  const meta = checkMetadata(fn, metadata);
  // Without a prototype, so that '__proto__' is a key like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (meta.length > 0) header[METADATA_KEY] = Object.fromEntries(meta);
  const chunks: Uint8Array[] = [new Uint8Array(8), new Uint8Array(0)];
  let offset = 0;
  for (const [name, t] of named) {
    const bytes = rawBytes(t);
    header[name] = { dtype: TO_SAFETENSORS[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  chunks[1] = new TextEncoder().encode(json);
  new DataView(chunks[0].buffer).setBigUint64(0, BigInt(chunks[1].byteLength), true);
  return chunks;
}

/**
 * Serializes named tensors (read back from their devices) into safetensors bytes. Any
 * string but '__metadata__' names a tensor; metadata maps strings to strings.
 */
export function serializeSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const chunks = safetensorsChunks('serializeSafetensors', tensors, metadata);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Writes named tensors to a safetensors file (names and metadata as serializeSafetensors
 * takes them). The tensors are read when called; the file is replaced atomically: a failed
 * or interrupted save leaves the old file as it was and no temporary behind.
 */
export async function saveSafetensors(file: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  const fn = 'saveSafetensors';
  if (typeof file !== 'string' || file === '') throw invalidParameterError(fn, 'file', 'a path', file);
  await writeFileAtomic(fn, file, safetensorsChunks(fn, tensors, metadata));
}
