// The ViT patch embedding: a P×P convolution with stride P, as a gather of the patches
// followed by one GEMM with the convolution weight.
import { checkInteger, rangeError } from '../errors';
import { native } from '../native';
import { empty, Tensor } from '../tensor';
import { checkFloatTensor, checkLike, checkOptions, checkVector, fill, contiguousIn, OutOptions, prepareOutput, shapeString } from './checks';
import { linearInto } from './linear';

/**
 * The patch embedding of images [B, C, H, W] with a convolution weight [E, C, P, P] and
 * bias [E] (or null), stride P: returns a contiguous [B, (H/P)·(W/P), E], patches in
 * row-major order (timm's PatchEmbed with flatten). H and W must be multiples of P; all of
 * one float dtype and device. Gathers the patches into a temporary [B, patches, C·P·P]
 * (freed before returning), then one GEMM accumulating in float32.
 */
export function patchEmbed(images: Tensor, weight: Tensor, bias: Tensor | null | undefined, patch: number, options?: OutOptions): Tensor {
  const fn = 'patchEmbed';
  const im = checkFloatTensor(fn, 'images', images);
  if (im.rank !== 4) throw rangeError(fn, `images must be [B, C, H, W], got ${shapeString(im.shape)}`);
  const P = checkInteger(fn, 'patch', patch, 1);
  const [B, C, H, W] = im.shape;
  if (H % P !== 0 || W % P !== 0) throw rangeError(fn, `images ${shapeString(im.shape)}: H and W must be multiples of the patch size ${P}`);
  const w = checkLike(fn, 'weight', weight, im, 'images');
  if (w.rank !== 4 || w.shape[1] !== C || w.shape[2] !== P || w.shape[3] !== P) {
    throw rangeError(fn, `weight must be [E, ${C}, ${P}, ${P}] for images ${shapeString(im.shape)} and patch ${P}, got ${shapeString(w.shape)}`);
  }
  const E = w.shape[0];
  const b = checkVector(fn, 'bias', bias, E, w, 'weight');
  const patches = (H / P) * (W / P);
  const out = prepareOutput(fn, checkOptions(fn, options).out, [B, patches, E], im, [im, w, b]);
  return fill(out, (temps) => {
    if (out.out.size === 0) return;
    const K = C * P * P;
    const gathered = empty([B, patches, K], { dtype: im.dtype, device: im.device });
    temps.push(gathered);
    if (K > 0) native().patchGather(gathered, contiguousIn(im, temps), P);
    const wc = contiguousIn(w, temps);
    const w2 = wc._view([E, K], [K, 1]);
    temps.push(w2);
    linearInto(out.out, gathered, w2, b, [0, 0, 0], false, temps);
  });
}
