// Generated test images (no files needed): gradients, checkerboards, noise, as raw 8-bit
// pixels, and their encodings with sharp. tools/make-test-images.ts writes the committed set.
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** A diagonal RGB gradient: each channel a different slope. */
export function gradient(width: number, height: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((255 * x) / Math.max(1, width - 1));
      data[i + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      data[i + 2] = (x * 7 + y * 3) % 256;
    }
  }
  return { data, width, height, channels: 3 };
}

/** Black and coloured squares of `cell` pixels. */
export function checkerboard(width: number, height: number, cell: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const on = (Math.floor(x / cell) + Math.floor(y / cell)) % 2 === 1;
      data.set(on ? [250, 200, 30] : [5, 20, 90], (y * width + x) * 3);
    }
  }
  return { data, width, height, channels: 3 };
}

/** Uniform noise from a fixed linear congruential sequence. */
export function noise(width: number, height: number, channels: 1 | 3 | 4 = 3, seed = 1): RawImage {
  const data = new Uint8Array(width * height * channels);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height, channels };
}

type Format = 'png' | 'jpeg' | 'webp' | 'avif' | 'tiff';

/** The image encoded by sharp: lossless where the format allows (PNG, WebP, TIFF). */
export async function encode(img: RawImage, format: Format): Promise<Buffer> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharp = require('sharp') as typeof import('sharp');
  const s = sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: img.channels } });
  switch (format) {
    case 'png': return s.png().toBuffer();
    case 'jpeg': return s.jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
    case 'webp': return s.webp({ lossless: true }).toBuffer();
    case 'avif': return s.avif({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
    case 'tiff': return s.tiff({ compression: 'lzw' }).toBuffer();
  }
}
