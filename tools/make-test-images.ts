// Writes the small generated images of test/fixtures/images (committed; run with
// `npx tsx tools/make-test-images.ts`). tools/timm_eval_transform.py computes timm's eval
// transform of the same files for the parity check in test/images.test.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkerboard, encode, gradient, noise } from '../test/image_sources';

const DIR = path.join(__dirname, '..', 'test', 'fixtures', 'images');

async function main(): Promise<void> {
  fs.mkdirSync(DIR, { recursive: true });
  const images = [
    ['gradient_61x47.png', gradient(61, 47), 'png'],
    ['checker_40x40.png', checkerboard(40, 40, 5), 'png'],
    ['noise_33x50.png', noise(33, 50), 'png'],
    ['gradient_70x52.jpg', gradient(70, 52), 'jpeg'],
    ['checker_45x39.webp', checkerboard(45, 39, 3), 'webp'],
  ] as const;
  for (const [name, img, format] of images) fs.writeFileSync(path.join(DIR, name), await encode(img, format));
}

void main();
