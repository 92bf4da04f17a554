import * as assert from 'node:assert/strict';
import { resizeLikePillow } from '../ts/image/resample';

// A 6 x 4 RGB image and what Pillow 9.4's Image.resize gives for it (printed by Pillow).
const SRC = [0, 0, 255, 47, 9, 215, 94, 36, 175, 141, 81, 135, 188, 144, 95, 235, 225, 55, 13, 31, 235, 60, 40, 195, 107, 67, 155, 154, 112, 115, 201,
  175, 75, 248, 0, 35, 26, 62, 215, 73, 71, 175, 120, 98, 135, 167, 143, 95, 214, 206, 55, 5, 31, 15, 39, 93, 195, 86, 102, 155, 133, 129, 115, 180, 174,
  75, 227, 237, 35, 18, 62, 251];
const PILLOW = {
  bilinear4x3: [22, 12, 234, 88, 41, 178, 155, 106, 120, 221, 156, 64, 38, 50, 210, 104, 79, 154, 171, 144, 96, 157, 82, 40, 53, 87, 186, 119, 116, 130,
    186, 181, 72, 92, 119, 128],
  bicubic4x3: [16, 7, 239, 82, 33, 183, 157, 106, 119, 233, 165, 63, 34, 48, 213, 100, 74, 157, 179, 155, 93, 157, 74, 31, 51, 88, 187, 117, 114, 131, 201,
    195, 60, 81, 120, 137],
  bicubic7x5: [0, 0, 255, 34, 5, 226, 76, 23, 190, 117, 55, 156, 157, 99, 122, 199, 164, 86, 236, 238, 55, 7, 20, 243, 43, 26, 212, 85, 44, 176, 126, 76,
    142, 166, 129, 108, 212, 149, 72, 255, 62, 41, 17, 47, 226, 55, 53, 195, 97, 71, 159, 138, 103, 125, 183, 159, 92, 196, 160, 52, 125, 0, 8, 29, 73,
    209, 66, 79, 178, 108, 97, 142, 149, 129, 108, 199, 185, 71, 180, 189, 51, 0, 35, 80, 38, 94, 195, 75, 100, 164, 117, 118, 128, 158, 150, 94, 208,
    206, 49, 193, 210, 72, 11, 57, 255],
};

describe("Pillow's resampling (resizeLikePillow)", () => {
  const img = { data: Uint8Array.from(SRC), width: 6, height: 4 };

  it('gives the pixels Pillow gives: shrinking (antialiased) and enlarging, bilinear and bicubic', () => {
    assert.deepEqual(Array.from(resizeLikePillow(img, 4, 3, 'bilinear').data), PILLOW.bilinear4x3);
    assert.deepEqual(Array.from(resizeLikePillow(img, 4, 3, 'bicubic').data), PILLOW.bicubic4x3);
    assert.deepEqual(Array.from(resizeLikePillow(img, 7, 5, 'bicubic').data), PILLOW.bicubic7x5);
  });

  it('a hand-worked case: bilinear 4 -> 2 averages with the widened triangle (0.75, 0.75, 0.25) / 1.75', () => {
    const row = { data: Uint8Array.from([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]), width: 4, height: 1 };
    const out = resizeLikePillow(row, 2, 1, 'bilinear').data;
    assert.equal(out[0], Math.floor((0.75 * 0 + 0.75 * 100 + 0.25 * 200) / 1.75 + 0.5));
    assert.equal(out[3], Math.floor((0.25 * 100 + 0.75 * 200 + 0.75 * 255) / 1.75 + 0.5));
  });

  it('a constant image stays constant, and one axis at a time resizes only that axis', () => {
    const flat = { data: new Uint8Array(9 * 7 * 3).fill(77), width: 9, height: 7 };
    for (const [w, h] of [[4, 3], [20, 15], [9, 3], [2, 7]]) {
      const out = resizeLikePillow(flat, w, h, 'bicubic');
      assert.equal(out.data.length, w * h * 3);
      assert.ok(out.data.every((v) => v === 77), `${w}x${h}`);
    }
  });
});
