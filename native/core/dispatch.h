// The one entry to an op from outside native code (the addon): checks the op's contract
// (contracts.h), lowers its views to the kernel's params, and runs it on `backend`. An op
// whose output is empty returns after its checks without touching the backend, so that no
// kernel loops over the sizes of an empty tensor. Native code that composes ops from
// checked inputs (encoder_block.h) calls the backend directly.
#pragma once
#include <memory>

#include "backend.h"
#include "calls.h"
#include "mixing_ops.h"
#include "ops.h"
#include "random_ops.h"
#include "tensor.h"
#include "training_ops.h"

namespace nf::dispatch {

void copy(Backend& backend, const TensorView& dst, const TensorView& src);
// Device to device between two backends where the pair has a path for it (true), else false.
bool copy_peer(Backend& to, const TensorView& dst, Backend& from, const TensorView& src);
void fill(Backend& backend, const TensorView& dst, double value);
void gemm(Backend& backend, const GemmCall& c);
void norm(Backend& backend, const NormCall& c);
void softmax(Backend& backend, const SoftmaxParams& p);
void bias_activation(Backend& backend, const BiasActivationCall& c);
void binary(Backend& backend, const BinaryParams& p);
void mean(Backend& backend, const MeanParams& p);
void patch_gather(Backend& backend, const PatchGatherParams& p);
void attention(Backend& backend, const AttentionCall& c);
void sparse_attention(Backend& backend, const SparseAttentionCall& c);
void norm_backward(Backend& backend, const NormBackwardCall& c);
void softmax_backward(Backend& backend, const SoftmaxBackwardParams& p);
void activation_backward(Backend& backend, const ActivationBackwardCall& c);
void sum_rows(Backend& backend, const SumRowsParams& p);
void dropout(Backend& backend, const DropoutCall& c);
void philox(Backend& backend, const PhiloxParams& p);
void attention_backward(Backend& backend, const AttentionBackwardCall& c);
void sparse_attention_backward(Backend& backend, const SparseAttentionBackwardCall& c);
// The training kit's ops (training_ops.h).
void cross_entropy(Backend& backend, const CrossEntropyParams& p);
void cross_entropy_backward(Backend& backend, const CrossEntropyBackwardParams& p);
void patch_scatter(Backend& backend, const PatchScatterParams& p);
void multi_norm(Backend& backend, const MultiNormParams& p);
void multi_scale(Backend& backend, const MultiScaleParams& p);
// The token-mixing ops of the mechanism zoo (mixing_ops.h; mixing_dispatch.cc).
void depthwise_conv2d(Backend& backend, const DepthwiseConv2dParams& p);
void depthwise_conv2d_backward(Backend& backend, const DepthwiseConv2dBackwardParams& p);
void avg_pool2d(Backend& backend, const AvgPool2dParams& p);
void avg_pool2d_backward(Backend& backend, const AvgPool2dBackwardParams& p);
void fourier_mix(Backend& backend, const FourierMixParams& p);
void encoder_block(const std::shared_ptr<Backend>& backend, const EncoderBlockCall& c);
// The optimizer ops (issue 25): one fused step over a list of parameters, and the unscale.
void optimizer_step(Backend& backend, const OptimizerStepCall& c);
void unscale_grads(Backend& backend, const UnscaleCall& c);

}  // namespace nf::dispatch
