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

/** For each output position: the first input index and its fixed-point weights. */
function coefficients(inSize: number, outSize: number, filter: Filter): { first: Int32Array; weights: Int32Array[] } {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = filter.support * filterScale;
  const first = new Int32Array(outSize);
  const weights: Int32Array[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    const w: number[] = [];
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      const v = filter.weight((i - center + 0.5) * (1 / filterScale));
      w.push(v);
      sum += v;
    }
    first[o] = lo;
    // Rounded half away from zero, as Pillow's normalize_coeffs_8bpc.
    weights.push(Int32Array.from(w, (v) => { const s = (sum !== 0 ? v / sum : v) * ONE; return s < 0 ? Math.trunc(s - 0.5) : Math.trunc(s + 0.5); }));
  }
  return { first, weights };
}

const clip8 = (acc: number) => (acc <= 0 ? 0 : acc >= 256 * ONE ? 255 : Math.floor(acc / ONE));

/** One pass along rows (horizontal) or columns: `lines` lines of `inSize` pixels at `stride` apart, each written to `outSize` pixels. */
function pass(src: Uint8Array, dst: Uint8Array, lines: number, inSize: number, outSize: number, along: 'x' | 'y', width: number, outWidth: number, filter: Filter): void {
  const { first, weights } = coefficients(inSize, outSize, filter);
  for (let line = 0; line < lines; line++) {
    for (let o = 0; o < outSize; o++) {
      const w = weights[o];
      for (let c = 0; c < 3; c++) {
        let acc = ONE / 2;
        for (let k = 0; k < w.length; k++) {
          const i = first[o] + k;
          acc += src[(along === 'x' ? line * width + i : i * width + line) * 3 + c] * w[k];
        }
        dst[(along === 'x' ? line * outWidth + o : o * outWidth + line) * 3 + c] = clip8(acc);
      }
    }
  }
}

/** Resizes with Pillow's bilinear or bicubic resampling (its 8-bit results, bit for bit by construction). */
export function resizeLikePillow(img: RgbImage, width: number, height: number, kind: 'bilinear' | 'bicubic'): RgbImage {
  const filter = kind === 'bicubic' ? BICUBIC : BILINEAR;
  let cur = img;
  if (width !== img.width) {
    const out = new Uint8Array(width * img.height * 3);
    pass(img.data, out, img.height, img.width, width, 'x', img.width, width, filter);
    cur = { data: out, width, height: img.height };
  }
  if (height !== cur.height) {
    const out = new Uint8Array(width * height * 3);
    pass(cur.data, out, width, cur.height, height, 'y', width, width, filter);
    cur = { data: out, width, height };
  }
  return cur;
}
