// The CPU backend's backward ops (ops.h says what each computes): plain loops over rows,
// float64 sums, the reference the CUDA kernels are held against.
#pragma once
#include "../core/ops.h"

namespace nf::cpu {

void norm_backward(const NormBackwardParams& p);
void softmax_backward(const SoftmaxBackwardParams& p);
void activation_backward(const ActivationBackwardParams& p);
void sum_rows(const SumRowsParams& p);
// attention_backward.cc
void attention_backward(const AttentionBackwardParams& p);
void sparse_attention_backward(const SparseAttentionBackwardParams& p);

}  // namespace nf::cpu
