// The one place that loads the addon and types what it exports: a local build, else the
// prebuilt CPU addon the package carries (native/install.js says which an install chose).
// NODEFORMERS_ADDON may name a .node file to load instead (CI uses it for the node-gyp build).
import * as fs from 'node:fs';
import * as path from 'node:path';

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

/** What every plan object has: its memory, held until dispose(). @internal */
interface NativePlanMemory {
  /** Bytes the plan holds (0 once disposed). */
  readonly bytes: number;
  readonly disposed: boolean;
  dispose(): void;
}

/** A SparsePlan's sizes and schedule counts. @internal */
export interface NativeSparsePlanStats {
  maskHeads: number;
  nq: number;
  nk: number;
  nnz: number;
  /** Schedule items (records of 4 int32), of which the first leadItems lead. */
  items: number;
  leadItems: number;
  /** Merge records (of 3 int32), one per split row, and the partial slots they read. */
  merges: number;
  slots: number;
}

/**
 * sparsePlan(): a CSR mask and the CSR kernel's schedule on a device (SparseAttentionParams in
 * native/core/ops.h says what the records hold), checked and built once. @internal
 */
export interface NativeSparsePlan extends NativePlanMemory {
  readonly __sparsePlan: never;
  stats(): NativeSparsePlanStats;
  /** stats() and the arrays read back from the device: for tests. @internal */
  describe(): NativeSparsePlanStats & {
    rowOffsets: Int32Array; colIndices: Int32Array; items: Int32Array; merges: Int32Array;
    /** The transposed mask (CSC) the backward reads: [maskHeads · nk + 1] offsets, and per entry its query row and CSR entry. */
    colOffsets: Int32Array; rowIndices: Int32Array; csrIndex: Int32Array;
  };
}

/** The tile fill figures of a BlockPlan at one tiling. @internal */
export interface NativeTileStats {
  tileM: number;
  tileN: number;
  /** Tiles listed (those holding an entry, or overlapping a block that is on). */
  tiles: number;
  /** Their area, each clipped to Nq x Nk. */
  area: number;
}

/**
 * blockPlan(): a block layout, or a SparsePlan's mask, and the tile lists of each kernel
 * tiling asked of it, built on first use (AttentionParams in native/core/ops.h). nq and nk
 * default to the mask's; a layout's plan needs them. @internal
 */
export interface NativeBlockPlan extends NativePlanMemory {
  readonly __blockPlan: never;
  /** At the tiling of the kernel serving dtype and headDim on the plan's device; null where it has no tiles. */
  stats(dtype: string, headDim: number, nq?: number, nk?: number): NativeTileStats | null;
  /** The lists at [tileM, tileN], read back from the device: for tests. @internal */
  describe(tileM: number, tileN: number, nq?: number, nk?: number): NativeTileStats & { heads: number; offsets: Int32Array; cols: Int32Array };
}

/** What blockPlan() is made from: a SparsePlan, or a layout's blocks [heads, rows, cols] (nonzero = on). @internal */
export type NativeBlockPlanSource = NativeSparsePlan | { layout: Uint8Array; heads: number; rows: number; cols: number; block: number };

/** An instantiated CUDA graph. @internal */
export interface NativeGraph {
  readonly disposed: boolean;
  launch(): void;
  dispose(): void;
}

/** A user kernel loaded on a device (loadKernel): what ts/kernels/kernel.ts launches. @internal */
export interface NativeKernel {
  readonly __kernel: never;
  attributes(): NativeKernelAttributes;
}

/** What the driver says of a loaded kernel. */
export interface NativeKernelAttributes {
  name: string;
  device: string;
  maxThreadsPerBlock: number;
  numRegs: number;
  staticSharedBytes: number;
  localBytes: number;
  /** The most dynamic shared memory a launch may ask for (the device's opt-in limit less the static). */
  maxDynamicSharedBytes: number;
  ptxVersion: number;
  binaryVersion: number;
  /** Each parameter's bytes as compiled; null where the driver cannot say (before CUDA 12.4). */
  paramSizes: number[] | null;
}

/** Whether NVRTC loaded, from where, its version and architectures, and CUDA's include directory ('' if none found). */
export interface NativeNvrtcInfo {
  available: boolean;
  library: string;
  error: string;
  version: [number, number] | null;
  archs: number[];
  includeDir: string;
}

/** One NVRTC compile: the image (a cubin, or PTX text) and the kernel's lowered name, or the log of what failed. */
export interface NativeNvrtcOutput {
  ok: boolean;
  log: string;
  image: Uint8Array | null;
  ptx: boolean;
  loweredName: string;
}

type T = NativeTensorArg;
type Maybe = NativeTensorArg | null;

export interface NativeCudaMemory {
  /** Bytes of this thread's live blocks on the device (each rounded up to 512) and of its CUDA graphs' allocations. */
  allocated: number;
  /** Bytes the device's stream-ordered pool and graph pool hold from the driver (every thread's). */
  reserved: number;
  /** The high-water mark of allocated since resetPeak(). */
  peak: number;
  /** Bytes of freed blocks kept for reuse by a later allocation of the same size (inside reserved, outside allocated). */
  cached: number;
  /** Bytes the device's pool has handed out to every thread of the process, cached blocks included. */
  poolUsed: number;
}
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
  buildInfo: { cuda: boolean; cudaArchitectures?: string; napiVersion: number; maxHeadDim: number };
  backends(): string[];
  /** New memory in a new Storage, or in `spare` (a disposed Storage, returned) when given. */
  allocate(device: string, bytes: number, spare?: NativeStorage): NativeStorage;
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
  /**
   * precision (float32): 0 'high' (the default: 3xTF32 tensor cores where a kernel has them), 1 'highest' (exact).
   * lse: float32 [B, H, Nq], written with each row's log-sum-exp (natural log; -inf for a row with no allowed key), for the backward.
   * k and v may have fewer heads than q (H a multiple of theirs: grouped-query attention). rowRanges: each query row's
   * allowed keys [lo, hi) as 2·Nq int32, nondecreasing (AttentionParams' row_ranges in native/core/ops.h), or null.
   */
  attention(out: T, q: T, k: T, v: T, mask: Maybe, bias: Maybe, scale: number, causal: boolean, plan?: NativeBlockPlan | null, precision?: number,
    lse?: Maybe, rowRanges?: Int32Array | null): void;
  /**
   * A CSR mask ([maskHeads · nq + 1] row offsets, columns ascending in [0, nk)) checked in full,
   * and its CSR kernel schedule, rows split at `segment` entries (default 256), on `device`.
   */
  sparsePlan(device: string, rowOffsets: Int32Array, colIndices: Int32Array, maskHeads: number, nq: number, nk: number, segment?: number): NativeSparsePlan;
  /** The tiled kernel's plan of a layout or of a SparsePlan's mask on `device`. */
  blockPlan(device: string, source: NativeBlockPlanSource): NativeBlockPlan;
  /** CSR attention over a sparsePlan() on q's device; lse as attention()'s. */
  sparseAttention(out: T, q: T, k: T, v: T, plan: NativeSparsePlan, scale: number, lse?: Maybe): void;
  /**
   * One pre-norm encoder block without layer scale (EncoderBlock in ts/nn/layers.ts, the
   * same backend calls in one addon call): out = x + proj(attention(qkv(norm1(x)))), then
   * out += fc2(act(fc1(norm2(out)))); attention memory_efficient, or sparse over `plan`.
   */
  encoderBlock(out: T, x: T, norm1Weight: Maybe, norm1Bias: Maybe, qkvWeight: T, qkvBias: Maybe, projWeight: T, projBias: Maybe,
    norm2Weight: Maybe, norm2Bias: Maybe, fc1Weight: T, fc1Bias: Maybe, fc2Weight: T, fc2Bias: Maybe, heads: number, eps1: number, eps2: number,
    activation: number, param: number, param2: number, scale: number, plan: NativeSparsePlan | null): void;
  /**
   * The gradients of norm(out, x, weight, bias, eps, rms) from dy (NormBackwardParams in
   * native/core/ops.h): dx, and dweight = Σ_rows dy·x̂, dbias = Σ_rows dy where given (null: not wanted).
   */
  normBackward(dx: T, dweight: Maybe, dbias: Maybe, dy: T, x: T, weight: Maybe, eps: number, rms: boolean): void;
  /** The gradient of softmax(out = y, x, mask, scale) from its output y: dx = scale · y ⊙ (dy − Σ dy ⊙ y), 0 where masked. */
  softmaxBackward(dx: T, dy: T, y: T, mask: Maybe, scale: number): void;
  /** The gradients of biasActivation(out, x, bias, ...): dx = dy ⊙ act′(x + bias), and dbias = Σ_rows dx where given. */
  activationBackward(dx: T, dbias: Maybe, dy: T, x: T, bias: Maybe, activation: number, param: number, param2: number): void;
  /** out[c] = Σ_rows x[..., c] (float32 sums in two stages); x contiguous, out [C]. */
  sumRows(out: T, x: T): void;
  /**
   * DropoutCall (native/core/random_ops.h): out = x · keep · 1/(1 − p) (0 where dropped), keep
   * drawn from word offset + i / group of seed's Philox stream; p = 1 gives zeros. out may be x.
   */
  dropout(out: T, x: T, p: number, seed: number, offset: number, group: number): void;
  /** Raw Philox4x32-10 blocks: out[r] = philox(counter[r], key[r]), int32 bits, [n, 4], [n, 4], [n, 2]. */
  philox(out: T, counter: T, key: T): void;
  /**
   * One fused step of SGD (kind 0) or AdamW (kind 1) over every parameter given, one kernel
   * launch on CUDA (OptimizerStepParams in native/core/ops.h): params and grads one float dtype;
   * master and the states flat float32 buffers (which must be given depends on the kind and
   * hyper); entries [state offset, lr, weight decay, step] per parameter; hyper [momentum,
   * dampening, nesterov, beta1, beta2, eps, amsgrad].
   */
  optimizerStep(kind: number, params: T[], grads: T[], master: Maybe, state1: Maybe, state2: Maybe, state3: Maybe,
    entries: Float64Array, hyper: Float64Array): void;
  /** grads ·= invScale in place, one launch; foundInf [1] float32 set to 1 where a gradient held inf or NaN. */
  unscaleGrads(grads: T[], foundInf: T, invScale: number): void;
  /**
   * The gradients of attention(out, q, k, v, mask, bias, scale, causal, plan, precision, lse) from dout, out and lse as it
   * wrote them (AttentionBackwardParams in native/core/ops.h): dq, dk, dv, and dbias (float32 [B, H, Nq, Nk]) where given.
   */
  attentionBackward(dq: T, dk: T, dv: T, dbias: Maybe, dout: T, q: T, k: T, v: T, out: T, lse: T, mask: Maybe, bias: Maybe, scale: number,
    causal: boolean, plan?: NativeBlockPlan | null, precision?: number, rowRanges?: Int32Array | null): void;
  /** The gradients of sparseAttention(out, q, k, v, plan, scale, lse), dk and dv through the plan's transposed mask. */
  sparseAttentionBackward(dq: T, dk: T, dv: T, dout: T, q: T, k: T, v: T, out: T, lse: T, plan: NativeSparsePlan, scale: number): void;
  /**
   * The cross-entropy of logits [..., C] rows against labels (int32 or uint8, one a row), with label
   * smoothing; reduction 0 none (out [rows]), 1 mean, 2 sum (out one element), in logits' dtype;
   * lse float32 [rows] and stats int32 [2] = {rows counted, first row with a label outside [0, C) or -1}
   * (CrossEntropyParams in native/core/training_ops.h).
   */
  crossEntropy(out: T, lse: T, stats: T, logits: T, labels: T, labelSmoothing: number, ignoreIndex: number, reduction: number): void;
  /** dlogits = (softmax − smoothed one-hot) · dloss (÷ rows counted for a mean), 0 on ignored rows; lse and stats the forward's. */
  crossEntropyBackward(dlogits: T, dloss: T, logits: T, labels: T, lse: T, stats: T, labelSmoothing: number, ignoreIndex: number, reduction: number): void;
  /** The inverse of patchGather: images [B, C, H, W] from patches [B, patches, C·P·P]. */
  patchScatter(images: T, patches: T, patch: number): void;
  /** out (float32, one element) = the normType-norm (Infinity: max |x|) of every element of the tensors as one vector. */
  multiNorm(out: T, tensors: readonly T[], normType: number): void;
  /** Each tensor times min(1, maxNorm / (norm + 1e-6)) in place (NaN stays NaN); norm float32, one element. */
  multiScale(norm: T, tensors: readonly T[], maxNorm: number): void;
  /**
   * The depthwise convolution of channels-last x [B, H, W, C] by weight [C, 1, kh, kw] (+ bias [C]) into
   * out [B, Ho, Wo, C] (DepthwiseConv2dParams in native/core/mixing_ops.h).
   */
  depthwiseConv2d(out: T, x: T, weight: T, bias: Maybe, padH: number, padW: number, dilH: number, dilW: number, strideH: number, strideW: number): void;
  /** Its gradients dx and dweight where given (null: not wanted) from dy; the bias's is dy's column sum. */
  depthwiseConv2dBackward(dx: Maybe, dweight: Maybe, dy: T, x: T, weight: T, padH: number, padW: number, dilH: number, dilW: number,
    strideH: number, strideW: number): void;
  /** Average pooling of channels-last x [B, H, W, C] into out [B, Ho, Wo, C] (AvgPool2dParams). */
  avgPool2d(out: T, x: T, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number, countIncludePad: boolean): void;
  /** Its gradient dx [B, H, W, C] from dy [B, Ho, Wo, C]. */
  avgPool2dBackward(dx: T, dy: T, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
    countIncludePad: boolean): void;
  /** out[b] = Re(F_N x[b] F_E) for x [B, N, E] (FourierMixParams); also its own gradient. */
  fourierMix(out: T, x: T): void;
  synchronize(device: string): void;
  /** Bytes of the device backend's native Buffers now (storages and the addon's intermediates) and their peak; resetPeak starts the peak again from now. */
  bufferBytes(device: string, resetPeak?: boolean): { bytes: number; peak: number };
  cudaDeviceCount(): number;
  cpuNumThreads(): number;
  cpuSetNumThreads(n: number): void;
  /** The CPU GEMM kernel in use; with a name, selects it first. */
  cpuGemmKernel(name?: string): string;
  /** True when this thread's CPU queue has no work pending. */
  cpuIdle(): boolean;
  cudaMemory(device?: string): NativeCudaMemory;
  cudaResetPeak(device?: string): void;
  cudaEmptyCache(device?: string): void;
  /** The host's time inside the CUDA backend's calls by kind, 0 unless NODEFORMERS_HOST_TIMES=1; reset starts them again. */
  cudaHostTimes(device?: string, reset?: boolean): Record<'allocate' | 'free' | 'gemm' | 'kernel' | 'wait', { calls: number; us: number }>;
  cudaDeviceInfo(device?: string): NativeCudaDevice;
  cudaTimeRegion(device: string | undefined, fn: () => void): number;
  cudaCaptureBegin(device: string): void;
  cudaCaptureEnd(device: string): NativeGraph;
  cudaCaptureAbort(device: string): void;
  cudaGraphMemTrim(device: string): void;
  /** NVRTC as this process found it (loaded on first use; NODEFORMERS_NVRTC names the library to load). */
  nvrtcInfo(): NativeNvrtcInfo;
  /** Compiles CUDA C++ with NVRTC; nameExpression (the kernel, or a template instance) comes back lowered. No GPU needed. */
  nvrtcCompile(source: string, program: string, nameExpression: string, options: string[]): NativeNvrtcOutput;
  /** Loads `fn` of a cubin or PTX image on `device`; params: (kind, dtype code or -1) pairs of ParamKind (native/core/user_kernel.h). */
  loadKernel(device: string, image: Uint8Array, fn: string, params: Int32Array): NativeKernel;
  /** One launch on the kernel's device's stream; args: a Tensor for each pointer, a number or bigint for each scalar. */
  kernelLaunch(kernel: NativeKernel, gridX: number, gridY: number, gridZ: number, blockX: number, blockY: number, blockZ: number,
    sharedMem: number, args: unknown[]): void;
}

/** Where the addon is looked for, in order: a local build (cmake-js or node-gyp), then the prebuilt one the package carries. */
export function addonCandidates(root = PACKAGE_ROOT): string[] {
  return [
    path.join(root, 'build', 'Release', 'nodeformers.node'),
    path.join(root, 'build', 'Debug', 'nodeformers.node'),
    prebuiltAddon(root),
  ];
}

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const prebuiltAddon = (root: string) => path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'nodeformers.node');

/**
 * The addon from NODEFORMERS_ADDON; else, given no candidates, a local build where `bindings`
 * finds one, then the prebuilt addon; else the first of `candidates` that loads. The error
 * lists every path tried and why it failed.
 */
export function loadAddon(candidates?: readonly string[], explicit = process.env.NODEFORMERS_ADDON): NativeAddon {
  const tried: string[] = [];
  let files = explicit ? [path.resolve(explicit)] : candidates;
  if (files === undefined) {
    const local = localBuild(tried);
    if (local !== null) return local;
    files = [prebuiltAddon(PACKAGE_ROOT)];
  }
  for (const file of files) {
    if (!fs.existsSync(file)) {
      tried.push(`${file}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(file) as NativeAddon;
    } catch (e) {
      tried.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const fixes = [
    'npm rebuild nodeformers (uses the prebuilt CPU addon where one fits this platform, else builds: needs CMake and a C++17 compiler)',
    'for the CUDA backend: put nvcc and cuBLASLt on the PATH (e.g. /usr/local/cuda/bin), then npm rebuild nodeformers',
    ...(explicit ? ['unset NODEFORMERS_ADDON, or point it at an existing nodeformers.node'] : []),
  ];
  throw new Error(
    `nodeformers: could not load the native addon${explicit ? ` (NODEFORMERS_ADDON=${explicit})` : ''}. Tried:\n` +
      tried.map((f) => `  - ${f}`).join('\n') + '\nTo fix it:\n' + fixes.map((f) => `  - ${f}`).join('\n'),
  );
}

/** A local build as `bindings` looks for it (build/Release, build/Debug, ...), or null with each path it tried in `tried`. */
function localBuild(tried: string[]): NativeAddon | null {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bindings = require('bindings') as (opts: { bindings: string; module_root: string }) => NativeAddon;
  try {
    return bindings({ bindings: 'nodeformers', module_root: PACKAGE_ROOT });
  } catch (e) {
    const paths = (e as { tries?: unknown }).tries;
    if (Array.isArray(paths)) tried.push(...paths.map((p) => `${p}: not found`));
    else tried.push(`a local build: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

// ---- tensor layouts in one shared buffer ------------------------------------------------
// The addon reads a tensor argument given as an object with ~20 N-API calls (its storage,
// dtype, offset, and shape and strides element by element): about 1 us a tensor, most of an
// op's cost on the host. So the op methods below are wrapped: each tensor argument's layout
// is written into its argument slot of one Float64Array that the addon holds, and the
// argument becomes its storage, which the addon unwraps and pairs with the slot
// (ArgLayouts in native/addon/args.h). A slot: {dtype code, offset, rank, shape[8],
// strides[8], strides' rank}. What does not look like a live tensor (a disposed one, a
// forged object) goes as it is, and the addon reads and refuses it the usual way.
const ARG_SLOTS = 16;
const SLOT = 20;
const MAX_DIMS = 8;
/** DType in native/core/dtype.h. */
const DTYPE_CODES = new Map<unknown, number>([['float32', 0], ['float16', 1], ['bfloat16', 2], ['int32', 3], ['uint8', 4]]);
/** The addon methods whose positional tensor arguments are packed. */
const PACKED_METHODS = [
  'copy', 'copyPeer', 'fill', 'gemm', 'norm', 'softmax', 'biasActivation', 'binary', 'mean', 'patchGather', 'attention',
  'sparseAttention', 'encoderBlock', 'normBackward', 'softmaxBackward', 'activationBackward', 'sumRows',
  'dropout', 'philox', 'attentionBackward', 'sparseAttentionBackward',
  'crossEntropy', 'crossEntropyBackward', 'patchScatter', 'multiNorm', 'multiScale',
  'depthwiseConv2d', 'depthwiseConv2dBackward', 'avgPool2d', 'avgPool2dBackward', 'fourierMix',
] as const;

/** `a` as the addon's argument at position `slot`: its storage with its layout in the slot, or `a` itself. */
function packArg(layouts: Float64Array, a: unknown, slot: number): unknown {
  if (a === null || typeof a !== 'object') return a;
  const t = a as NativeTensorArg;
  const storage = t._storage;
  if (storage === null || typeof storage !== 'object') return a;
  const code = DTYPE_CODES.get(t.dtype);
  const { shape, strides, offset } = t;
  if (code === undefined || typeof offset !== 'number' || !Array.isArray(shape) || !Array.isArray(strides)) return a;
  const rank = shape.length;
  if (rank > MAX_DIMS || strides.length !== rank) return a;
  const base = slot * SLOT;
  for (let d = 0; d < rank; d++) {
    const size = shape[d], stride = strides[d];
    if (typeof size !== 'number' || typeof stride !== 'number') return a;
    layouts[base + 3 + d] = size;
    layouts[base + 3 + MAX_DIMS + d] = stride;
  }
  layouts[base + 1] = offset;
  layouts[base + 2] = rank;
  layouts[base + 3 + 2 * MAX_DIMS] = rank;
  layouts[base] = code; // last: the slot is complete
  return storage;
}

/** `raw` with its op methods packing their tensor arguments (the rest as they are). */
function withPackedArgs(raw: NativeAddon): NativeAddon {
  const layouts = new Float64Array(ARG_SLOTS * SLOT);
  const addon = raw as unknown as Record<string, unknown> & { setArgLayouts?(buffer: Float64Array): void };
  if (typeof addon.setArgLayouts !== 'function') return raw; // an addon built before the buffer
  addon.setArgLayouts(layouts);
  const wrapped = Object.create(raw) as Record<string, unknown>;
  for (const name of PACKED_METHODS) {
    const method = addon[name] as (...args: unknown[]) => unknown;
    const packed = function packed(...args: unknown[]): unknown {
      const n = Math.min(args.length, ARG_SLOTS);
      for (let i = 0; i < n; i++) args[i] = packArg(layouts, args[i], i);
      return method.apply(raw, args);
    };
    // (the addon's own properties are read-only: define, not assign)
    Object.defineProperty(wrapped, name, { value: packed, enumerable: true });
  }
  return wrapped as unknown as NativeAddon;
}

let cached: NativeAddon | undefined;

/** The loaded addon (loaded on first use), its op methods packing tensor layouts. @internal */
export function native(): NativeAddon {
  if (cached === undefined) cached = withPackedArgs(loadAddon());
  return cached;
}
