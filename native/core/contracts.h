// Each op's contract, written once: what its operands must be (ranks, dtypes, shapes,
// strides, overlaps) for its kernels to be safe and its result defined. A check throws
// nf::Error(InvalidArg, "<what is wrong>"); the caller prefixes the op's name. dispatch.h
// runs them before every backend call from outside native code.
#pragma once
#include "calls.h"
#include "mixing_ops.h"
#include "ops.h"
#include "random_ops.h"
#include "tensor.h"
#include "training_ops.h"

namespace nf {

// Whether the view repeats elements through a stride of 0 (along a size above 1).
bool is_broadcast(const TensorView& v);

void check_copy(const TensorView& dst, const TensorView& src);
void check_fill(const TensorView& dst);
void check_copy_peer(const TensorView& dst, const TensorView& src);
void check(const GemmCall& c);
void check(const NormCall& c);
void check(const SoftmaxParams& p);
void check(const BiasActivationCall& c);
void check(const BinaryParams& p);
void check(const MeanParams& p);
void check(const PatchGatherParams& p);
void check(const AttentionCall& c);
void check(const SparseAttentionCall& c);
void check(const EncoderBlockCall& c);
void check(const NormBackwardCall& c);
void check(const SoftmaxBackwardParams& p);
void check(const ActivationBackwardCall& c);
void check(const SumRowsParams& p);
void check(const DropoutCall& c);
void check(const PhiloxParams& p);

// The optimizer ops (optimizer_contracts.cc).
void check(const OptimizerStepCall& c);
void check(const UnscaleCall& c);
void check(const AttentionBackwardCall& c);
void check(const SparseAttentionBackwardCall& c);
// The training kit's ops (training_contracts.cc).
void check(const CrossEntropyParams& p);
void check(const CrossEntropyBackwardParams& p);
void check(const PatchScatterParams& p);
void check(const MultiNormParams& p);
void check(const MultiScaleParams& p);
// The token-mixing ops of the mechanism zoo (mixing_contracts.cc).
void check(const DepthwiseConv2dParams& p);
void check(const DepthwiseConv2dBackwardParams& p);
void check(const AvgPool2dParams& p);
void check(const AvgPool2dBackwardParams& p);
void check(const FourierMixParams& p);

}  // namespace nf
