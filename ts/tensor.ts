// Tensor: a typed, shaped view of memory on one device. Views (reshape, permute, slicing
// in ops) share storage; the storage is freed when the last tensor using it is disposed,
// when the tidy() scope that made it ends, or, as a backstop, when it is garbage collected.
import {
  checkDType, checkDevice, DataFor, Device, DeviceLike, DType, DTYPE_BYTES, isFloat, TypedData, widen16,
} from './dtype';
import { checkInteger, checkShape, invalidParameterError, rangeError } from './errors';
import { native, NativeStorage, NativeTensorArg } from './native';
import { Random, randomSeed } from './random';

// Storages this context holds now (and their bytes): what the leak tests watch on any
// device. (A peak is the backend's own count, native().bufferBytes, which also sees the
// addon's intermediates.)
const live = { storages: 0, bytes: 0 };

/** @internal Storages held now and their bytes, over every device. */
export function liveStorage(): { storages: number; bytes: number } {
  return { ...live };
}

// The backstop: a storage whose tensors were all dropped without dispose() is freed when
// its StorageRef is collected (every tensor and view holds the ref, so that is when the
// last of them goes). Registered once per StorageRef, not per view: a view costs no
// registration.
const finalizer = new FinalizationRegistry<NativeStorage>((storage) => {
  live.storages--;
  live.bytes -= storage.bytes;
  storage.dispose();
});

/**
 * Storage shared by a tensor and its views, freed when the last of them lets go. `bytes` is
 * the storage's size, given by the caller that asked for it (reading `native.bytes` is a
 * call into the addon, and this runs on every op's output).
 */
class StorageRef {
  refs = 0;
  bytes = 0;
  constructor(readonly native: NativeStorage, bytes: number) {
    this.holds(bytes);
    finalizer.register(this, native, this);
  }
  /** Counts `bytes` of new memory in `native` as live (made, or given to a retired ref). */
  holds(bytes: number): void {
    this.bytes = bytes;
    live.storages++;
    live.bytes += bytes;
  }
}

// Retired StorageRefs, their memory freed, for allocate() to give new memory: a new one
// costs the host a wrapped native object (made, then collected by the GC) and a
// registration with the finalizer, together more than the allocation (issue 3: an
// allocating small op). A retired ref stays registered (the list holds it, so the
// finalizer cannot run for it) and no tensor holds it: every one that did was disposed.
const retired: StorageRef[] = [];
const MAX_RETIRED = 256;

function retain(ref: StorageRef): void {
  ref.refs++;
}

function release(ref: StorageRef): void {
  if (--ref.refs === 0) {
    live.storages--;
    live.bytes -= ref.bytes;
    ref.native.dispose();
    if (retired.length < MAX_RETIRED) retired.push(ref);
    else finalizer.unregister(ref);
  }
}

// GPU pairs ("cuda:0>cuda:1") that copyPeer found without a device-to-device path.
const noPeerPath = new Set<string>();

// Open tidy() scopes, innermost last: each holds the tensors made while it was open.
const scopes: Set<Tensor>[] = [];

/**
 * @internal A layout over `t`'s storage for one native call: a plain argument object, no
 * Tensor and no reference held, so `t` must stay alive until the call returns.
 */
export function nativeView(t: Tensor, shape: readonly number[], strides: readonly number[], offset = t.offset): NativeTensorArg {
  return { _storage: t._storage, offset, shape, strides, dtype: t.dtype };
}

/** Row-major strides of `shape`, frozen: a Tensor shares them without a copy. */
export function contiguousStrides(shape: readonly number[]): readonly number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return Object.freeze(strides);
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export interface TensorOptions {
  dtype?: DType;
  device?: DeviceLike;
}

export class Tensor<D extends DType = DType> {
  readonly shape: readonly number[];
  /** Element strides; a view may have any non-negative strides. */
  readonly strides: readonly number[];
  /** Offset of element [0, ..., 0] in the storage, in elements. */
  readonly offset: number;
  readonly dtype: D;
  readonly device: Device;
  private ref: StorageRef | null;
  /**
   * @internal The native storage, or null once disposed. Read by the addon: a plain field,
   * since a getter would re-enter JavaScript on every native argument read.
   */
  _storage: NativeStorage | null;

  /** @internal Use tensor(), zeros(), empty() and friends. */
  constructor(ref: StorageRef, shape: readonly number[], strides: readonly number[], offset: number, dtype: D, device: Device) {
    this.ref = ref;
    this._storage = ref.native;
    // A frozen array is shared as it is (no one can change it); any other is copied.
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze(shape.slice());
    this.strides = Object.isFrozen(strides) ? strides : Object.freeze(strides.slice());
    this.offset = offset;
    this.dtype = dtype;
    this.device = device;
    retain(ref);
    if (scopes.length > 0) scopes[scopes.length - 1].add(this);
  }

  get size(): number {
    return sizeOf(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get disposed(): boolean {
    return this.ref === null;
  }
  get isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expected) return false;
      expected *= this.shape[i];
    }
    return true;
  }

  /** Throws a TypeError naming `fn` if this tensor has been disposed. */
  assertAlive(fn: string, name = 'tensor'): void {
    if (this.ref === null) throw new TypeError(`${fn}: ${name} has been disposed`);
  }

  /** Frees this tensor's hold on its storage now. Safe to call twice. */
  dispose(): void {
    if (this.ref === null) return;
    const ref = this.ref;
    this.ref = null;
    this._storage = null;
    release(ref);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal A view of the same storage. */
  _view<E extends DType = D>(shape: readonly number[], strides: readonly number[], offset = this.offset, dtype?: E): Tensor<E> {
    this.assertAlive('view');
    return new Tensor((this.ref as StorageRef), shape, strides, offset, (dtype ?? this.dtype) as E, this.device);
  }

  /** The same elements in a new shape (one dimension may be -1). A view when contiguous, else a copy. */
  reshape(shape: readonly number[]): Tensor<D> {
    const fn = 'reshape';
    this.assertAlive(fn);
    if (!Array.isArray(shape)) throw invalidParameterError(fn, 'shape', 'an array of integers', shape);
    const inferred = [...shape];
    const unknown = inferred.indexOf(-1);
    if (unknown >= 0) {
      const known = sizeOf(inferred.filter((_, i) => i !== unknown));
      if (known === 0 || this.size % known !== 0) throw rangeError(fn, `cannot infer -1 in [${shape.join(', ')}] for ${this.size} elements`);
      inferred[unknown] = this.size / known;
    }
    const checked = checkShape(fn, inferred);
    if (sizeOf(checked) !== this.size) {
      throw rangeError(fn, `cannot reshape [${this.shape.join(', ')}] (${this.size} elements) to [${shape.join(', ')}]`);
    }
    if (this.isContiguous) return this._view(checked, contiguousStrides(checked));
    const c = this.contiguous();
    const v = c._view(checked, contiguousStrides(checked));
    c.dispose();
    return v;
  }

  /** A view with the dimensions reordered (no copy). */
  permute(dims: readonly number[]): Tensor<D> {
    const fn = 'permute';
    this.assertAlive(fn);
    if (!Array.isArray(dims) || dims.length !== this.rank || [...dims].sort((a, b) => a - b).some((d, i) => d !== i)) {
      throw invalidParameterError(fn, 'dims', `a permutation of 0..${this.rank - 1}`, dims);
    }
    return this._view(dims.map((d) => this.shape[d]), dims.map((d) => this.strides[d]));
  }

  /** A view with two dimensions swapped (no copy). */
  transpose(dim0 = -2, dim1 = -1): Tensor<D> {
    const a = normalizeDim('transpose', dim0, this.rank);
    const b = normalizeDim('transpose', dim1, this.rank);
    const dims = this.shape.map((_, i) => i);
    [dims[a], dims[b]] = [dims[b], dims[a]];
    return this.permute(dims);
  }

  /** A contiguous tensor with the same values: a view when already contiguous, else a copy. */
  contiguous(): Tensor<D> {
    this.assertAlive('contiguous');
    if (this.isContiguous) return this._view(this.shape, contiguousStrides(this.shape));
    const out = empty(this.shape, { dtype: this.dtype, device: this.device });
    native().copy(out, this);
    return out;
  }

  /** A contiguous copy. */
  clone(): Tensor<D> {
    this.assertAlive('clone');
    const out = empty(this.shape, { dtype: this.dtype, device: this.device });
    native().copy(out, this);
    return out;
  }

  /** A copy converted to `dtype` (float16/bfloat16 round to nearest even; NaN and Inf kept). */
  cast<E extends DType>(dtype: E): Tensor<E> {
    const fn = 'cast';
    this.assertAlive(fn);
    checkDType(fn, dtype);
    const out = empty(this.shape, { dtype, device: this.device });
    native().copy(out, this);
    return out;
  }

  /** This tensor on `device`: a copy when it lives elsewhere, a view of the same storage when not. */
  to(device: DeviceLike): Tensor<D> {
    const fn = 'to';
    this.assertAlive(fn);
    const target = checkDevice(fn, device);
    if (target === this.device) return this._view(this.shape, this.strides);
    const src = this.contiguous();
    try {
      const pair = `${this.device}>${target}`;
      if (this.device !== 'cpu' && target !== 'cpu' && !noPeerPath.has(pair)) {
        // GPU to GPU: device to device where the pair has peer access, else through the host.
        const out = empty(this.shape, { dtype: this.dtype, device: target });
        let copied = false;
        try {
          copied = native().copyPeer(out, src);
        } finally {
          if (!copied) out.dispose();
        }
        if (copied) return out;
        noPeerPath.add(pair); // the pair has no peer path: go through the host from now on
      }
      const bytes = new Uint8Array(src.size * DTYPE_BYTES[this.dtype]);
      src._readRaw(bytes);
      return fromBytes(bytes, this.shape, this.dtype, target, fn);
    } finally {
      src.dispose();
    }
  }

  /** @internal Copies the (contiguous) elements into `into`, waiting for the device. */
  _readRaw(into: Uint8Array): void {
    (this.ref as StorageRef).native.readSync(this.offset * DTYPE_BYTES[this.dtype], into);
  }

  /**
   * The values as a host array (float16 and bfloat16 widen to Float32Array). On a GPU it
   * waits for the stream on a worker thread: the event loop keeps running meanwhile.
   */
  async data(): Promise<DataFor<D>> {
    this.assertAlive('data');
    const src = this.contiguous();
    const bytes = new Uint8Array(src.size * DTYPE_BYTES[this.dtype]);
    let pending: Promise<void>;
    try {
      pending = (src.ref as StorageRef).native.read(src.offset * DTYPE_BYTES[this.dtype], bytes);
    } finally {
      src.dispose(); // the read has taken its snapshot already
    }
    await pending;
    return hostArray(bytes, this.dtype) as DataFor<D>;
  }

  /** The values as a host array, blocking until the device is done. */
  dataSync(): DataFor<D> {
    this.assertAlive('dataSync');
    const src = this.contiguous();
    try {
      const bytes = new Uint8Array(src.size * DTYPE_BYTES[this.dtype]);
      src._readRaw(bytes);
      return hostArray(bytes, this.dtype) as DataFor<D>;
    } finally {
      src.dispose();
    }
  }

  toString(): string {
    return `Tensor[${this.shape.join(', ')}] ${this.dtype} on ${this.device}${this.disposed ? ' (disposed)' : ''}`;
  }
}

export function normalizeDim(fn: string, dim: number, rank: number): number {
  if (!Number.isInteger(dim) || dim < -rank || dim >= Math.max(rank, 1)) {
    throw rangeError(fn, `dimension ${dim} is out of range for a tensor of rank ${rank}`);
  }
  return dim < 0 ? dim + rank : dim;
}

function hostArray(bytes: Uint8Array, dtype: DType): TypedData {
  switch (dtype) {
    case 'float32': return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    case 'int32': return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    case 'uint8': return bytes;
    default: return widen16(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2), dtype);
  }
}

function allocate(fn: string, shape: readonly number[], dtype: DType, device: Device): StorageRef {
  if (device !== 'cpu' && !native().buildInfo.cuda) {
    throw new Error(`${fn}: cannot allocate on ${device}: this build of nodeformers has no CUDA backend (see backends())`);
  }
  const bytes = sizeOf(shape) * DTYPE_BYTES[dtype];
  const spare = retired.pop();
  try {
    if (spare === undefined) return new StorageRef(native().allocate(device, bytes), bytes);
    native().allocate(device, bytes, spare.native);
  } catch (e) {
    if (spare !== undefined) retired.push(spare);
    // The addon's message (and code, e.g. ERR_CUDA_OOM), with the public function's name in front.
    if (e instanceof Error) e.message = `${fn}: ${e.message}`;
    throw e;
  }
  spare.holds(bytes);
  return spare;
}

/**
 * @internal A new contiguous tensor for an op's output, its errors naming `fn`. `shape` is
 * made from checked tensors and arguments, and a frozen one is shared, not copied (as
 * checkShape would).
 */
export function emptyFor<D extends DType>(fn: string, shape: readonly number[], dtype: D, device: Device): Tensor<D> {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw rangeError(fn, `the output shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
  }
  return new Tensor(allocate(fn, shape, dtype, device), shape, contiguousStrides(shape), 0, dtype, device);
}

function fromBytes<D extends DType>(bytes: Uint8Array, shape: readonly number[], dtype: D, device: Device, fn = 'tensor'): Tensor<D> {
  const t = new Tensor(allocate(fn, shape, dtype, device), shape, contiguousStrides(shape), 0, dtype, device);
  t._storage?.upload(0, bytes);
  return t;
}

function options(fn: string, opts: TensorOptions | undefined, defaultDType: DType = 'float32'): { dtype: DType; device: Device } {
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw invalidParameterError(fn, 'options', 'an object', opts);
  return {
    dtype: opts?.dtype === undefined ? defaultDType : checkDType(fn, opts.dtype, 'options.dtype'),
    device: opts?.device === undefined ? 'cpu' : checkDevice(fn, opts.device, 'options.device'),
  };
}

// empty() under the name of the public function that called it (errors name that one).
function emptyAs<D extends DType>(fn: string, shape: readonly number[], opts: TensorOptions | undefined): Tensor<D> {
  const s = checkShape(fn, shape);
  const { dtype, device } = options(fn, opts);
  return new Tensor(allocate(fn, s, dtype, device), s, contiguousStrides(s), 0, dtype as D, device);
}

function fullAs<D extends DType>(fn: string, shape: readonly number[], value: number, opts: TensorOptions | undefined): Tensor<D> {
  if (typeof value !== 'number') throw invalidParameterError(fn, 'value', 'a number', value);
  const t = emptyAs<D>(fn, shape, opts);
  native().fill(t, value);
  return t;
}

/** An uninitialized tensor. */
export function empty<D extends DType = 'float32'>(shape: readonly number[], opts?: TensorOptions & { dtype?: D }): Tensor<D> {
  return emptyAs('empty', shape, opts);
}

export function full<D extends DType = 'float32'>(shape: readonly number[], value: number, opts?: TensorOptions & { dtype?: D }): Tensor<D> {
  return fullAs('full', shape, value, opts);
}

export function zeros<D extends DType = 'float32'>(shape: readonly number[], opts?: TensorOptions & { dtype?: D }): Tensor<D> {
  return fullAs('zeros', shape, 0, opts);
}

export function ones<D extends DType = 'float32'>(shape: readonly number[], opts?: TensorOptions & { dtype?: D }): Tensor<D> {
  return fullAs('ones', shape, 1, opts);
}

type HostData = Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | number[];

/**
 * A tensor from host data (a TypedArray or a flat number[]) and a shape (default: 1-D).
 * The dtype defaults to the array's (Int32Array: int32, Uint8Array: uint8, else float32).
 */
export function tensor<D extends DType = 'float32'>(data: HostData, shape?: readonly number[], opts?: TensorOptions & { dtype?: D }): Tensor<D> {
  const fn = 'tensor';
  const isTyped = ArrayBuffer.isView(data) && !(data instanceof DataView);
  if (!isTyped && !Array.isArray(data)) throw invalidParameterError(fn, 'data', 'a TypedArray or an array of numbers', data);
  const values = data as ArrayLike<number>;
  const s = checkShape(fn, shape === undefined ? [values.length] : shape);
  if (sizeOf(s) !== values.length) {
    throw rangeError(fn, `data has ${values.length} elements but shape [${s.join(', ')}] needs ${sizeOf(s)}`);
  }
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) {
      if (typeof data[i] !== 'number') throw invalidParameterError(fn, `data[${i}]`, 'a number', data[i]);
    }
  }
  const inferred: DType = data instanceof Int32Array ? 'int32' : data instanceof Uint8Array ? 'uint8' : 'float32';
  const { dtype, device } = options(fn, opts, inferred);
  if (dtype === 'int32' || dtype === 'uint8') {
    const host = dtype === 'int32' ? Int32Array.from(values) : Uint8Array.from(values);
    if (!(data instanceof Int32Array || data instanceof Uint8Array)) {
      for (let i = 0; i < values.length; i++) {
        if (host[i] !== values[i]) throw rangeError(fn, `data[${i}] = ${values[i]} is not representable as ${dtype}`);
      }
    }
    return fromBytes(new Uint8Array(host.buffer, host.byteOffset, host.byteLength), s, dtype, device) as Tensor<D>;
  }
  const f32 = data instanceof Float32Array ? data : Float32Array.from(values);
  const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  if (dtype === 'float32') return fromBytes(bytes, s, 'float32', device) as Tensor<D>;
  // float16 / bfloat16: upload float32 and round on the device, so every backend rounds the same way.
  const wide = fromBytes(bytes, s, 'float32', device);
  try {
    return wide.cast(dtype) as Tensor<D>;
  } finally {
    wide.dispose();
  }
}

export interface RandomOptions extends TensorOptions {
  seed?: number;
}

function randomTensor<D extends DType>(fn: string, shape: readonly number[], opts: RandomOptions | undefined, draw: (r: Random) => number): Tensor<D> {
  const s = checkShape(fn, shape);
  const { dtype } = options(fn, opts);
  if (!isFloat(dtype)) throw invalidParameterError(fn, 'options.dtype', 'a float dtype', dtype);
  const seed = opts?.seed === undefined ? randomSeed() : checkInteger(fn, 'options.seed', opts.seed);
  const rng = new Random(seed);
  const values = new Float32Array(sizeOf(s));
  for (let i = 0; i < values.length; i++) values[i] = draw(rng);
  return tensor(values, s, opts) as Tensor<D>;
}

/** Standard normal values; the same seed gives the same values everywhere. */
export function randn<D extends DType = 'float32'>(shape: readonly number[], opts?: RandomOptions & { dtype?: D }): Tensor<D> {
  return randomTensor('randn', shape, opts, (r) => r.normal());
}

/** Uniform values in [0, 1). */
export function rand<D extends DType = 'float32'>(shape: readonly number[], opts?: RandomOptions & { dtype?: D }): Tensor<D> {
  return randomTensor('rand', shape, opts, (r) => r.uniform());
}

function collect(value: unknown, into: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Tensor) {
    into.add(value);
    return;
  }
  if (ArrayBuffer.isView(value)) return;
  for (const v of value instanceof Map ? value.values() : Object.values(value)) collect(v, into, seen);
}

/**
 * Runs fn and disposes every tensor it made that it does not return (tensors inside a
 * returned array, object or Map are kept). Scopes nest; fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalidParameterError('tidy', 'fn', 'a function', fn);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy: fn must be synchronous (it returned a Promise); dispose tensors of async code explicitly');
  }
  const kept = new Set<Tensor>();
  collect(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (!kept.has(t)) t.dispose();
    else parent?.add(t);
  }
  return result;
}

/** Takes a tensor out of the enclosing tidy() scopes, so it outlives them. */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

/** Checks that `value` is a live Tensor; the error names the function and the parameter. */
export function checkTensor(fn: string, name: string, value: unknown): Tensor {
  if (!(value instanceof Tensor)) throw invalidParameterError(fn, name, 'a Tensor', value);
  value.assertAlive(fn, name);
  return value;
}
