// CUDA graphs: record the kernels a function enqueues once, then replay them with one
// launch. A model forward of ~100 small kernels is bound by the host's per-op cost (checks,
// allocation, launch); a replay pays that once. CapturedForward wraps a forward for one
// fixed input shape: a static input that each run() fills, a static output the graph
// rewrites, and the graph itself.
import { cudaDevice } from './cuda';
import { Device, DeviceLike, FloatDType } from './dtype';
import { invalidParameterError, rangeError } from './errors';
import { native, NativeGraph } from './native';
import { checkTensor, keep, Tensor, zeros } from './tensor';

/** An instantiated CUDA graph on one device's stream. */
export class CudaGraph {
  /** @internal Made by captureGraph(). */
  constructor(private readonly handle: NativeGraph, readonly device: Device) {}

  get disposed(): boolean {
    return this.handle.disposed;
  }
  /** Enqueues one replay on the device's stream (returns at once). */
  launch(): void {
    if (this.handle.disposed) throw new TypeError('CudaGraph.launch: the graph has been disposed');
    this.handle.launch();
  }
  dispose(): void {
    this.handle.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Runs `fn` once while the device's stream records, and returns what it returned with the
 * graph of the work it enqueued (not yet run: launch() it). Memory `fn` allocates and frees
 * belongs to the graph; tensors it returns live at the same addresses on every replay.
 * `fn` must enqueue the same work every time: no reads to the host, no synchronize, and
 * every shape-dependent plan made already (run it once before capturing).
 */
export function captureGraph<T>(device: DeviceLike, fn: () => T): { graph: CudaGraph; result: T } {
  const fname = 'captureGraph';
  const d = cudaDevice(fname, device);
  if (typeof fn !== 'function') throw invalidParameterError(fname, 'fn', 'a function', fn);
  const addon = native();
  addon.cudaCaptureBegin(d);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    addon.cudaCaptureAbort(d);
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${fname}: the captured function threw, and nothing was recorded: ${why}`, { cause: e });
  }
  return { graph: new CudaGraph(addon.cudaCaptureEnd(d), d), result };
}

export interface CaptureOptions {
  dtype: FloatDType;
  device: DeviceLike;
}

/**
 * A forward recorded for one input shape: run(x) copies x into the static input, replays
 * the graph, and returns a copy of the output (the caller owns it). Built by
 * model.capture(shape); equal to the plain forward on the same input.
 */
export class CapturedForward {
  readonly input: Tensor;
  private readonly output: Tensor;
  private readonly graph: CudaGraph;

  constructor(forward: (x: Tensor) => Tensor, shape: readonly number[], options: CaptureOptions) {
    const fn = 'capture';
    const device = cudaDevice(fn, options.device);
    const input = keep(zeros(shape, { dtype: options.dtype, device }));
    try {
      forward(input).dispose(); // plans (cuBLASLt algorithms, masks on the device) are made here, outside the graph
      const { graph, result } = captureGraph(device, () => forward(input));
      this.output = keep(result);
      this.graph = graph;
      graph.launch();
    } catch (e) {
      input.dispose();
      throw e;
    }
    this.input = input;
  }

  get shape(): readonly number[] {
    return this.input.shape;
  }

  /**
   * Replays the forward on `x` (same shape, dtype and device as the capture), or on what
   * `input` holds when x is omitted. Returns a new tensor; enqueued, not waited for.
   */
  run(x?: Tensor): Tensor {
    const fn = 'CapturedForward.run';
    if (this.graph.disposed) throw new TypeError(`${fn}: it has been disposed`);
    if (x !== undefined) {
      checkTensor(fn, 'x', x);
      if (x.dtype !== this.input.dtype || x.device !== this.input.device) {
        throw new TypeError(`${fn}: x must be ${this.input.dtype} on ${this.input.device}, got ${x.dtype} on ${x.device}`);
      }
      if (x.shape.length !== this.input.rank || x.shape.some((s, i) => s !== this.input.shape[i])) {
        throw rangeError(fn, `x must have the captured shape [${this.input.shape.join(', ')}], got [${x.shape.join(', ')}]`);
      }
      if (x !== this.input) native().copy(this.input, x);
    }
    this.graph.launch();
    return this.output.clone();
  }

  /**
   * Frees the graph, its memory and the static tensors. Waits for the device: the driver
   * keeps graph memory mapped until it is trimmed, which it can only be once the frees ran.
   */
  dispose(): void {
    if (this.graph.disposed) return;
    this.graph.dispose();
    this.output.dispose();
    this.input.dispose();
    native().cudaGraphMemTrim(this.graph.device);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
