// Pretrained directories: a timm model as Hugging Face lays it out (config.json with the
// architecture, num_classes, label_names and pretrained_cfg; model.safetensors).
import * as fs from 'fs';
import * as path from 'path';
import type { DeviceLike, FloatDType } from '../dtype';
import { invalidParameterError, operationError } from '../errors';
import { checkPreprocess, PreprocessConfig } from '../image/preprocess';
import type { AttentionConfig } from '../nn/layers';
import { modelEntry } from './registry';
import { loadViTAs, ViTConfig, VisionTransformer } from './vit';

export interface LoadPretrainedOptions {
  device?: DeviceLike;
  dtype?: FloatDType;
  /** The attention of every block (mechanism by registry name); memory_efficient by default. */
  attention?: AttentionConfig;
}

export interface Pretrained {
  model: VisionTransformer;
  /** The eval preprocessing of the weights (config.json's pretrained_cfg over timm's default for the architecture). */
  preprocess: PreprocessConfig;
  /** The class names by index (config.json's label_names), or null where the directory has none. */
  labels: string[] | null;
  /** config.json's architecture (a name listModels() lists). */
  architecture: string;
}

/** The ViT keys a config.json's model_args may set. */
const MODEL_ARGS = ['img_size', 'patch_size', 'in_chans', 'num_classes', 'embed_dim', 'depth', 'num_heads', 'mlp_ratio', 'qkv_bias',
  'class_token', 'global_pool', 'init_values', 'norm_eps'] as const;

const CONVERT = "python -c \"import torch; from safetensors.torch import save_file; " +
  "save_file(torch.load('pytorch_model.bin', map_location='cpu'), 'model.safetensors')\"";

/**
 * Loads a timm model directory (config.json + model.safetensors, as timm's push_to_hf_hub
 * and save_for_hf write it). The model's `preprocess` and `labels` are set too. A
 * pytorch_model.bin alone is refused: pickles are not loaded (convert it to safetensors).
 */
export async function loadPretrained(dir: string, opts: LoadPretrainedOptions & { expectArchitecture?: string } = {}): Promise<Pretrained> {
  const fn = opts.expectArchitecture ? 'createModel' : 'loadPretrained';
  if (typeof dir !== 'string' || dir === '') throw invalidParameterError(fn, 'dir', 'a directory path', dir);
  const files = await fs.promises.readdir(dir).catch((e: Error) => { throw operationError(fn, `cannot read the directory '${dir}': ${e.message}`, e); });
  if (!files.includes('config.json')) {
    throw operationError(fn, `'${dir}' has no config.json: a timm model directory as Hugging Face lays it out holds config.json and model.safetensors`);
  }
  if (!files.includes('model.safetensors')) {
    const pickles = files.filter((f) => /\.(bin|pth|pt|ckpt)$/.test(f));
    throw operationError(fn, pickles.length
      ? `'${dir}' has ${pickles.join(', ')} but no model.safetensors: pickles are not loaded (they can run code); convert to safetensors, e.g. ${CONVERT}`
      : `'${dir}' has no model.safetensors`);
  }
  const configFile = path.join(dir, 'config.json');
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await fs.promises.readFile(configFile, 'utf8'));
  } catch (e) {
    throw operationError(fn, `cannot read ${configFile}: ${(e as Error).message}`, e);
  }
  if (json === null || typeof json !== 'object') throw operationError(fn, `${configFile} is not a JSON object`);
  const architecture = json.architecture;
  if (typeof architecture !== 'string') throw operationError(fn, `${configFile} has no "architecture" (a timm model name)`);
  const entry = modelEntry(fn, architecture);
  if (opts.expectArchitecture && entry.name !== opts.expectArchitecture) {
    throw operationError(fn, `'${opts.expectArchitecture}' was asked for, but ${configFile} holds '${architecture}'`);
  }
  const config: ViTConfig = { ...entry.config, ...pick(json.model_args), ...pick(json) };
  const cfg = (json.pretrained_cfg ?? {}) as Record<string, unknown>;
  if (cfg.crop_mode !== undefined && cfg.crop_mode !== 'center') throw operationError(fn, `${configFile}: crop_mode '${String(cfg.crop_mode)}' is not supported (only 'center')`);
  const preprocess = checkPreprocess(`${fn} (${configFile} pretrained_cfg)`, { ...entry.preprocess, ...pickPreprocess(cfg) });
  const size = config.img_size ?? 224;
  if (preprocess.input_size[1] !== size || preprocess.input_size[2] !== size) {
    throw operationError(fn, `${configFile}: pretrained_cfg.input_size [${preprocess.input_size.join(', ')}] does not match img_size ${size}`);
  }
  const labels = labelNames(fn, configFile, json.label_names ?? cfg.label_names, config.num_classes ?? 1000);
  const model = await loadViTAs(fn, path.join(dir, 'model.safetensors'), config, opts);
  model.preprocess = preprocess;
  model.labels = labels;
  return { model, preprocess, labels, architecture };
}

function pick(source: unknown): ViTConfig {
  const out: Record<string, unknown> = {};
  if (source === null || typeof source !== 'object') return out;
  for (const key of MODEL_ARGS) {
    const v = (source as Record<string, unknown>)[key];
    if (v !== undefined && !(key === 'global_pool' && v !== 'token' && v !== 'avg')) out[key] = v;
  }
  return out;
}

function pickPreprocess(cfg: Record<string, unknown>): Partial<PreprocessConfig> {
  const out: Record<string, unknown> = {};
  for (const key of ['input_size', 'interpolation', 'crop_pct', 'mean', 'std']) if (cfg[key] !== undefined && cfg[key] !== null) out[key] = cfg[key];
  return out;
}

/** config.json's label_names: a list, or (as timm also allows) an object from index to name. */
function labelNames(fn: string, file: string, given: unknown, numClasses: number): string[] | null {
  if (given === undefined || given === null) return null;
  const names = typeof given === 'object' && !Array.isArray(given) ? Array.from({ length: numClasses }, (_, i) => (given as Record<string, unknown>)[i]) : given;
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw operationError(fn, `${file}: label_names is not a list of strings (or an object from each index to a name)`);
  if (names.length !== numClasses) throw operationError(fn, `${file}: label_names has ${names.length} names but num_classes is ${numClasses}`);
  return names.slice();
}
