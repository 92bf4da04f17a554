// Tensor: a typed, shaped view of memory on one device. Views (reshape, permute, slicing
// in ops) share storage; the storage is freed when the last tensor using it is disposed,
// when the tidy() scope that made it ends, or, as a backstop, when it is garbage collected.
import {
  checkDType, checkDevice, DataFor, Device, DeviceLike, DType, DTYPE_BYTES, isFloat, TypedData, widen16,
} from './dtype';
import {
  checkInteger, checkShape, checkShapeSize, invalidParameterError, rangeError, setTensorDescriber, typeError,
} from './errors';
import { native, NativeStorage, NativeTensorArg } from './native';
import { Random, randomSeed } from './random';
import { scopes } from './scope';
import { allocate, release, retain, StorageRef } from './storage';
import type { GradState } from './autograd/node';
import { backwardFrom } from './autograd/backward';
import { gradRecorded, releaseGradState } from './autograd/graph';
import { recordView } from './autograd/grads/view';

export { liveStorage } from './storage';
export { keep, tidy } from './scope';

// GPU pairs ("cuda:0>cuda:1") that copyPeer found without a device-to-device path.
const noPeerPath = new Set<string>();


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

// Tells a real Tensor from any other object (Object.create(t), a Proxy, a look-alike): set in
// Tensor's static block, where its private field is in scope.
let hasTensorBrand: (value: object) => boolean;
// The autograd state of any object: null for a non-tensor or a tensor that does not require grad.
let gradStateOf: (value: object) => GradState | null;

export class Tensor<D extends DType = DType> {
  readonly shape: readonly number[];
  /** Element strides; a view may have any non-negative strides. */
  readonly strides: readonly number[];
  /** Offset of element [0, ..., 0] in the storage, in elements. */
  readonly offset: number;
  readonly dtype: D;
  readonly device: Device;
  // The storage held, or null once disposed. Private, so it is also the brand isTensor() tests.
  #ref: StorageRef | null;
  // Autograd (ts/autograd): null unless this tensor requires grad; then the op that made it
  // (null for a leaf) and, for a leaf, its accumulated gradient.
  #autograd: GradState | null = null;

  static {
    hasTensorBrand = (value) => #ref in value;
    gradStateOf = (value) => (#autograd in value ? value.#autograd : null);
  }

  /** @internal Use tensor(), zeros(), empty() and friends. */
  constructor(ref: StorageRef, shape: readonly number[], strides: readonly number[], offset: number, dtype: D, device: Device) {
    this.#ref = ref;
    // A frozen array is shared as it is (no one can change it); any other is copied.
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze(shape.slice());
    this.strides = Object.isFrozen(strides) ? strides : Object.freeze(strides.slice());
    this.offset = offset;
    this.dtype = dtype;
    this.device = device;
    retain(ref);
    if (scopes.length > 0) scopes[scopes.length - 1].add(this);
    // Frozen, so that no field an op or the addon reads can be replaced by a getter (issue 24);
    // what changes (the storage) is private. A field added later must be private too.
    Object.freeze(this);
  }

  /** @internal The native storage, or null once disposed: what the addon reads. */
  get _storage(): NativeStorage | null {
    return this.#ref === null ? null : this.#ref.native;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get disposed(): boolean {
    return this.#ref === null;
  }
  get isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expected) return false;
      expected *= this.shape[i];
    }
    return true;
  }

  /** Throws a TypeError naming `fn` if this is not a live Tensor (disposed, or an object made from one). */
  assertAlive(fn: string, name = 'tensor'): void {
    if (!hasTensorBrand(this)) throw invalidParameterError(fn, name, 'a Tensor', this);
    if (this.#ref === null) throw typeError(fn, `${name} has been disposed`);
  }

  /**
   * Whether gradients flow to this tensor: a leaf marked by requiresGrad_(), or the output
   * of an op recorded on the tape (an input required grad, outside noGrad()).
   */
  get requiresGrad(): boolean {
    return this.#autograd !== null;
  }

  /** The gradient accumulated by backward() into this leaf, or null (none yet, zeroGrad(), or not a leaf). */
  get grad(): Tensor<D> | null {
    return (this.#autograd?.grad ?? null) as Tensor<D> | null;
  }

  /** True unless this tensor was made by an op recorded on the tape: user-made tensors are leaves. */
  get isLeaf(): boolean {
    return this.#autograd === null || this.#autograd.node === null;
  }

  /**
   * Marks this leaf as requiring grad (or not, with false): ops on it are recorded, and
   * backward() accumulates its gradient into `.grad`. Float tensors only. Returns this.
   */
  requiresGrad_(flag = true): this {
    const fn = 'requiresGrad_';
    this.assertAlive(fn);
    if (typeof flag !== 'boolean') throw invalidParameterError(fn, 'flag', 'a boolean', flag);
    if (!this.isLeaf) throw typeError(fn, 'this tensor was made by a recorded op; use detach() for a tensor without a history');
    if (flag && !isFloat(this.dtype)) throw invalidParameterError(fn, 'this', 'a float tensor (only they have gradients)', this);
    if (flag && this.#autograd === null) this.#autograd = { node: null, grad: null };
    if (!flag && this.#autograd !== null) {
      const state = this.#autograd;
      this.#autograd = null;
      releaseGradState(state);
    }
    return this;
  }

  /** A view of the same storage outside the tape: no history, no requiresGrad (shares the values). */
  detach(): Tensor<D> {
    this.assertAlive('detach');
    return this._view(this.shape, this.strides);
  }

  /**
   * Backpropagates from this tensor (see backward()): with no gradient it must hold one
   * element (a loss); the gradient is 1.
   */
  backward(gradient?: Tensor): void {
    backwardFrom(this, gradient);
  }

  /** @internal The autograd state, which ts/autograd/graph.ts reads and sets. */
  get _autograd(): GradState | null { return this.#autograd; }
  /** @internal */
  _setAutograd(state: GradState | null): void { this.#autograd = state; }
  /** @internal Writes in place into the storage so far (residualAdd, options.out): what the tape's saved tensors check. */
  get _version(): number { return this.#ref === null ? -1 : this.#ref.version; }
  /** @internal Counts a write in place into this tensor's storage. */
  _bumpVersion(): void { if (this.#ref !== null) this.#ref.version++; }

  /** Frees this tensor's hold on its storage now (and its gradient and its share of the tape). Safe to call twice. */
  dispose(): void {
    if (this.#ref === null) return;
    const ref = this.#ref;
    this.#ref = null;
    release(ref);
    if (this.#autograd !== null) {
      const state = this.#autograd;
      this.#autograd = null;
      releaseGradState(state);
    }
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal A view of the same storage. */
  _view<E extends DType = D>(shape: readonly number[], strides: readonly number[], offset = this.offset, dtype?: E): Tensor<E> {
    this.assertAlive('view');
    return new Tensor(this.#ref as StorageRef, shape, strides, offset, (dtype ?? this.dtype) as E, this.device);
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
    let v: Tensor<D>;
    if (this.isContiguous) {
      v = this._view(checked, contiguousStrides(checked));
    } else {
      const c = this.#copy(fn, this.dtype, this.device);
      v = c._view(checked, contiguousStrides(checked));
      c.dispose();
    }
    return this.#autograd !== null && gradRecorded() ? recordView(fn, this, v) : v;
  }

  /** A view with the dimensions reordered (no copy). */
  permute(dims: readonly number[]): Tensor<D> {
    return this.#permuted('permute', dims);
  }

  /** A view with two dimensions swapped (no copy). */
  transpose(dim0 = -2, dim1 = -1): Tensor<D> {
    const fn = 'transpose';
    this.assertAlive(fn);
    const a = normalizeDim(fn, dim0, this.rank);
    const b = normalizeDim(fn, dim1, this.rank);
    const dims = this.shape.map((_, i) => i);
    [dims[a], dims[b]] = [dims[b], dims[a]];
    return this.#permuted(fn, dims);
  }

  #permuted(fn: string, dims: unknown): Tensor<D> {
    this.assertAlive(fn);
    const order = Array.isArray(dims) ? [...dims] : null; // read once: what is checked is what is used
    if (order === null || order.length !== this.rank || [...order].sort((a, b) => a - b).some((d, i) => d !== i)) {
      throw invalidParameterError(fn, 'dims', `a permutation of 0..${this.rank - 1}`, dims);
    }
    const v = this._view(order.map((d) => this.shape[d]), order.map((d) => this.strides[d]));
    return this.#autograd !== null && gradRecorded() ? recordView(fn, this, v, order) : v;
  }

  /** A contiguous tensor with the same values: a view when already contiguous, else a copy. */
  contiguous(): Tensor<D> {
    const v = this.#contiguous('contiguous');
    return this.#autograd !== null && gradRecorded() ? recordView('contiguous', this, v) : v;
  }

  /** @internal contiguous() for an op's own temporaries: never recorded. */
  _contiguous(): Tensor<D> {
    return this.#contiguous('contiguous');
  }

  #contiguous(fn: string): Tensor<D> {
    this.assertAlive(fn);
    if (this.isContiguous) return this._view(this.shape, contiguousStrides(this.shape));
    return this.#copy(fn, this.dtype, this.device);
  }

  /** A contiguous copy. */
  clone(): Tensor<D> {
    this.assertAlive('clone');
    const v = this.#copy('clone', this.dtype, this.device);
    return this.#autograd !== null && gradRecorded() ? recordView('clone', this, v) : v;
  }

  // A contiguous copy in `dtype` on this device, its errors naming the public function `fn`.
  #copy<E extends DType>(fn: string, dtype: E, device: Device): Tensor<E> {
    const out = emptyFor(fn, this.shape, dtype, device);
    try {
      native().copy(out, this);
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  }

  /** A copy converted to `dtype` (float16/bfloat16 round to nearest even; NaN and Inf kept). */
  cast<E extends DType>(dtype: E): Tensor<E> {
    const fn = 'cast';
    this.assertAlive(fn);
    const v = this.#copy(fn, checkDType(fn, dtype) as E, this.device);
    return this.#autograd !== null && isFloat(v.dtype) && gradRecorded() ? recordView(fn, this, v) : v;
  }

  /** This tensor on `device`: a copy when it lives elsewhere, a view of the same storage when not. */
  to(device: DeviceLike): Tensor<D> {
    const v = this.#to(device);
    return this.#autograd !== null && gradRecorded() ? recordView('to', this, v) : v;
  }

  #to(device: DeviceLike): Tensor<D> {
    const fn = 'to';
    this.assertAlive(fn);
    const target = checkDevice(fn, device);
    if (target === this.device) return this._view(this.shape, this.strides);
    const src = this.#contiguous(fn);
    try {
      const pair = `${this.device}>${target}`;
      if (this.device !== 'cpu' && target !== 'cpu' && !noPeerPath.has(pair)) {
        // GPU to GPU: device to device where the pair has peer access, else through the host.
        const out = emptyFor(fn, this.shape, this.dtype, target);
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
    (this.#ref as StorageRef).native.readSync(this.offset * DTYPE_BYTES[this.dtype], into);
  }

  /**
   * The values as a host array (float16 and bfloat16 widen to Float32Array). On a GPU it
   * waits for the stream on a worker thread: the event loop keeps running meanwhile.
   */
  async data(): Promise<DataFor<D>> {
    this.assertAlive('data');
    const src = this.#contiguous('data');
    const bytes = new Uint8Array(src.size * DTYPE_BYTES[this.dtype]);
    let pending: Promise<void>;
    try {
      pending = (src.#ref as StorageRef).native.read(src.offset * DTYPE_BYTES[this.dtype], bytes);
    } finally {
      src.dispose(); // the read has taken its snapshot already
    }
    await pending;
    return hostArray(bytes, this.dtype) as DataFor<D>;
  }

  /** The values as a host array, blocking until the device is done. */
  dataSync(): DataFor<D> {
    this.assertAlive('dataSync');
    const src = this.#contiguous('dataSync');
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

/**
 * @internal A new contiguous tensor for an op's output, its errors naming `fn`. `shape` is
 * made from checked tensors and arguments, and a frozen one is shared, not copied (as
 * checkShape would).
 */
export function emptyFor<D extends DType>(fn: string, shape: readonly number[], dtype: D, device: Device): Tensor<D> {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw rangeError(fn, `the output shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
  }
  checkShapeSize(fn, shape, 'the output shape');
  return new Tensor(allocate(fn, shape, dtype, device), shape, contiguousStrides(shape), 0, dtype, device);
}

function fromBytes<D extends DType>(bytes: Uint8Array, shape: readonly number[], dtype: D, device: Device, fn: string): Tensor<D> {
  const t = new Tensor(allocate(fn, shape, dtype, device), shape, contiguousStrides(shape), 0, dtype, device);
  t._storage?.upload(0, bytes);
  return t;
}

function options(fn: string, opts: TensorOptions | undefined, defaultDType: DType = 'float32'): { dtype: DType; device: Device } {
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw invalidParameterError(fn, 'options', 'an object', opts);
  const dtype = opts?.dtype;
  const device = opts?.device;
  return {
    dtype: dtype === undefined ? defaultDType : checkDType(fn, dtype, 'options.dtype'),
    device: device === undefined ? 'cpu' : checkDevice(fn, device, 'options.device'),
  };
}

// The integer dtypes' ranges: a value stored in one must be an integer within it.
const INT_RANGE: Readonly<Record<'int32' | 'uint8', readonly [number, number]>> = { int32: [-(2 ** 31), 2 ** 31 - 1], uint8: [0, 255] };

/** Throws a RangeError naming `fn` unless `value` is exactly representable in the integer `dtype`; float dtypes take any number. */
function checkRepresentable(fn: string, name: string, value: number, dtype: DType): void {
  if (isFloat(dtype)) return;
  const [lo, hi] = INT_RANGE[dtype as 'int32' | 'uint8'];
  if (!(Number.isInteger(value) && value >= lo && value <= hi)) {
    throw rangeError(fn, `${name} = ${value} is not representable as ${dtype} (an integer in [${lo}, ${hi}])`);
  }
}

// empty() under the name of the public function that called it (errors name that one).
function emptyAs<D extends DType>(fn: string, shape: readonly number[], opts: TensorOptions | undefined): Tensor<D> {
  const s = checkShape(fn, shape);
  const { dtype, device } = options(fn, opts);
  return new Tensor(allocate(fn, s, dtype, device), s, contiguousStrides(s), 0, dtype as D, device);
}

function fullAs<D extends DType>(fn: string, shape: readonly number[], value: number, opts: TensorOptions | undefined): Tensor<D> {
  if (typeof value !== 'number') throw invalidParameterError(fn, 'value', 'a number', value);
  const s = checkShape(fn, shape);
  const { dtype, device } = options(fn, opts);
  checkRepresentable(fn, 'value', value, dtype);
  const t = new Tensor(allocate(fn, s, dtype, device), s, contiguousStrides(s), 0, dtype as D, device);
  if (t.size > 0) native().fill(t, value);
  return t;
}

/** An uninitialized tensor. */
export function empty<D extends DType = 'float32'>(shape: readonly number[], opts?: TensorOptions & { dtype?: D }): Tensor<D> {
  return emptyAs('empty', shape, opts);
}

/** A tensor filled with `value` (for int32 and uint8, an integer within the dtype's range). */
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
type NumberArray = Exclude<HostData, number[]> | Uint8ClampedArray;

/**
 * `values` in the host array of `dtype` (float32 for the float dtypes), by one rule for
 * every source: an integer dtype takes only integers within its range (no wrapping, no
 * truncation, no NaN); a float dtype takes any number (rounded to float32).
 */
function hostArrayFor(fn: string, values: NumberArray, dtype: DType): Float32Array | Int32Array | Uint8Array {
  if (isFloat(dtype)) return values instanceof Float32Array ? values : Float32Array.from(values);
  if (dtype === 'int32' ? values instanceof Int32Array : values instanceof Uint8Array) return values as Int32Array | Uint8Array;
  const out = dtype === 'int32' ? new Int32Array(values.length) : new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    checkRepresentable(fn, `data[${i}]`, values[i], dtype);
    out[i] = values[i];
  }
  return out;
}

// A tensor of `values` (checked by hostArrayFor), its errors naming `fn`.
function fromHost<D extends DType>(fn: string, values: NumberArray, shape: readonly number[], dtype: D, device: Device): Tensor<D> {
  const host = hostArrayFor(fn, values, dtype);
  const bytes = new Uint8Array(host.buffer, host.byteOffset, host.byteLength);
  if (!isFloat(dtype) || dtype === 'float32') return fromBytes(bytes, shape, dtype, device, fn);
  // float16 / bfloat16: upload float32 and round on the device, so every backend rounds the same way.
  const wide = fromBytes(bytes, shape, 'float32', device, fn);
  let out: Tensor<D> | null = null;
  try {
    out = emptyFor(fn, shape, dtype, device);
    native().copy(out, wide);
    return out;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    wide.dispose();
  }
}

/**
 * A tensor from host data (a TypedArray or a flat number[]) and a shape (default: 1-D).
 * The dtype defaults to the array's (Int32Array: int32, Uint8Array: uint8, else float32).
 * An int32 or uint8 tensor takes only integers within its range, from any source.
 */
export function tensor<D extends DType = 'float32'>(data: HostData, shape?: readonly number[], opts?: TensorOptions & { dtype?: D }): Tensor<D> {
  return tensorAs('tensor', data, shape, opts);
}

/** @internal tensor() under the name of the public function that called it. */
export function tensorAs<D extends DType>(fn: string, data: HostData, shape?: readonly number[], opts?: TensorOptions & { dtype?: D }): Tensor<D> {
  let values: NumberArray;
  if (Array.isArray(data)) {
    // Read once into numbers, so that what is checked is what is stored.
    values = new Float64Array(data.length);
    for (let i = 0; i < values.length; i++) {
      const v: unknown = data[i];
      if (typeof v !== 'number') throw invalidParameterError(fn, `data[${i}]`, 'a number', v);
      values[i] = v;
    }
  } else if (ArrayBuffer.isView(data) && !(data instanceof DataView) && !(data instanceof BigInt64Array) && !(data instanceof BigUint64Array)) {
    values = data;
  } else {
    throw invalidParameterError(fn, 'data', 'a TypedArray of numbers or an array of numbers', data);
  }
  const s = checkShape(fn, shape === undefined ? [values.length] : shape);
  if (sizeOf(s) !== values.length) {
    throw rangeError(fn, `data has ${values.length} elements but shape [${s.join(', ')}] needs ${sizeOf(s)}`);
  }
  const inferred: DType = data instanceof Int32Array ? 'int32' : data instanceof Uint8Array ? 'uint8' : 'float32';
  const { dtype, device } = options(fn, opts, inferred);
  return fromHost(fn, values, s, dtype as D, device);
}

export interface RandomOptions extends TensorOptions {
  seed?: number;
}

function randomTensor<D extends DType>(fn: string, shape: readonly number[], opts: RandomOptions | undefined, draw: (r: Random) => number): Tensor<D> {
  const s = checkShape(fn, shape);
  const { dtype, device } = options(fn, opts);
  if (!isFloat(dtype)) throw invalidParameterError(fn, 'options.dtype', 'a float dtype', dtype);
  const seed = opts?.seed === undefined ? randomSeed() : checkInteger(fn, 'options.seed', opts.seed);
  const rng = new Random(seed);
  let values: Float32Array;
  try {
    values = new Float32Array(sizeOf(s)); // drawn on the host
  } catch (e) {
    throw rangeError(fn, `cannot draw ${sizeOf(s)} values (shape [${s.join(', ')}]) on the host: ${(e as Error).message}`);
  }
  for (let i = 0; i < values.length; i++) values[i] = draw(rng);
  return fromHost(fn, values, s, dtype as D, device);
}

/** Standard normal values; the same seed gives the same values everywhere. */
export function randn<D extends DType = 'float32'>(shape: readonly number[], opts?: RandomOptions & { dtype?: D }): Tensor<D> {
  return randomTensor('randn', shape, opts, (r) => r.normal());
}

/** Uniform values in [0, 1). */
export function rand<D extends DType = 'float32'>(shape: readonly number[], opts?: RandomOptions & { dtype?: D }): Tensor<D> {
  return randomTensor('rand', shape, opts, (r) => r.uniform());
}

/** Checks that `value` is a live Tensor; the error names the function and the parameter. */
export function checkTensor(fn: string, name: string, value: unknown): Tensor {
  if (!isTensor(value)) throw invalidParameterError(fn, name, 'a Tensor', value);
  if (value.disposed) throw typeError(fn, `${name} has been disposed`);
  return value;
}

/**
 * Whether `value` is a Tensor made by this library: a private brand, not instanceof, so that
 * Object.create(t), a Proxy of a tensor or a look-alike object is not one (issue 24).
 */
export function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && hasTensorBrand(value);
}

/** @internal Whether `value` is a tensor that requires grad: the one check an op makes before recording. */
export function requiresGradOf(value: unknown): boolean {
  return typeof value === 'object' && value !== null && gradStateOf(value) !== null;
}

setTensorDescriber((value) => {
  if (isTensor(value)) return value.toString();
  return value instanceof Tensor ? 'an object made from a Tensor (by Object.create or a Proxy), not a Tensor' : undefined;
});
