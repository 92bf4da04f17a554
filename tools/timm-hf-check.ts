// Does loadPretrained read what timm's save_for_hf writes, and do imagesToTensor and the model
// give timm's numbers? For each directory tools/timm_hf_dirs.py made: the input tensor of the
// same images (timm's eval transform) and the float32 logits against timm's float64 logits,
// relative to the largest |logit|; fails above 1e-4.
//   node --import tsx tools/timm-hf-check.ts out_dir [--device cuda:0]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { entryValues, imagesToTensor, loadPretrained, noGrad, readSafetensors } from '../ts/index';

const TOLERANCE = 1e-4;
const IMAGES = path.join(__dirname, '..', 'test', 'fixtures', 'images');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function main(): Promise<void> {
  const out = process.argv[2];
  const d = process.argv.indexOf('--device');
  const device = d > 0 ? (process.argv[d + 1] as 'cpu') : 'cpu';
  if (!out) throw new Error('usage: node --import tsx tools/timm-hf-check.ts out_dir [--device cuda:0]');
  let worst = 0;
  for (const name of fs.readdirSync(out).sort()) {
    const dir = path.join(out, name);
    const expected = await readSafetensors(path.join(dir, 'expected.safetensors'));
    const files = expected.metadata.files.split(',').map((f) => path.join(IMAGES, f));
    const { model, preprocess, labels } = await loadPretrained(dir, { device });
    const input = await imagesToTensor(files, preprocess, { device });
    const logits = noGrad(() => model.forward(input));
    const inputDiff = maxAbsDiff(input.dataSync(), entryValues(expected.tensors.get('input')!));
    const want = entryValues(expected.tensors.get('logits')!);
    const scale = Math.max(...Array.from(want, Math.abs));
    const rel = maxAbsDiff(logits.dataSync(), want) / scale;
    worst = Math.max(worst, rel);
    console.log(`${name}: input max |diff| ${inputDiff.toExponential(2)}, logits max |diff| / max |logit| ${rel.toExponential(2)}, ` +
      `${labels?.length ?? 0} labels, ${JSON.stringify(preprocess)}`);
    for (const t of [input, logits]) t.dispose();
    model.dispose();
  }
  console.log(worst <= TOLERANCE ? `ok: every model within ${TOLERANCE}` : `FAIL: ${worst.toExponential(2)} > ${TOLERANCE}`);
  if (worst > TOLERANCE) process.exitCode = 1;
}

void main();
