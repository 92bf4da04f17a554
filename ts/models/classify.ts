// Answers out: images -> the top-k classes of each, with softmax scores and label names.
import { noGrad } from '../autograd/graph';
import { checkInteger, invalidParameterError, rangeError } from '../errors';
import { imagesToTensor, ImageInput, PreprocessConfig, Resampler } from '../image/preprocess';
import { softmax } from '../ops';
import { topkIndices } from '../ops/topk';
import { isTensor, Tensor, tidy } from '../tensor';
import type { FloatDType } from '../dtype';
import type { VisionTransformer } from './vit';

export interface Classification {
  /** The class name (model.labels, or options.labels), or the index as a string when there are none. */
  label: string;
  index: number;
  /** The softmax probability. */
  score: number;
}

export interface ClassifyOptions {
  /** How many classes per image, best first (default 5, or num_classes when fewer). */
  topk?: number;
  /** The eval preprocessing; default model.preprocess, else timm's default (bicubic, crop_pct 0.875, ImageNet mean and std). */
  preprocess?: PreprocessConfig;
  /** Class names by index; default model.labels. */
  labels?: readonly string[];
  /** Who resizes the images (imagesToTensor's option): 'pillow' (default) or 'sharp'. */
  resampler?: Resampler;
}

/** timm's default eval preprocessing (IMAGENET_DEFAULT_MEAN/STD, bicubic, crop_pct 0.875) at a model's size. */
export function defaultPreprocess(imgSize: number): PreprocessConfig {
  return { input_size: [3, imgSize, imgSize], interpolation: 'bicubic', crop_pct: 0.875, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
}

/**
 * The top-k classes of each image (paths, encoded Buffers, or a preprocessed float tensor
 * [B, 3, H, W]): one list per image, best first. One forward for the batch, without recording;
 * the probabilities are read with one awaited read (the event loop runs while a GPU finishes)
 * and the top k picked on the host.
 */
export async function classify(model: VisionTransformer, images: ImageInput | readonly ImageInput[] | Tensor, options: ClassifyOptions = {}): Promise<Classification[][]> {
  const fn = 'classify';
  if (model === null || typeof model !== 'object' || typeof (model as { forward?: unknown }).forward !== 'function' || !('config' in model)) {
    throw invalidParameterError(fn, 'model', 'a VisionTransformer (createModel, loadPretrained)', model);
  }
  if (model.disposed) throw new Error(`${fn}: the model has been disposed`);
  const numClasses = model.config.num_classes;
  if (!(numClasses > 0)) throw rangeError(fn, 'the model has no classifier head (num_classes 0)');
  const k = checkInteger(fn, 'options.topk', options.topk ?? Math.min(5, numClasses), 1);
  if (k > numClasses) throw rangeError(fn, `options.topk ${k} is more than the model's ${numClasses} classes`);
  const labels = options.labels ?? model.labels;
  if (labels && labels.length !== numClasses) throw rangeError(fn, `${labels.length} labels for ${numClasses} classes`);
  const like = model.parameters().get('pos_embed') as Tensor;
  const input = isTensor(images) ? images : await imagesToTensor(images as ImageInput | ImageInput[],
    options.preprocess ?? model.preprocess ?? defaultPreprocess(model.config.img_size), { device: like.device, dtype: like.dtype as FloatDType, resampler: options.resampler });
  let probs: Tensor;
  try {
    probs = noGrad(() => tidy(() => {
      const logits = model.forward(input);
      return softmax(logits.dtype === 'float32' ? logits : logits.cast('float32'));
    }));
  } finally {
    if (input !== images) input.dispose();
  }
  let scores: Float32Array;
  try {
    scores = (await probs.data()) as Float32Array;
  } finally {
    probs.dispose();
  }
  const indices = topkIndices(scores, scores.length / numClasses, numClasses, 1, k);
  const out: Classification[][] = [];
  for (let b = 0; b < indices.length / k; b++) {
    out.push(Array.from({ length: k }, (_, j) => {
      const index = indices[b * k + j];
      return { label: labels ? labels[index] : String(index), index, score: scores[b * numClasses + index] };
    }));
  }
  return out;
}
