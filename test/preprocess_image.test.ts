// preprocessImage: one image's row of imagesToTensor, for callers that batch rows themselves
// (examples/server), and its pixel limit.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { imagesToTensor, PreprocessConfig, preprocessImage } from '../ts/index';
import { encode, noise } from './image_sources';
import { skipWithoutSharp } from './helpers';

const IMAGES = path.join(__dirname, 'fixtures', 'images');
const CFG: PreprocessConfig = { input_size: [3, 24, 24], interpolation: 'bicubic', crop_pct: 0.875, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

describe('preprocessImage', () => {
  before(function () { skipWithoutSharp(this); });

  for (const resampler of ['pillow', 'sharp'] as const) {
    it(`gives each image the row imagesToTensor gives it (resampler ${resampler})`, async () => {
      const files = ['gradient_61x47.png', 'gradient_70x52.jpg', 'checker_45x39.webp'].map((f) => path.join(IMAGES, f));
      const batch = await imagesToTensor(files, CFG, { resampler });
      const all = batch.dataSync();
      batch.dispose();
      const plane = 3 * 24 * 24;
      for (const [i, file] of files.entries()) {
        const row = await preprocessImage(i === 1 ? fs.readFileSync(file) : file, CFG, { resampler });
        assert.ok(row instanceof Float32Array);
        assert.equal(row.length, plane);
        assert.deepEqual(row, all.subarray(i * plane, (i + 1) * plane), file);
      }
    });
  }

  it('refuses an image over maxPixels before decoding it, and bad options', async () => {
    const png = await encode(noise(40, 30), 'png');
    assert.equal((await preprocessImage(png, CFG, { maxPixels: 1200 })).length, 3 * 24 * 24);
    await assert.rejects(preprocessImage(png, CFG, { maxPixels: 1199 }), /preprocessImage: image \(a Buffer of \d+ bytes\) could not be decoded: .*pixel limit/);
    await assert.rejects(preprocessImage(Buffer.from('not an image'), CFG), /preprocessImage: image \(a Buffer of 12 bytes\) could not be decoded/);
    await assert.rejects(preprocessImage(png, CFG, { maxPixels: 0 }), /preprocessImage: options.maxPixels must be at least 1, got 0/);
    await assert.rejects(preprocessImage(png, CFG, { resampler: 'lanczos' as never }), /preprocessImage: expected options.resampler/);
    await assert.rejects(preprocessImage(png, { ...CFG, crop_pct: 2 }), /preprocessImage: expected preprocess.crop_pct/);
  });
});
