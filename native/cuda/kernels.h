// Launchers of the CUDA kernels, one family per .cu file. Each enqueues on `stream`,
// returns at once, and throws nf::Error if the launch fails.
#pragma once
#include <cuda_runtime.h>

#include "../core/ops.h"
#include "../core/tensor.h"

namespace nf::cuda {

// copy.cu: strided copy with dtype conversion, and fill.
void launch_copy(const TensorView& dst, const TensorView& src, cudaStream_t stream);
void launch_fill(const TensorView& dst, double value, cudaStream_t stream);

// layernorm.cu: layer norm and rms norm over the last dim.
void launch_norm(const NormParams& p, cudaStream_t stream);
// softmax.cu: scaled, masked softmax over the last dim.
void launch_softmax(const SoftmaxParams& p, cudaStream_t stream);
// activation.cu: fused bias + activation.
void launch_bias_activation(const BiasActivationParams& p, cudaStream_t stream);
// elementwise.cu: broadcasting binary ops, and the mean over a dim.
void launch_binary(const BinaryParams& p, cudaStream_t stream);
void launch_mean(const MeanParams& p, cudaStream_t stream);
// patch_embed.cu: the patch gather before the patch-embedding GEMM.
void launch_patch_gather(const PatchGatherParams& p, cudaStream_t stream);

}  // namespace nf::cuda
