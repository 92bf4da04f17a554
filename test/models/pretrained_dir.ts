// A tiny timm model directory as Hugging Face lays it out (config.json + model.safetensors),
// for the tests of loadPretrained and of `nodeformers classify`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { saveSafetensors, Tensor } from '../../ts/index';

export const SMALL = { img_size: 32, depth: 1, num_classes: 4 };
export const LABELS = ['cat', 'dog', 'fish', 'bird'];

/** A timm directory as Hugging Face lays it out, with random weights of deit_tiny's shape at 32 x 32. */
export async function writePretrainedDir(opts: { weights?: Map<string, Tensor> | Record<string, Tensor>; config?: object; file?: string } = {}): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-pretrained-'));
  const config = {
    architecture: 'deit_tiny_patch16_224', num_classes: 4, num_features: 192, global_pool: 'token', label_names: LABELS,
    model_args: { img_size: 32, depth: 1 },
    pretrained_cfg: { tag: 'test', input_size: [3, 32, 32], interpolation: 'bilinear', crop_pct: 0.95, crop_mode: 'center', mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3], num_classes: 4 },
    ...opts.config,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  if (opts.weights) await saveSafetensors(path.join(dir, opts.file ?? 'model.safetensors'), opts.weights);
  return dir;
}
