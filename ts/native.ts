// The one place that loads the addon and types what it exports. NODEFORMERS_ADDON may name
// a .node file to load instead of the usual build output (CI uses it for the node-gyp build).
import * as path from 'node:path';

/** The block_sparse part of attention(): see AttentionParams in native/core/ops.h. */
export interface BlockSparseArgs {
  /** uint8 [1 or H, ceil(Nq / block), ceil(Nk / block)], or null. */
  layout: NativeTensorArg | null;
  block: number;
  /** int32 [(1 or H) * ceil(Nq / tileM) + 1], or null. */
  tileOffsets: NativeTensorArg | null;
  /** int32, entries (key tile << 1) | partial. */
  tileCols: NativeTensorArg | null;
  tileM: number;
  tileN: number;
}

/** A block of device or host memory owned by the addon. @internal */
export interface NativeStorage {
  readonly bytes: number;
  readonly device: string;
  readonly disposed: boolean;
  dispose(): void;
  upload(byteOffset: number, bytes: Uint8Array): void;
  readSync(byteOffset: number, into: Uint8Array): void;
  read(byteOffset: number, into: Uint8Array): Promise<void>;
}

/** What native code reads of a tensor argument. @internal */
export interface NativeTensorArg {
  readonly _storage: NativeStorage | null;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly dtype: string;
}

/** A sparsePlan(): opaque; it reads the tensors it was made from, and fails once they are disposed. @internal */
export interface NativeSparsePlan {
  readonly __sparsePlan: never;
}

/** An instantiated CUDA graph. @internal */
export interface NativeGraph {
  readonly disposed: boolean;
  launch(): void;
  dispose(): void;
}

type T = NativeTensorArg;
type Maybe = NativeTensorArg | null;

export interface NativeCudaMemory { allocated: number; reserved: number; peak: number }
export interface NativeCudaDevice {
  name: string;
  computeCapability: string;
  totalMemory: number;
  smCount: number;
  l2CacheBytes: number;
  runtimeVersion: number;
  driverVersion: number;
  cublasLtVersion: number;
}

/** @internal */
export interface NativeAddon {
  buildInfo: { cuda: boolean; cudaArchitectures?: string; napiVersion: number };
  backends(): string[];
  allocate(device: string, bytes: number): NativeStorage;
  copy(dst: T, src: T): void;
  /** Device to device between two devices where the pair allows it (true), else nothing (false). */
  copyPeer(dst: T, src: T): boolean;
  fill(dst: T, value: number): void;
  gemm(a: T, b: T, c: T, bias: Maybe, transA: boolean, transB: boolean, alpha: number, activation: number,
    param: number, param2: number, allowTF32: boolean, residual?: Maybe): void;
  norm(out: T, x: T, weight: Maybe, bias: Maybe, eps: number, rms: boolean): void;
  softmax(out: T, x: T, mask: Maybe, scale: number): void;
  biasActivation(out: T, x: T, bias: Maybe, activation: number, param: number, param2: number): void;
  binary(out: T, a: T, b: T, op: number, alpha: number): void;
  mean(out: T, x: T, outer: number, n: number, inner: number): void;
  patchGather(out: T, images: T, patch: number): void;
  attention(out: T, q: T, k: T, v: T, mask: Maybe, bias: Maybe, scale: number, causal: boolean, blockSparse?: BlockSparseArgs): void;
  /**
   * A CSR mask and its kernel schedule (SparseAttentionParams in native/core/ops.h says what the
   * records hold), checked once for every sparseAttention() call that reads it.
   */
  sparsePlan(rowOffsets: T, colIndices: T, maskHeads: number, items: T, merges: T, slots: number, leadItems?: number): NativeSparsePlan;
  /** CSR attention over a sparsePlan() on q's device. */
  sparseAttention(out: T, q: T, k: T, v: T, plan: NativeSparsePlan, scale: number): void;
  /** [tileM, tileN] of the attention kernel serving dtype and head dim on device ([0, 0] on the CPU). */
  attentionTileShape(device: string, dtype: string, headDim: number): [number, number];
  synchronize(device: string): void;
  cudaDeviceCount(): number;
  cudaMemory(device?: string): NativeCudaMemory;
  cudaResetPeak(device?: string): void;
  cudaDeviceInfo(device?: string): NativeCudaDevice;
  cudaTimeRegion(device: string | undefined, fn: () => void): number;
  cudaCaptureBegin(device: string): void;
  cudaCaptureEnd(device: string): NativeGraph;
  cudaCaptureAbort(device: string): void;
  cudaGraphMemTrim(device: string): void;
}

function load(): NativeAddon {
  const failures: string[] = [];
  const explicit = process.env.NODEFORMERS_ADDON;
  if (explicit) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(path.resolve(explicit)) as NativeAddon;
    } catch (e) {
      failures.push(`NODEFORMERS_ADDON=${explicit}: ${(e as Error).message}`);
    }
  } else {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const bindings = require('bindings') as (opts: { bindings: string; module_root?: string }) => NativeAddon;
      return bindings({ bindings: 'nodeformers', module_root: path.resolve(__dirname, '..') });
    } catch (e) {
      failures.push(`build output: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    'nodeformers: could not load the native addon.\n' +
      failures.map((f) => `  - ${f}`).join('\n') +
      '\nPossible solutions:\n' +
      '  - build it: npm run build:native (needs CMake and a C++17 compiler), or npm run build:gyp\n' +
      '  - for the CUDA backend: put nvcc and cuBLASLt on the PATH (e.g. /usr/local/cuda/bin) and rebuild\n' +
      '  - if NODEFORMERS_ADDON is set, point it at an existing nodeformers.node',
  );
}

let cached: NativeAddon | undefined;

/** The loaded addon (loaded on first use). @internal */
export function native(): NativeAddon {
  if (cached === undefined) cached = load();
  return cached;
}
