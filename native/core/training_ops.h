// Parameters of the training kit's ops (issue 25), as plain structs like ops.h's: the fused
// cross-entropy loss and its gradient, the patch scatter (patchEmbed's image gradient), and
// the multi-tensor norm and scale of clipGradNorm.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.h"

namespace nf {

enum class LossReduction : int32_t { None = 0, Mean = 1, Sum = 2 };

// The cross-entropy of each row of logits [rows, C] (contiguous, a float dtype) against an
// integer label (labels [rows], int32 or uint8, contiguous), log-softmax and NLL in one pass
// per row, float32 arithmetic, with label smoothing eps as PyTorch defines it:
//   lse_r = log sum_c exp(x_rc),
//   loss_r = (1 - eps) * (lse_r - x_r,y) + eps * (lse_r - mean_c x_rc)   (y = labels[r])
// A row whose label is ignore_index counts for nothing (loss 0). A row whose label lies
// outside [0, C) gets loss NaN and is reported in stats (its logits are read, never x_r,y).
// out: [rows] (None, ignored rows 0), or [] (Mean: sum / counted rows, NaN when none counts;
// Sum), in logits' dtype. lse: float32 [rows], kept for the backward. stats: int32 [2] =
// {rows counted (label != ignore_index), the first row with a label outside [0, C), or -1}.
struct CrossEntropyParams {
  TensorView out, lse, stats, logits, labels;
  float label_smoothing = 0.f;
  int64_t ignore_index = -100;
  LossReduction reduction = LossReduction::Mean;
};

// The gradient of CrossEntropyParams' loss from d_loss (the loss's shape and dtype):
//   dlogits_rc = (exp(x_rc - lse_r) - (1 - eps) [c == y] - eps / C) * g_r,
// g_r = d_loss[r] (None), d_loss[] / stats[0] (Mean), d_loss[] (Sum); 0 on ignored rows;
// NaN on rows whose label lies outside [0, C). lse and stats are the forward's.
// dlogits contiguous, logits' shape and dtype, apart from every input.
struct CrossEntropyBackwardParams {
  TensorView dlogits, d_loss, logits, labels, lse, stats;
  float label_smoothing = 0.f;
  int64_t ignore_index = -100;
  LossReduction reduction = LossReduction::Mean;
};

// The inverse of PatchGatherParams' gather (patchEmbed's image gradient): with patches
// [B, (H/P) * (W/P), C * P * P] and images [B, C, H, W], both contiguous,
//   images[b, c, py * P + y, px * P + x] = patches[b, py * (W/P) + px, (c * P + y) * P + x].
// Patches of stride P do not overlap and H, W are multiples of P, so every image element is
// written exactly once (a permutation: no sums). Dtypes may differ (converted through float).
struct PatchScatterParams {
  TensorView images, patches;
  int64_t patch = 16;
};

// The norm of many tensors as one vector (clipGradNorm's total norm): out (float32 [] or
// [1]) = (sum over every element x of every tensor of |x|^p)^(1/p), or max |x| when p is
// +inf; NaN anywhere gives NaN. Tensors contiguous, of any float dtypes, on one device;
// float32 terms summed in a fixed order (float64 on the host): deterministic.
struct MultiNormParams {
  std::vector<TensorView> tensors;
  TensorView out;
  float norm_type = 2.f;
};

// Scales many tensors in place by clipGradNorm's coefficient, read on the device from norm
// (float32, one element): x *= c, c = max_norm / (norm + 1e-6) clamped to at most 1 (NaN
// stays NaN, as torch.clamp leaves it). Tensors contiguous, float, pairwise apart.
struct MultiScaleParams {
  std::vector<TensorView> tensors;
  TensorView norm;
  float max_norm = 1.f;
};

}  // namespace nf
