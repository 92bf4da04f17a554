// The CPU backend's training-kit ops (training_ops.h says what each computes): plain loops,
// float64 sums, the reference the CUDA kernels are held against.
#pragma once
#include "../core/training_ops.h"

namespace nf::cpu {

void cross_entropy(const CrossEntropyParams& p);
void cross_entropy_backward(const CrossEntropyBackwardParams& p);
void patch_scatter(const PatchScatterParams& p);
void multi_norm(const MultiNormParams& p);
void multi_scale(const MultiScaleParams& p);

}  // namespace nf::cpu
