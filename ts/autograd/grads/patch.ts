// The gradient of patchEmbed (ts/ops/patch.ts): the patch convolution is a gather of the
// patches and one GEMM, so its gradients are the GEMM's, with the gather undone for the
// images. Over the rows g₂ [B·patches, E] and the gathered patches X [B·patches, C·P·P]:
// dW = g₂ᵀ·X, db = Σ rows g₂, dimages = scatter(g₂·W) (the inverse of the gather: patches of
// stride P do not overlap, so no sums). X is gathered again from the saved images, in the
// forward's chunks of images (never more than GATHER_BUDGET elements at once), each chunk's
// g₂ᵀ·X added into dW by the GEMM's residual input. The formulas: ../DERIVATIVES.md.
import { native } from '../../native';
import { fillGrads } from '../../ops/backward_checks';
import { linearInto, matmul } from '../../ops/linear';
import { patchChunks } from '../../ops/patch';
import { empty, Tensor } from '../../tensor';
import { GradFn } from '../node';
import { sumTo } from '../reduce';

/** patchEmbed(images, weight, bias, P): inputs recorded as [images, weight, bias]; saved [images, weight]. */
export function patchEmbedGrad(P: number): GradFn {
  return (g, [im, w], needs) => {
    const [, C, H, W] = im.shape;
    const E = w.shape[0];
    const patches = (H / P) * (W / P);
    const results: (Tensor | null)[] = [null, null, null];
    return fillGrads(results, results, (temps) => {
      const gc = g.isContiguous ? g : g._contiguous(); // a view of a larger gradient (concat's) is copied once
      if (gc !== g) temps.push(gc);
      results[2] = needs[2] ? sumTo(gc, [E]) : null;
      if (needs[1]) results[1] = weightGrad(gc, im, [E, C, P, P], patches, temps);
      if (needs[0]) results[0] = imagesGrad(gc, w, im, P, patches, temps);
    });
  };
}

/** dW [E, C, P, P] = Σ over chunks of images of g₂ᵀ·X, X the chunk's patches gathered again. */
function weightGrad(g: Tensor, images: Tensor, wShape: readonly number[], patches: number, temps: Tensor[]): Tensor {
  const dw = empty(wShape, { dtype: g.dtype, device: g.device });
  return fillGrads([dw], dw, () => fillWeightGrad(dw, g, images, wShape[2], patches, temps));
}

function fillWeightGrad(dw: Tensor, g: Tensor, images: Tensor, P: number, patches: number, temps: Tensor[]): void {
  const [E, C] = dw.shape;
  const K = C * P * P;
  const [B, , H, W] = images.shape;
  const dw2 = dw._view([E, K], [K, 1]);
  temps.push(dw2);
  if (K > 0 && B * patches === 0) native().fill(dw, 0); // a sum over no patches
  if (K === 0 || B * patches === 0) return;
  const src = images.isContiguous ? images : images._contiguous();
  if (src !== images) temps.push(src);
  let first = true;
  for (const [b0, n] of patchChunks(B, patches, K)) {
    const rows = n * patches;
    const chunk = src._view([n, C, H, W], src.strides, src.offset + b0 * src.strides[0]);
    const gathered = empty([n, patches, K], { dtype: g.dtype, device: g.device });
    const gT = g._view([E, rows], [1, E], g.offset + b0 * patches * E); // g₂ᵀ of the chunk's rows, in place
    const xT = gathered._view([K, rows], [1, K]);
    try {
      native().patchGather(gathered, chunk, P);
      // dW2 (+)= g₂ᵀ·X as linear(g₂ᵀ, Xᵀ): x Wᵀ with x = g₂ᵀ and W = Xᵀ; later chunks add in place.
      linearInto(dw2, gT, xT, null, [0, 0, 0], false, temps, first ? null : dw2);
      first = false;
    } finally {
      for (const t of [chunk, gathered, gT, xT]) t.dispose();
    }
  }
}

/** dimages [B, C, H, W] = scatter(g₂·W), a chunk of images at a time. */
function imagesGrad(g: Tensor, w: Tensor, images: Tensor, P: number, patches: number, temps: Tensor[]): Tensor {
  const dx = empty(images.shape, { dtype: g.dtype, device: g.device });
  return fillGrads([dx], dx, () => {
    if (dx.size > 0) fillImagesGrad(dx, g, w, P, patches, temps);
  });
}

function fillImagesGrad(dx: Tensor, g: Tensor, w: Tensor, P: number, patches: number, temps: Tensor[]): void {
  const [B, C, H, W] = dx.shape;
  const E = w.shape[0];
  const K = C * P * P;
  const wc = w.isContiguous ? w : w._contiguous();
  if (wc !== w) temps.push(wc);
  const w2 = wc._view([E, K], [K, 1]);
  temps.push(w2);
  for (const [b0, n] of patchChunks(B, patches, K)) {
    const gRows = g._view([n * patches, E], [E, 1], g.offset + b0 * patches * E);
    const target = dx._view([n, C, H, W], dx.strides, dx.offset + b0 * dx.strides[0]);
    let dp: Tensor | null = null;
    try {
      dp = matmul(gRows, w2);
      const dp3 = dp.reshape([n, patches, K]);
      temps.push(dp3);
      native().patchScatter(target, dp3, P);
    } finally {
      for (const t of [gRows, target, dp]) t?.dispose();
    }
  }
}
