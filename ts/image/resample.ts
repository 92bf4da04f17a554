// Bilinear and bicubic resizing of 8-bit RGB as Pillow's Image.resize computes it (what
// torchvision's Resize, and so timm's eval transform, runs on PIL images): a separable
// convolution whose kernel widens by the scale when shrinking (antialiasing), pixel centres
// at +0.5, weights normalized over the pixels inside the image, 22-bit fixed-point weights,
// the horizontal pass first and rounded to 8 bits before the vertical one. sharp (libvips)
// resamples differently (a different grid when enlarging): tools/timm_eval_transform.py.
import type { RgbImage } from './preprocess';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

interface Filter {
  support: number;
  weight(x: number): number;
}

const BILINEAR: Filter = { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) };
// Keys' cubic convolution with a = -0.5 (Pillow's BICUBIC).
const BICUBIC: Filter = {
  support: 2,
  weight(x) {
    const a = -0.5;
    x = Math.abs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
  },
};

/** For each output position o: the first input index first[o], the tap count taps[o] and its fixed-point weights at weights[o * ksize]. */
function coefficients(inSize: number, outSize: number, filter: Filter): { first: Int32Array; taps: Int32Array; weights: Float64Array; ksize: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const taps = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - lo;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      w[k] = filter.weight((k + lo - center + 0.5) * (1 / filterScale));
      sum += w[k];
    }
    first[o] = lo;
    taps[o] = n;
    for (let k = 0; k < n; k++) {
      // Rounded half away from zero, as Pillow's normalize_coeffs_8bpc.
      const v = (sum !== 0 ? w[k] / sum : w[k]) * ONE;
      weights[o * ksize + k] = v < 0 ? Math.trunc(v - 0.5) : Math.trunc(v + 0.5);
    }
  }
  return { first, taps, weights, ksize };
}

const clip8 = (acc: number) => (acc <= 0 ? 0 : acc >= 256 * ONE ? 255 : Math.floor(acc / ONE));

/**
 * One pass over `lines` lines of `inSize` RGB pixels into `outSize` pixels each; pixel i of
 * line l is at (l * lineStep + i * step) * 3 in `src`, and o of line l at (l * outLineStep + o * outStep) * 3 in `dst`.
 */
function pass(src: Uint8Array, dst: Uint8Array, lines: number, inSize: number, outSize: number,
  step: number, lineStep: number, outStep: number, outLineStep: number, filter: Filter): void {
  const { first, taps, weights, ksize } = coefficients(inSize, outSize, filter);
  const s3 = step * 3;
  for (let line = 0; line < lines; line++) {
    for (let o = 0; o < outSize; o++) {
      let r = ONE / 2, g = ONE / 2, b = ONE / 2;
      let at = (line * lineStep + first[o] * step) * 3;
      const base = o * ksize, n = taps[o];
      for (let k = 0; k < n; k++, at += s3) {
        const wk = weights[base + k];
        r += src[at] * wk;
        g += src[at + 1] * wk;
        b += src[at + 2] * wk;
      }
      const out = (line * outLineStep + o * outStep) * 3;
      dst[out] = clip8(r);
      dst[out + 1] = clip8(g);
      dst[out + 2] = clip8(b);
    }
  }
}

/** Resizes with Pillow's bilinear or bicubic resampling (its 8-bit results, bit for bit by construction). */
export function resizeLikePillow(img: RgbImage, width: number, height: number, kind: 'bilinear' | 'bicubic'): RgbImage {
  const filter = kind === 'bicubic' ? BICUBIC : BILINEAR;
  let cur = img;
  if (width !== img.width) {
    const out = new Uint8Array(width * img.height * 3);
    pass(img.data, out, img.height, img.width, width, 1, img.width, 1, width, filter);
    cur = { data: out, width, height: img.height };
  }
  if (height !== cur.height) {
    const out = new Uint8Array(width * height * 3);
    pass(cur.data, out, width, cur.height, height, width, 1, width, 1, filter);
    cur = { data: out, width, height };
  }
  return cur;
}
