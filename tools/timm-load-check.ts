// Does timm load what saveCheckpoint writes? Trains a small ViT a few AdamW steps on the
// device given, saves a checkpoint, and runs tools/timm_load_check.py: timm builds the same
// VisionTransformer, loads model.safetensors with load_checkpoint(strict=True), and its
// float64 logits on the same input are compared with ours. Needs python3 with torch + timm.
//   node --import tsx tools/timm-load-check.ts [--device cuda:0]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdamW, buildViT, crossEntropy, Device, noGrad, randn, saveCheckpoint, saveSafetensors, tensor, tidy, ViTConfig } from '../ts/index';

// timm's keywords, but norm_eps (timm's default LayerNorm eps is 1e-6).
const CONFIG: ViTConfig = {
  img_size: 32, patch_size: 8, in_chans: 3, num_classes: 7, embed_dim: 48, depth: 2, num_heads: 4, mlp_ratio: 2,
  qkv_bias: true, attention: { mechanism: 'memory_efficient' },
};
const TOLERANCE = 1e-4;

async function main(): Promise<void> {
  const i = process.argv.indexOf('--device');
  const device = (i >= 0 ? process.argv[i + 1] : 'cpu') as Device;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-timm-load-'));
  const model = buildViT(CONFIG, { device, seed: 3 });
  model.train();
  const opt = new AdamW(model.namedParameters(), { lr: 1e-2, weightDecay: 0.05 });
  const labels = tensor(new Int32Array([0, 3, 6, 1]), [4], { dtype: 'int32', device });
  for (let step = 0; step < 3; step++) {
    tidy(() => crossEntropy(model.forward(randn([4, 3, 32, 32], { device, seed: 10 + step })), labels).backward());
    opt.step();
    opt.zeroGrad();
  }
  model.eval();
  await saveCheckpoint(dir, { model, optimizer: opt, step: 3 });
  const input = randn([2, 3, 32, 32], { seed: 99 });
  const logits = noGrad(() => tidy(() => model.forward(input.to(device)).to('cpu')));
  await saveSafetensors(path.join(dir, 'io.safetensors'), { input, logits });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(CONFIG));
  let out: string;
  try {
    out = execFileSync('python3', [path.join(__dirname, 'timm_load_check.py'), dir], { encoding: 'utf8' });
  } finally {
    for (const t of [input, logits, labels]) t.dispose();
    model.dispose();
    opt.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(out);
  const err = Number(/max relative error ([0-9.eE+-]+)/.exec(out)?.[1]);
  if (!(err <= TOLERANCE)) throw new Error(`timm-load-check: timm's logits differ from ours by ${err} (> ${TOLERANCE})`);
  console.log(`timm-load-check: ok on ${device} (≤ ${TOLERANCE})`);
}

main().catch((e) => { console.error(e); process.exit(1); });
