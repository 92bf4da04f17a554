// The checks a model makes of what it is given: alive, and a float tensor of images.
import { isFloat } from '../dtype';
import { typeError } from '../errors';
import { checkTensor, Tensor } from '../tensor';

/** Throws when the model is disposed or `images` is not a live float Tensor (naming the preprocessing that makes one). */
export function checkModelInput(fn: string, disposed: boolean, images: unknown): Tensor {
  if (disposed) throw new Error(`${fn}: the model has been disposed`);
  const t = checkTensor(fn, 'images', images);
  if (!isFloat(t.dtype)) {
    throw typeError(fn, `images must be a float tensor (normalized pixels), got ${t.dtype}: ` +
      'imagesToTensor(files, model.preprocess) decodes, resizes and normalizes images into one, ' +
      "or scale your own pixels with x.cast('float32') then div(x, 255) and normalize by the mean and std");
  }
  return t;
}
