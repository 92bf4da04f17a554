// Tiny timm directories as Hugging Face lays them out (config.json + model.safetensors), for
// the tests of loadPretrained and of what loads one (the CLI, examples/server).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildViT, saveSafetensors, Tensor } from '../../ts/index';

/** deit_tiny's width at 32 x 32, one block, four classes: what writePretrainedDir's config.json describes. */
export const SMALL_DEIT = { img_size: 32, depth: 1, num_classes: 4 };
export const PRETRAINED_LABELS = ['cat', 'dog', 'fish', 'bird'];

/** A timm directory with deit_tiny's architecture at 32 x 32 (config.json, and `weights` as model.safetensors when given). */
export async function writePretrainedDir(opts: { weights?: Map<string, Tensor> | Record<string, Tensor>; config?: object; file?: string } = {}): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-pretrained-'));
  const config = {
    architecture: 'deit_tiny_patch16_224', num_classes: 4, num_features: 192, global_pool: 'token', label_names: PRETRAINED_LABELS,
    model_args: { img_size: 32, depth: 1 },
    pretrained_cfg: { tag: 'test', input_size: [3, 32, 32], interpolation: 'bilinear', crop_pct: 0.95, crop_mode: 'center', mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3], num_classes: 4 },
    ...opts.config,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  if (opts.weights) await saveSafetensors(path.join(dir, opts.file ?? 'model.safetensors'), opts.weights);
  return dir;
}

/** A complete tiny directory with random weights from `seed`. */
export async function tinyPretrainedDir(seed = 11): Promise<string> {
  const source = buildViT({ embed_dim: 192, num_heads: 3, ...SMALL_DEIT }, { seed });
  try {
    return await writePretrainedDir({ weights: source.parameters() });
  } finally {
    source.dispose();
  }
}
