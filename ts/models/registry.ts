// Models by name: timm's registered ViT and DeiT configurations (timm's vision_transformer.py
// and deit.py register them), each with the eval preprocessing of its default weights.
import type { FloatDType, DeviceLike } from '../dtype';
import { invalidParameterError } from '../errors';
import type { AttentionConfig } from '../nn/layers';
import type { PreprocessConfig } from '../image/preprocess';
import { buildViT, ViTConfig, VisionTransformer } from './vit';

/** A registered model: its ViT configuration and the eval preprocessing its weights expect. */
export interface ModelEntry {
  name: string;
  config: ViTConfig;
  preprocess: PreprocessConfig;
}

const INCEPTION = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const SIZES = {
  tiny: { embed_dim: 192, depth: 12, num_heads: 3 },
  small: { embed_dim: 384, depth: 12, num_heads: 6 },
  base: { embed_dim: 768, depth: 12, num_heads: 12 },
  large: { embed_dim: 1024, depth: 24, num_heads: 16 },
  huge: { embed_dim: 1280, depth: 32, num_heads: 16 },
} as const;

const entries = new Map<string, ModelEntry>();

function register(name: string, config: ViTConfig, norm: { mean: number[]; std: number[] }, cropPct: number): void {
  const size = config.img_size ?? 224;
  entries.set(name, { name, config, preprocess: { input_size: [3, size, size], interpolation: 'bicubic', crop_pct: cropPct, ...norm } });
}

// timm's vit_<size>_patch<p>_<img>: augreg weights, Inception mean/std, crop_pct 0.9 at 224 and 1.0 at 384.
const VIT: [keyof typeof SIZES, number, number][] = [
  ['tiny', 16, 224], ['tiny', 16, 384],
  ['small', 32, 224], ['small', 32, 384], ['small', 16, 224], ['small', 16, 384], ['small', 8, 224],
  ['base', 32, 224], ['base', 32, 384], ['base', 16, 224], ['base', 16, 384], ['base', 8, 224],
  ['large', 32, 224], ['large', 32, 384], ['large', 16, 224], ['large', 16, 384], ['large', 14, 224],
  ['huge', 14, 224],
];
for (const [size, patch, img] of VIT) {
  register(`vit_${size}_patch${patch}_${img}`, { ...SIZES[size], patch_size: patch, img_size: img }, INCEPTION, img === 384 ? 1 : 0.9);
}
// timm's deit_<size>[_distilled]_patch16_<img>: ImageNet mean/std, crop_pct 0.875 at 224 and 1.0 at 384.
const DEIT: [keyof typeof SIZES, number][] = [['tiny', 224], ['small', 224], ['base', 224], ['base', 384]];
for (const [size, img] of DEIT) {
  for (const distilled of [false, true]) {
    register(`deit_${size}${distilled ? '_distilled' : ''}_patch16_${img}`, { ...SIZES[size], patch_size: 16, img_size: img, distilled },
      IMAGENET, img === 384 ? 1 : 0.875);
  }
}
// The xFormers ViT notebook's model (ts/bench/suite/vit.ts times it): its LayerNorm is
// PyTorch's default, eps 1e-5, not timm's 1e-6; no weights are published, so timm's defaults preprocess.
register('xformers_notebook_vit', {
  img_size: 224, patch_size: 16, embed_dim: 96, depth: 8, num_heads: 8, mlp_ratio: 3, qkv_bias: false, num_classes: 1000, norm_eps: 1e-5,
}, IMAGENET, 0.875);

/** The names createModel takes, sorted; `filter` keeps those containing it (a substring, or a RegExp). */
export function listModels(filter?: string | RegExp): string[] {
  if (filter !== undefined && typeof filter !== 'string' && !(filter instanceof RegExp)) {
    throw invalidParameterError('listModels', 'filter', 'a string or RegExp', filter);
  }
  const names = [...entries.keys()].sort();
  return filter === undefined ? names : names.filter((n) => (typeof filter === 'string' ? n.includes(filter) : filter.test(n)));
}

/** @internal The registered entry for `name` (a timm tag after a dot, as in 'vit_base_patch16_224.augreg_in1k', is ignored), or an Error naming near ones. */
export function modelEntry(fn: string, name: unknown): ModelEntry {
  if (typeof name !== 'string') throw invalidParameterError(fn, 'name', 'a model name (see listModels())', name);
  const entry = entries.get(name.split('.')[0]);
  if (entry) return { ...entry, config: { ...entry.config }, preprocess: { ...entry.preprocess } };
  const stem = name.split('_').slice(0, 2).join('_');
  const near = listModels().filter((n) => n.startsWith(stem)).slice(0, 8);
  throw new RangeError(`${fn}: unknown model '${name}'${near.length ? `; did you mean ${near.join(', ')}?` : ''} (listModels() lists all ${entries.size})`);
}

export interface CreateModelOptions {
  /** A timm model directory as Hugging Face lays it out (config.json + model.safetensors): see loadPretrained. */
  pretrained?: string;
  device?: DeviceLike;
  dtype?: FloatDType;
  /** The attention of every block (mechanism by registry name); memory_efficient by default. */
  attention?: AttentionConfig;
  /** Overrides of the registered configuration (e.g. num_classes). */
  config?: ViTConfig;
  /** The seed of the random weights when there is no `pretrained`. */
  seed?: number;
}

/**
 * A registered model by name (listModels()): random (seeded) weights, or the weights of the
 * `pretrained` directory, whose config.json must name the same architecture. The model's
 * `preprocess` is the eval preprocessing its weights expect (the directory's, or timm's default).
 */
export async function createModel(name: string, opts: CreateModelOptions = {}): Promise<VisionTransformer> {
  const fn = 'createModel';
  const entry = modelEntry(fn, name);
  if (opts === null || typeof opts !== 'object') throw invalidParameterError(fn, 'options', 'an object', opts);
  if (opts.pretrained !== undefined) {
    if (typeof opts.pretrained !== 'string') throw invalidParameterError(fn, 'options.pretrained', 'a directory path', opts.pretrained);
    const { loadPretrained } = await import('./pretrained');
    const { model } = await loadPretrained(opts.pretrained, { ...opts, expectArchitecture: entry.name });
    return model;
  }
  const config = { ...entry.config, ...(opts.config ?? {}), ...(opts.attention ? { attention: opts.attention } : {}) };
  const model = buildViT(config, { device: opts.device, dtype: opts.dtype, seed: opts.seed });
  model.preprocess = entry.preprocess;
  return model;
}
