// Storage: memory on one device shared by a tensor and its views, counted while live and
// freed when the last of them lets go (dispose, tidy) or, as a backstop, when the
// FinalizationRegistry sees them all collected. Retired refs are reused by allocate().
import { Device, DType, DTYPE_BYTES } from './dtype';
import { operationError, rangeError } from './errors';
import { native, NativeStorage } from './native';

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
 * @internal Storage shared by a tensor and its views, freed when the last of them lets go.
 * `bytes` is the storage's size, given by the caller that asked for it (reading
 * `native.bytes` is a call into the addon, and this runs on every op's output).
 */
export class StorageRef {
  refs = 0;
  bytes = 0;
  /** Writes in place so far (autograd's check that a saved tensor is unchanged). */
  version = 0;
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

/** @internal One more tensor holds `ref`. */
export function retain(ref: StorageRef): void {
  ref.refs++;
}

/** @internal One tensor lets go of `ref`; the last one frees its memory. */
export function release(ref: StorageRef): void {
  if (--ref.refs === 0) {
    live.storages--;
    live.bytes -= ref.bytes;
    ref.native.dispose();
    if (retired.length < MAX_RETIRED) retired.push(ref);
    else finalizer.unregister(ref);
  }
}

/**
 * @internal Memory for a contiguous `shape` of `dtype` on `device`, its errors naming `fn`.
 * `shape` is checked already (integers, checkShapeSize).
 */
export function allocate(fn: string, shape: readonly number[], dtype: DType, device: Device): StorageRef {
  if (device !== 'cpu' && !native().buildInfo.cuda) {
    throw operationError(fn, `cannot allocate on ${device}: this build of nodeformers has no CUDA backend (see backends())`);
  }
  let elements = 1;
  for (const d of shape) elements *= d;
  const bytes = elements * DTYPE_BYTES[dtype];
  if (bytes > Number.MAX_SAFE_INTEGER) {
    throw rangeError(fn, `a ${dtype} tensor of shape [${shape.join(', ')}] would take ${bytes} bytes, over 2^53 - 1`);
  }
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
