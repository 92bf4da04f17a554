import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evalGeometry, imagesToTensor, PreprocessConfig, readSafetensors, entryValues } from '../ts/index';
import { checkerboard, encode, gradient, noise, RawImage } from './image_sources';
import { skipWithoutSharp } from './helpers';

const IMAGES = path.join(__dirname, 'fixtures', 'images');
const cfg = (size: number | [number, number], crop_pct: number, interpolation: PreprocessConfig['interpolation'] = 'bicubic'): PreprocessConfig => ({
  input_size: [3, ...(Array.isArray(size) ? size : [size, size])], interpolation, crop_pct, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
});

/** The eval transform's crop, scale and normalization of `img` in float64: [3, H, W], with the crop's corner given. */
function reference(img: RawImage, c: PreprocessConfig, left: number, top: number, at?: (x: number, y: number) => number): Float64Array {
  const [, H, W] = c.input_size;
  const out = new Float64Array(3 * H * W);
  for (let ch = 0; ch < 3; ch++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const pixel = at ? at(x + left, y + top) : (y + top) * img.width + x + left;
        const v = img.data[pixel * img.channels + (img.channels >= 3 ? ch : 0)];
        out[ch * H * W + y * W + x] = (v / 255 - c.mean[ch]) / c.std[ch];
      }
    }
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('images in (imagesToTensor)', () => {
  before(function () { skipWithoutSharp(this); });

  it("timm's eval geometry: shorter side to floor(size / crop_pct), the longer truncated, a center crop rounded half to even", () => {
    assert.deepEqual(evalGeometry(256, 300, cfg(224, 0.875)), { resizeWidth: 256, resizeHeight: 300, left: 16, top: 38, width: 224, height: 224 });
    assert.deepEqual(evalGeometry(500, 375, cfg(224, 0.9)), { resizeWidth: 330, resizeHeight: 248, left: 53, top: 12, width: 224, height: 224 });
    // (42 - 37) / 2 = 2.5: Python's round gives 2, as torchvision's center_crop does.
    assert.deepEqual(evalGeometry(37, 42, cfg(37, 1)), { resizeWidth: 37, resizeHeight: 42, left: 0, top: 2, width: 37, height: 37 });
    assert.deepEqual(evalGeometry(37, 44, cfg(37, 1)), { resizeWidth: 37, resizeHeight: 44, left: 0, top: 4, width: 37, height: 37 }, '3.5 rounds to 4');
    // Not square: timm's ResizeKeepRatio, the smaller of the two ratios (80 / 40 against 100 / 60), each side rounded.
    assert.deepEqual(evalGeometry(100, 80, cfg([40, 60], 1)), { resizeWidth: 60, resizeHeight: 48, left: 0, top: 4, width: 60, height: 40 });
  });

  it('where no resize happens the tensor is the float64 crop and normalization (PNG, path and Buffer, odd sizes)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-images-'));
    const cases: [RawImage, PreprocessConfig, number, number][] = [
      [gradient(256, 300), cfg(224, 0.875), 16, 38],
      [checkerboard(37, 42, 3), cfg(37, 1, 'nearest'), 0, 2],
      [noise(45, 33), cfg(33, 1, 'bilinear'), 6, 0],
    ];
    for (const [img, c, left, top] of cases) {
      const png = await encode(img, 'png');
      const file = path.join(dir, `${img.width}x${img.height}.png`);
      fs.writeFileSync(file, png);
      const t = await imagesToTensor([file, png], c);
      const [, H, W] = c.input_size;
      assert.deepEqual(t.shape, [2, 3, H, W]);
      const got = t.dataSync();
      const want = reference(img, c, left, top);
      assert.ok(maxAbsDiff(got.subarray(0, want.length), want) < 1e-6, `${img.width}x${img.height} from a path`);
      assert.ok(maxAbsDiff(got.subarray(want.length), want) < 1e-6, `${img.width}x${img.height} from a Buffer`);
      t.dispose();
    }
  });

  it('nearest doubling repeats each pixel (a checkerboard 8x8 -> 16x16)', async () => {
    const img = checkerboard(8, 8, 1);
    const c = cfg(16, 1, 'nearest');
    const t = await imagesToTensor(await encode(img, 'png'), c);
    const want = reference(img, c, 0, 0, (x, y) => Math.floor(y / 2) * 8 + Math.floor(x / 2));
    assert.ok(maxAbsDiff(t.dataSync(), want) < 1e-6);
    t.dispose();
  });

  it('grey is repeated into three channels, alpha is dropped (as PIL convert("RGB"))', async () => {
    for (const channels of [1, 4] as const) {
      const img = noise(24, 24, channels, 7);
      const c = cfg(24, 1);
      const t = await imagesToTensor(await encode(img, 'png'), c);
      assert.ok(maxAbsDiff(t.dataSync(), reference(img, c, 0, 0)) < 1e-6, `${channels} channels`);
      t.dispose();
    }
  });

  it('decodes PNG, WebP and TIFF exactly, JPEG and AVIF closely; a batch keeps its order', async () => {
    const img = gradient(40, 30);
    const c = cfg(30, 1, 'bilinear');
    const want = reference(img, c, 5, 0);
    const formats = ['png', 'webp', 'tiff', 'jpeg', 'avif'] as const;
    const t = await imagesToTensor(await Promise.all(formats.map((f) => encode(img, f))), c);
    const all = t.dataSync();
    formats.forEach((f, i) => {
      const got = all.subarray(i * want.length, (i + 1) * want.length);
      if (f === 'jpeg' || f === 'avif') {
        // A lossy codec moves pixels by a few levels (more at the blue channel's wrap from 255 to 0): the mean stays under ~3 levels of 255.
        const mean = got.reduce((s, v, j) => s + Math.abs(v - want[j]), 0) / got.length;
        assert.ok(mean < 0.05, `${f}: mean abs difference ${mean}`);
      } else {
        assert.ok(maxAbsDiff(got, want) < 1e-6, f);
      }
    });
    t.dispose();
  });

  it('resizes to the configured size with each interpolation; float16 and a device come through', async () => {
    const png = await encode(gradient(61, 47), 'png');
    for (const interpolation of ['bicubic', 'bilinear', 'nearest'] as const) {
      const t = await imagesToTensor([png], cfg(32, 0.875, interpolation), { dtype: 'float16', device: 'cpu' });
      assert.deepEqual(t.shape, [1, 3, 32, 32]);
      assert.equal(t.dtype, 'float16');
      assert.ok(Array.from(t.dataSync()).every((v) => v >= -2.2 && v <= 2.7), `${interpolation}: within the normalized range`);
      t.dispose();
    }
  });

  it("resampler 'sharp' resizes with libvips' kernels: the same shape, pixels a few levels from Pillow's when shrinking", async () => {
    const png = await encode(gradient(122, 94), 'png');
    const c = cfg(64, 0.875, 'bicubic');
    const pillow = await imagesToTensor(png, c);
    const libvips = await imagesToTensor(png, c, { resampler: 'sharp' });
    assert.deepEqual(libvips.shape, pillow.shape);
    const a = pillow.dataSync(), b = libvips.dataSync();
    const mean = a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
    assert.ok(mean < 0.05, `mean abs difference ${mean}`);
    pillow.dispose();
    libvips.dispose();
    await assert.rejects(imagesToTensor(png, c, { resampler: 'pil' as never }), /imagesToTensor: expected options.resampler to be one of 'pillow', 'sharp'/);
  });

  it('bad input says which image and why', async () => {
    const good = await encode(gradient(8, 8), 'png');
    await assert.rejects(imagesToTensor([good, Buffer.from('not an image')], cfg(8, 1)),
      /imagesToTensor: images\[1\] \(a Buffer of 12 bytes\) could not be decoded: .+/);
    await assert.rejects(imagesToTensor('/nonexistent/cat.jpg', cfg(8, 1)), /imagesToTensor: image \('\/nonexistent\/cat.jpg'\) could not be decoded/);
    await assert.rejects(imagesToTensor([3 as never], cfg(8, 1)), /imagesToTensor: expected images\[0\] to be a file path or a Buffer/);
    await assert.rejects(imagesToTensor([], cfg(8, 1)), /imagesToTensor: images is empty/);
    await assert.rejects(imagesToTensor(good, { ...cfg(8, 1), crop_pct: 0 }), /expected preprocess.crop_pct to be a number in \(0, 1\]/);
    await assert.rejects(imagesToTensor(good, { ...cfg(8, 1), interpolation: 'lanczos' as never }), /preprocess.interpolation/);
    await assert.rejects(imagesToTensor(good, { ...cfg(8, 1), std: [1, 0, 1] }), /expected preprocess.std to be 3 finite numbers above 0/);
    await assert.rejects(imagesToTensor(good, undefined as never), /expected preprocess to be a preprocessing config/);
  });

  it("matches timm's eval transform of the committed images (where tools/timm_eval_transform.py has run)", async function () {
    const file = path.join(IMAGES, 'timm_eval.safetensors');
    if (!fs.existsSync(file)) {
      console.log('      (skipping: no test/fixtures/images/timm_eval.safetensors; tools/timm_eval_transform.py makes it where timm is installed)');
      this.skip();
    }
    const configs = JSON.parse(fs.readFileSync(path.join(IMAGES, 'configs.json'), 'utf8')) as Record<string, PreprocessConfig>;
    const timm = await readSafetensors(file);
    const rows: string[] = [];
    for (const [key, entry] of timm.tensors) {
      const [image, config] = key.split('|');
      const t = await imagesToTensor(path.join(IMAGES, image), configs[config]);
      const got = t.dataSync(), want = entryValues(entry);
      t.dispose();
      let sum = 0;
      for (let i = 0; i < got.length; i++) sum += Math.abs(got[i] - want[i]);
      const max = maxAbsDiff(got, want);
      rows.push(`${key}: max ${max.toFixed(4)} mean ${(sum / got.length).toFixed(5)}`);
      // Pillow's resampling is reproduced bit for bit; a JPEG may decode a level apart (libjpeg-turbo in PIL, mozjpeg in sharp).
      if (/\.jpe?g$/.test(image)) assert.ok(sum / got.length < 0.01, `${key}: mean abs difference ${sum / got.length}`);
      else assert.ok(max < 1e-6, `${key}: max abs difference ${max}`);
    }
    console.log(`      imagesToTensor vs timm (PIL), normalized units:\n        ${rows.join('\n        ')}`);
  });
});

describe('images in without sharp', () => {
  it('says to install sharp (an optional peer dependency)', () => {
    // A child process where require('sharp') fails as it does when sharp is not installed.
    const script = `
      const Module = require('node:module');
      const load = Module._load;
      Module._load = function (request, ...rest) {
        if (request === 'sharp') throw Object.assign(new Error("Cannot find module 'sharp'"), { code: 'MODULE_NOT_FOUND' });
        return load.call(this, request, ...rest);
      };
      const { imagesToTensor } = require(${JSON.stringify(path.join(__dirname, '..', 'ts', 'index.ts'))});
      const cfg = { input_size: [3, 8, 8], interpolation: 'nearest', crop_pct: 1, mean: [0, 0, 0], std: [1, 1, 1] };
      imagesToTensor(Buffer.from('x'), cfg).then(() => process.exit(1), (e) => { console.log(e.code + ' ' + e.message); });`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    assert.match(out, /ERR_NODEFORMERS_OPTIONAL_PACKAGE nodeformers: decode and resize images needs the optional package sharp: npm install sharp/);
  });
});
