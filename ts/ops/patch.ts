// The ViT patch embedding: a P×P convolution with stride P, as a gather of the patches
// followed by one GEMM with the convolution weight; its gradient in grads/patch.ts.
import { checkInteger, rangeError } from '../errors';
import { native } from '../native';
import { empty, Tensor } from '../tensor';
import { checkFloatTensor, checkLike, checkOptions, checkVector, fill, contiguousIn, OutOptions, prepareOutput, shapeString } from './checks';
import { checkRecordable, needsGradAny, record } from '../autograd/graph';
import { patchEmbedGrad } from '../autograd/grads/patch';
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
  const o = checkOptions(fn, options);
  const tracked = needsGradAny([im, w, b]);
  if (tracked) checkRecordable(fn, o);
  const out = prepareOutput(fn, o.out, [B, patches, E], im, { images: im, weight: w, bias: b });
  const y = fill(out, (temps) => {
    if (out.out.size === 0) return;
    const K = C * P * P;
    const src = contiguousIn(im, temps);
    const wc = contiguousIn(w, temps);
    const w2 = wc._view([E, K], [K, 1]);
    temps.push(w2);
    // In chunks of images, so that the gathered patches (as large as the images) never
    // take more than GATHER_BUDGET elements at once: the notebook ViT's batch of 64 would
    // otherwise hold 19 MB of patches in float16, half of the forward's peak memory.
    for (const [b0, n] of patchChunks(B, patches, K)) {
      const images = src._view([n, C, H, W], src.strides, src.offset + b0 * src.strides[0]);
      const gathered = empty([n, patches, K], { dtype: im.dtype, device: im.device });
      const rows = out.out._view([n, patches, E], out.out.strides, out.out.offset + b0 * patches * E);
      try {
        if (K > 0) native().patchGather(gathered, images, P);
        linearInto(rows, gathered, w2, b, [0, 0, 0], false, temps);
      } finally {
        for (const t of [images, gathered, rows]) t.dispose();
      }
    }
  });
  return tracked ? record(fn, y, [im, w, b], [im, w], patchEmbedGrad(P)) : y;
}

/** The images of the batch chunks patchEmbed and its gradient gather at once: [b0, b0 + n) for each. */
export function* patchChunks(B: number, patches: number, K: number): Generator<[number, number]> {
  const chunks = Math.max(1, Math.ceil((B * patches * K) / GATHER_BUDGET));
  const per = Math.ceil(B / chunks);
  for (let b0 = 0; b0 < B; b0 += per) yield [b0, Math.min(per, B - b0)];
}

/** The most elements of gathered patches patchEmbed holds at once (8 MB in float16). */
export const GATHER_BUDGET = 1 << 22;
