// The model behind the server: loaded once from a timm directory or a registered name, then
// one forward for each batch of preprocessed rows. Users write `require('nodeformers')` where
// this file imports ../../ts/index.
import * as fs from 'node:fs';
import {
  classify, Classification, createModel, Device, DeviceLike, FloatDType, loadPretrained, PreprocessConfig, tensor, VisionTransformer,
} from '../../ts/index';

export interface ModelSpec {
  /** A timm directory (config.json + model.safetensors), or a name listModels() lists (random weights). */
  model: string;
  device: DeviceLike;
  dtype: FloatDType;
}

/** What the HTTP side needs to know of the model. */
export interface ModelInfo {
  /** The architecture's name (config.json's, or the registered name). */
  name: string;
  device: Device;
  preprocess: PreprocessConfig;
  numClasses: number;
}

export async function loadModel(spec: ModelSpec): Promise<{ model: VisionTransformer; info: ModelInfo }> {
  let model: VisionTransformer, name: string;
  if (fs.existsSync(spec.model) && fs.statSync(spec.model).isDirectory()) {
    const loaded = await loadPretrained(spec.model, { device: spec.device, dtype: spec.dtype });
    model = loaded.model;
    name = loaded.architecture;
  } else {
    model = await createModel(spec.model, { device: spec.device, dtype: spec.dtype });
    name = spec.model;
  }
  if (!model.preprocess) throw new Error(`${spec.model}: the model has no preprocessing`);
  const device = model.parameters().get('pos_embed')!.device;
  return { model, info: { name, device, preprocess: model.preprocess, numClasses: model.config.num_classes } };
}

/**
 * The top `topk` classes of each of `count` rows (float32 planes [3, H, W] one after another):
 * one tensor [count, 3, H, W] on the model's device, one forward, freed before returning.
 */
export async function classifyRows(model: VisionTransformer, info: ModelInfo, rows: Float32Array, count: number, topk: number): Promise<Classification[][]> {
  const [, H, W] = info.preprocess.input_size;
  const x = tensor(rows, [count, 3, H, W], { device: info.device });
  const dtype = model.parameters().get('pos_embed')!.dtype;
  const input = dtype === 'float32' ? x : x.cast(dtype as FloatDType);
  try {
    return await classify(model, input, { topk });
  } finally {
    x.dispose();
    input.dispose();
  }
}

/** Rows of several requests, one after another in one array (what classifyRows takes). */
export function stackRows(rows: readonly Float32Array[]): Float32Array {
  const size = rows[0].length;
  const out = new Float32Array(rows.length * size);
  rows.forEach((row, i) => out.set(row, i * size));
  return out;
}
