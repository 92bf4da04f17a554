// Images in: decode (sharp), resize the shorter side to size / crop_pct (as Pillow resamples),
// center-crop, scale to [0, 1] and normalize by mean and std: timm's eval transform
// (transforms_imagenet_eval), batched into one float tensor [B, 3, H, W].
import { requireOptional } from '../bench/optional';
import type { DeviceLike, FloatDType } from '../dtype';
import { checkInteger, checkOneOf, invalidParameterError, operationError, rangeError } from '../errors';
import { tensorAs, Tensor } from '../tensor';
import { resizeLikePillow } from './resample';

export type Interpolation = 'bicubic' | 'bilinear' | 'nearest';
export const INTERPOLATIONS: readonly Interpolation[] = ['bicubic', 'bilinear', 'nearest'];

/** timm's pretrained_cfg keys for the eval transform. */
export interface PreprocessConfig {
  /** [channels (3), height, width]. */
  input_size: readonly number[];
  interpolation: Interpolation;
  /** The center crop's share of the resized image: the shorter side is resized to floor(size / crop_pct). */
  crop_pct: number;
  mean: readonly number[];
  std: readonly number[];
}

/** A path to an image file, or its encoded bytes (JPEG, PNG, WebP, AVIF, TIFF, or anything sharp decodes). */
export type ImageInput = string | Uint8Array;

/** Decoded 8-bit RGB pixels, row-major, interleaved. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Where the resize lands and which window the crop takes (torchvision's Resize(int) and CenterCrop). */
export interface EvalGeometry {
  resizeWidth: number;
  resizeHeight: number;
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A checked copy of a preprocessing configuration. */
export function checkPreprocess(fn: string, cfg: unknown): PreprocessConfig {
  if (cfg === null || typeof cfg !== 'object') throw invalidParameterError(fn, 'preprocess', 'a preprocessing config (input_size, interpolation, crop_pct, mean, std)', cfg);
  const c = cfg as Record<string, unknown>;
  const size = c.input_size;
  if (!Array.isArray(size) || size.length !== 3 || size[0] !== 3 || !size.every((d) => Number.isInteger(d) && d > 0)) {
    throw invalidParameterError(fn, 'preprocess.input_size', '[3, height, width] (positive integers)', size);
  }
  const interpolation = checkOneOf(fn, 'preprocess.interpolation', c.interpolation, INTERPOLATIONS);
  const cropPct = c.crop_pct;
  if (typeof cropPct !== 'number' || !(cropPct > 0 && cropPct <= 1)) throw invalidParameterError(fn, 'preprocess.crop_pct', 'a number in (0, 1]', cropPct);
  const triple = (name: 'mean' | 'std') => {
    const v = c[name];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (name === 'mean' || x > 0))) {
      throw invalidParameterError(fn, `preprocess.${name}`, `3 finite numbers${name === 'std' ? ' above 0' : ''}`, v);
    }
    return v.slice() as number[];
  };
  return { input_size: size.slice(), interpolation, crop_pct: cropPct, mean: triple('mean'), std: triple('std') };
}

/** Python's round(): halves go to the even neighbour (torchvision's center_crop uses it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** timm's eval geometry for a width x height image: Resize(floor(size / crop_pct)) on the shorter side (ResizeKeepRatio when not square), CenterCrop(size). */
export function evalGeometry(width: number, height: number, cfg: PreprocessConfig): EvalGeometry {
  const [, H, W] = cfg.input_size;
  let rw: number, rh: number;
  if (H === W) {
    const scale = Math.floor(H / cfg.crop_pct);
    // torchvision: the longer side is int(scale * long / short), truncated.
    if (width <= height) { rw = scale; rh = Math.trunc((scale * height) / width); } else { rh = scale; rw = Math.trunc((scale * width) / height); }
  } else {
    // timm's ResizeKeepRatio: the smaller ratio to floor(size / crop_pct), sides rounded half to even.
    const ratio = Math.min(height / Math.floor(H / cfg.crop_pct), width / Math.floor(W / cfg.crop_pct));
    rh = roundHalfEven(height / ratio);
    rw = roundHalfEven(width / ratio);
  }
  return { resizeWidth: rw, resizeHeight: rh, left: roundHalfEven((rw - W) / 2), top: roundHalfEven((rh - H) / 2), width: W, height: H };
}

type SharpModule = typeof import('sharp');
let sharpModule: SharpModule | null = null;
function sharp(): SharpModule {
  sharpModule ??= requireOptional<SharpModule>('sharp', ['sharp'], 'decode and resize images');
  return sharpModule;
}

/**
 * Decodes an image (path or bytes) into 8-bit RGB: alpha dropped, grey repeated, as PIL's
 * convert('RGB'); EXIF orientation is not applied (PIL does not). An image of more than
 * `maxPixels` pixels (sharp's limitInputPixels, default 0x3FFF squared) is refused before it is decoded.
 */
export async function decodeImage(input: ImageInput, fn = 'decodeImage', name = 'image', maxPixels?: number): Promise<RgbImage> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) throw invalidParameterError(fn, name, 'a file path or a Buffer of encoded image bytes', input);
  const s = sharp();
  try {
    const { data, info } = await s(input, { failOn: 'error', ...(maxPixels === undefined ? {} : { limitInputPixels: maxPixels }) }).toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { data: toRgb(data, info.channels, info.width * info.height), width: info.width, height: info.height };
  } catch (e) {
    const what = typeof input === 'string' ? `'${input}'` : `a Buffer of ${input.length} bytes`;
    throw operationError(fn, `${name} (${what}) could not be decoded: ${(e as Error).message}`, e);
  }
}

function toRgb(data: Uint8Array, channels: number, pixels: number): Uint8Array {
  if (channels === 3) return data;
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = data[i * channels + (channels >= 3 ? c : 0)];
  }
  return out;
}

/**
 * @internal Resizes 8-bit RGB pixels as timm's eval transform does on PIL images: bilinear and
 * bicubic with Pillow's resampling (resample.ts), nearest with sharp (the same pixels as
 * Pillow's); the same size is returned as it is.
 */
export async function resizeRgb(img: RgbImage, width: number, height: number, interpolation: Interpolation, resampler: Resampler = 'pillow'): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  if (interpolation !== 'nearest' && resampler === 'pillow') return resizeLikePillow(img, width, height, interpolation);
  const raw = { width: img.width, height: img.height, channels: 3 as const };
  const data = await sharp()(img.data, { raw }).resize(width, height, { kernel: SHARP_KERNELS[interpolation], fit: 'fill', fastShrinkOnLoad: false }).raw().toBuffer();
  return { data, width, height };
}

/** @internal The crop of resized pixels, scaled to [0, 1] and normalized, written as planes [3, H, W] at `out` (float32 arithmetic, as torchvision's ToTensor and Normalize). */
export function normalizeInto(img: RgbImage, g: EvalGeometry, cfg: PreprocessConfig, out: Float32Array, at = 0): void {
  const plane = g.width * g.height;
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(cfg.mean[c]), std = Math.fround(cfg.std[c]);
    for (let y = 0; y < g.height; y++) {
      const row = ((y + g.top) * img.width + g.left) * 3 + c;
      for (let x = 0; x < g.width; x++) {
        out[at + c * plane + y * g.width + x] = Math.fround(Math.fround(img.data[row + x * 3] / 255) - mean) / std;
      }
    }
  }
}

/** Who resizes: 'pillow' (the same pixels as timm's PIL transform; JS on the calling thread, about 30 ms a megapixel) or 'sharp' (libvips kernels in libuv's thread pool: faster, off the event loop, pixels a few levels apart). */
export type Resampler = 'pillow' | 'sharp';
const SHARP_KERNELS = { bicubic: 'cubic', bilinear: 'linear', nearest: 'nearest' } as const;

export interface ImagesToTensorOptions {
  device?: DeviceLike;
  dtype?: FloatDType;
  /** 'pillow' (default) or 'sharp': see Resampler. */
  resampler?: Resampler;
}

/**
 * timm's eval transform of each image (a path or encoded bytes), batched: float32 (or `dtype`)
 * [B, 3, H, W] on `device`. Needs the optional package sharp. A file that does not decode
 * throws an Error naming its index and sharp's reason.
 */
export async function imagesToTensor(images: ImageInput | readonly ImageInput[], preprocess: PreprocessConfig, opts: ImagesToTensorOptions = {}): Promise<Tensor> {
  const fn = 'imagesToTensor';
  const list = Array.isArray(images) ? (images as readonly ImageInput[]) : [images as ImageInput];
  if (list.length === 0) throw rangeError(fn, 'images is empty');
  const cfg = checkPreprocess(fn, preprocess);
  const resampler = checkOneOf(fn, 'options.resampler', opts.resampler ?? 'pillow', ['pillow', 'sharp'] as const);
  const [, H, W] = cfg.input_size;
  const out = new Float32Array(list.length * 3 * H * W);
  await Promise.all(list.map((input, i) => preprocessInto(fn, Array.isArray(images) ? `images[${i}]` : 'image', input, cfg, resampler, out, i * 3 * H * W)));
  const t = tensorAs(fn, out, [list.length, 3, H, W], { device: opts.device });
  if (!opts.dtype || opts.dtype === 'float32') return t;
  try {
    return t.cast(opts.dtype);
  } finally {
    t.dispose();
  }
}

async function preprocessInto(fn: string, name: string, input: ImageInput, cfg: PreprocessConfig, resampler: Resampler, out: Float32Array, at: number, maxPixels?: number): Promise<void> {
  const img = await decodeImage(input, fn, name, maxPixels);
  const g = evalGeometry(img.width, img.height, cfg);
  const resized = await resizeRgb(img, g.resizeWidth, g.resizeHeight, cfg.interpolation, resampler);
  normalizeInto(resized, g, cfg, out, at);
}

export interface PreprocessImageOptions {
  /** 'pillow' (default) or 'sharp': see Resampler. */
  resampler?: Resampler;
  /** Refuse an image of more pixels than this before decoding it (a decompression bomb); default sharp's 0x3FFF squared. */
  maxPixels?: number;
}

/**
 * timm's eval transform of one image, as host pixels: float32 planes [3, H, W], the row
 * imagesToTensor would write for it. For callers that batch images themselves (a server
 * decoding each request as it comes, then stacking rows into one tensor).
 */
export async function preprocessImage(image: ImageInput, preprocess: PreprocessConfig, opts: PreprocessImageOptions = {}): Promise<Float32Array> {
  const fn = 'preprocessImage';
  const cfg = checkPreprocess(fn, preprocess);
  const resampler = checkOneOf(fn, 'options.resampler', opts.resampler ?? 'pillow', ['pillow', 'sharp'] as const);
  if (opts.maxPixels !== undefined) checkInteger(fn, 'options.maxPixels', opts.maxPixels, 1);
  const out = new Float32Array(3 * cfg.input_size[1] * cfg.input_size[2]);
  await preprocessInto(fn, 'image', image, cfg, resampler, out, 0, opts.maxPixels);
  return out;
}
