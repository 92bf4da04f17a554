// Data parallelism in one process: a replica of the model on each device, a batch split
// across them, the outputs gathered on the first. Each device has its own stream, so the
// replicas' forwards run at the same time: every chunk's forward is enqueued before any
// output is gathered (a gather waits for its device).
import { checkDevice, Device, DeviceLike, FloatDType } from '../dtype';
import { invalidParameterError, rangeError } from '../errors';
import { BlockSparseLayout, SparseMask } from '../attention';
import type { AttentionConfig } from '../nn/layers';
import { concat, slice } from '../ops';
import type { CapturedForward } from '../graph';
import { checkTensor, isTensor, Tensor, tidy } from '../tensor';
import { buildViT, VisionTransformer } from './vit';

/** The attention configuration with its mask or layout on `device` (new objects where moved; `made` collects them). */
function attentionOn(cfg: AttentionConfig, device: Device, made: { dispose(): void }[]): AttentionConfig {
  const out: AttentionConfig = { ...cfg };
  const { mask, layout } = cfg;
  if (mask instanceof SparseMask && mask.device !== device) {
    const dense = mask.toDense();
    out.mask = SparseMask.fromDense(dense, { device });
    dense.dispose();
    made.push(out.mask as SparseMask);
  } else if (isTensor(mask) && mask.device !== device) {
    out.mask = mask.to(device);
    made.push(out.mask as Tensor);
  }
  if (layout instanceof BlockSparseLayout && layout.device !== device) {
    const dense = layout.toDense();
    out.layout = BlockSparseLayout.fromDense(dense, layout.blockSize, { device });
    dense.dispose();
    made.push(out.layout as BlockSparseLayout);
  }
  return out;
}

/** Batch slices of `sizes` images, each moved to its device (a view where it is there already). */
function scatter(images: Tensor, sizes: readonly number[], devices: readonly Device[]): Tensor[] {
  let start = 0;
  return sizes.map((n, i) => {
    const chunk = slice(images, 0, start, start + n);
    start += n;
    return chunk.to(devices[i]);
  });
}

/** The sizes of n nearly equal chunks of `total` (the first total % n one larger). */
export function chunkSizes(total: number, n: number): number[] {
  const parts = Math.min(n, total);
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * A VisionTransformer replicated on several devices. forward(images) splits the batch
 * into one chunk per device (as even as possible), runs each on its replica, and returns
 * the logits on the first device, in batch order. The first replica is the model itself
 * when it lives on the first device; the others are copies of its weights and attention
 * configuration, which dispose() frees (the model is left to its owner).
 */
export class DataParallel {
  readonly devices: readonly Device[];
  private readonly replicas: VisionTransformer[];
  private readonly owned: { dispose(): void }[] = [];
  /** Captures made by capture(): their graphs read the replicas' weights, so they go first. */
  private readonly captures: CapturedDataParallel[] = [];

  constructor(readonly model: VisionTransformer, devices: readonly DeviceLike[]) {
    const fn = 'dataParallel';
    if (!(model instanceof VisionTransformer)) throw invalidParameterError(fn, 'model', 'a VisionTransformer', model);
    if (!Array.isArray(devices) || devices.length === 0) throw invalidParameterError(fn, 'devices', 'a non-empty array of devices', devices);
    this.devices = devices.map((d, i) => checkDevice(fn, d, `devices[${i}]`));
    const params = model.parameters();
    const like = params.get('pos_embed') as Tensor;
    const dtype = like.dtype as FloatDType;
    this.replicas = [];
    try {
      for (const device of this.devices) {
        if (device === like.device && !this.replicas.includes(model)) {
          this.replicas.push(model);
          continue;
        }
        const attention = attentionOn(model.config.attention, device, this.owned);
        const replica = buildViT({ ...model.config, attention }, { device, dtype });
        this.owned.push(replica);
        replica.loadStateDict(params);
        this.replicas.push(replica);
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** images [B, C, H, W] on any device -> logits [B, classes] on devices[0]. */
  forward(images: Tensor): Tensor {
    const fn = 'DataParallel.forward';
    checkTensor(fn, 'images', images);
    if (images.rank !== 4) throw rangeError(fn, `images must be [B, C, H, W], got [${images.shape.join(', ')}]`);
    const sizes = chunkSizes(images.shape[0], this.devices.length);
    return tidy(() => {
      // Every chunk is copied out before any replica runs: a copy from the images' device
      // waits for the work queued there, so copying after replica 0's forward was enqueued
      // would hold every other GPU back until that forward ends.
      const chunks = scatter(images, sizes, this.devices);
      const outputs = chunks.map((chunk, i) => this.replicas[i].forward(chunk));
      // Every forward is enqueued; now gather (each copy waits for its own device only).
      return concat(outputs.map((o) => o.to(this.devices[0])), 0);
    });
  }

  /**
   * The forward recorded as one CUDA graph per replica, for images of `shape` [B, C, H, W]
   * (each replica's chunk of B captured at its size): with graphs, one thread's host cost
   * per replica is a copy and a launch, so the replicas' GPUs are not left waiting for the
   * host to enqueue a forward of ~50 kernels for each. Every device must be a GPU. The
   * capture reads the replicas' weights: dispose() of this DataParallel disposes it too.
   */
  capture(shape: readonly number[]): CapturedDataParallel {
    const fn = 'DataParallel.capture';
    const notGpu = this.devices.find((d) => d === 'cpu');
    if (notGpu !== undefined) throw new TypeError(`${fn}: every device must be a CUDA device to capture a graph; ${notGpu} is not`);
    if (!Array.isArray(shape) || shape.length !== 4 || !Number.isInteger(shape[0]) || shape[0] < 1) {
      throw rangeError(fn, `shape must be [B, C, H, W] with B >= 1, got ${JSON.stringify(shape)}`);
    }
    const sizes = chunkSizes(shape[0], this.devices.length);
    const captured: CapturedForward[] = [];
    try {
      sizes.forEach((n, i) => captured.push(this.replicas[i].capture([n, shape[1], shape[2], shape[3]])));
    } catch (e) {
      for (const c of captured) c.dispose();
      throw e;
    }
    const c = new CapturedDataParallel(captured, this.devices.slice(0, sizes.length), shape);
    this.captures.push(c);
    return c;
  }

  /** Frees the captures, replicas and masks this made; the model itself stays. */
  dispose(): void {
    for (const c of this.captures.splice(0)) c.dispose();
    for (const o of this.owned.splice(0)) o.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * DataParallel.capture's result: run(images) copies each chunk to its replica's device,
 * replays every replica's graph (all enqueued before any gather) and returns the logits
 * on the first device, in batch order.
 */
export class CapturedDataParallel {
  /** @internal Made by DataParallel.capture(). */
  constructor(private readonly captured: CapturedForward[], readonly devices: readonly Device[], readonly shape: readonly number[]) {}

  get disposed(): boolean {
    return this.captured.length === 0;
  }

  run(images: Tensor): Tensor {
    const fn = 'CapturedDataParallel.run';
    if (this.disposed) throw new TypeError(`${fn}: it has been disposed (or its DataParallel was)`);
    checkTensor(fn, 'images', images);
    if (images.rank !== 4 || images.shape.some((s, i) => s !== this.shape[i])) {
      throw rangeError(fn, `images must have the captured shape [${this.shape.join(', ')}], got [${images.shape.join(', ')}]`);
    }
    return tidy(() => {
      // All chunks copied out first, then every replay enqueued, then the gather (as in forward).
      const chunks = scatter(images, this.captured.map((c) => c.shape[0]), this.devices);
      const outputs = chunks.map((chunk, i) => {
        const c = this.captured[i];
        return c.run(chunk.dtype === c.input.dtype ? chunk : chunk.cast(c.input.dtype));
      });
      return concat(outputs.map((o) => o.to(this.devices[0])), 0);
    });
  }

  dispose(): void {
    for (const c of this.captured.splice(0)) c.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Replicas of `model` on `devices` (e.g. ['cuda:0', 'cuda:1']); see DataParallel. */
export function dataParallel(model: VisionTransformer, devices: readonly DeviceLike[]): DataParallel {
  return new DataParallel(model, devices);
}
