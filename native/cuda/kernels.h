// Launchers of the CUDA kernels, one family per .cu file. Each enqueues on `stream`,
// returns at once, and throws nf::Error if the launch fails.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "../core/mixing_ops.h"
#include "../core/ops.h"
#include "../core/random_ops.h"
#include "../core/tensor.h"
#include "../core/training_ops.h"

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
// attention/launch.cu: the fused memory-efficient (flash-style) attention kernels.
// `sm_count` sizes the split of the key range when batch * heads * query tiles is too few
// to fill the GPU; `workspace` (at least attention_workspace_bytes(p, sm_count) bytes, or
// null when that is 0) holds the partial results of such a split.
size_t attention_workspace_bytes(const AttentionParams& p, int sm_count);
void launch_attention(const AttentionParams& p, void* workspace, int sm_count, cudaStream_t stream);
// The [tile_m, tile_n] tiling launch_attention uses for this dtype and head dim: what the
// block-sparse tile lists of AttentionParams must be built for.
void attention_tile_shape_for(DType dtype, int64_t head_dim, int64_t* tile_m, int64_t* tile_n);
// attention/sparse_csr.cu: the fused CSR attention kernel; `workspace` holds the partial results
// of split rows (sparse_attention_workspace_bytes(p) bytes, or null when that is 0).
size_t sparse_attention_workspace_bytes(const SparseAttentionParams& p);
void launch_sparse_attention(const SparseAttentionParams& p, void* workspace, cudaStream_t stream);
// Backward ops (issue 25). column_sum.cu: out[c] = sum_r x[r, c] in two stages through a
// float32 workspace of sum_rows_workspace_bytes(rows, cols, sm_count) bytes; and stage 2 alone,
// the sum of `parts` rows of float32 partials [parts, cols] into out (x's dtype).
size_t sum_rows_workspace_bytes(int64_t rows, int64_t cols, int sm_count);
void launch_sum_rows(DType dtype, const void* x, int64_t rows, int64_t cols, void* out, float* workspace, int sm_count,
                     cudaStream_t stream);
void launch_finish_column_sums(DType dtype, const float* partial, int64_t parts, int64_t cols, void* out, cudaStream_t stream);
// norm_backward.cu: dx, and dweight / dbias through a workspace of norm_backward_workspace_bytes.
size_t norm_backward_workspace_bytes(const NormBackwardParams& p, int sm_count);
void launch_norm_backward(const NormBackwardParams& p, float* workspace, int sm_count, cudaStream_t stream);
// softmax_backward.cu
void launch_softmax_backward(const SoftmaxBackwardParams& p, cudaStream_t stream);
// activation_backward.cu: dx, and dbias (when asked) through a sum_rows workspace for x's rows and cols.
void launch_activation_backward(const ActivationBackwardParams& p, float* workspace, int sm_count, cudaStream_t stream);
// random_ops.cu: dropout and drop path (DropoutParams), raw Philox blocks.
void launch_dropout(const DropoutParams& p, cudaStream_t stream);
void launch_philox(const PhiloxParams& p, cudaStream_t stream);
// optimizer.cu (issue 25): the fused multi-tensor step and the unscale, one launch a list. A
// list's table (per tensor: pointers, size, first chunk) is built on the host; the backend
// copies its bytes to device memory and passes that copy as `device_table`.
struct MultiTensorTable {
  std::vector<unsigned char> bytes;
  int count = 0;
  int64_t chunks = 0;
};
MultiTensorTable optimizer_step_table(const OptimizerStepParams& p);
void launch_optimizer_step(const OptimizerStepParams& p, const MultiTensorTable& table, const void* device_table, int sm_count,
                           cudaStream_t stream);
MultiTensorTable unscale_table(const UnscaleParams& p);
void launch_unscale(const UnscaleParams& p, const MultiTensorTable& table, const void* device_table, int sm_count, cudaStream_t stream);
// The training kit (core/training_ops.h). cross_entropy.cu: the loss through a float32
// workspace of cross_entropy_workspace_bytes (the rows' losses), and its gradient.
size_t cross_entropy_workspace_bytes(const CrossEntropyParams& p);
void launch_cross_entropy(const CrossEntropyParams& p, float* workspace, cudaStream_t stream);
void launch_cross_entropy_backward(const CrossEntropyBackwardParams& p, cudaStream_t stream);
// patch_embed.cu: the inverse of the patch gather.
void launch_patch_scatter(const PatchScatterParams& p, cudaStream_t stream);
// multi_tensor.cu: the norm of a tensor list through a workspace of multi_norm_workspace_bytes
// (a float32 partial per block), and the list's clip scaling in place.
size_t multi_norm_workspace_bytes(const MultiNormParams& p);
void launch_multi_norm(const MultiNormParams& p, float* workspace, cudaStream_t stream);
void launch_multi_scale(const MultiScaleParams& p, cudaStream_t stream);
// attention/launch_bwd.cu: the dense attention backward (memory-efficient and block-sparse);
// `workspace` holds attention_backward_workspace_bytes(p) bytes (float32 row statistics, the
// dQ accumulator, a layout's key tile -> query tile lists).
size_t attention_backward_workspace_bytes(const AttentionBackwardParams& p);
void launch_attention_backward(const AttentionBackwardParams& p, void* workspace, cudaStream_t stream);
// attention/sparse_csr_bwd.cu: the CSR attention backward; `workspace` holds
// sparse_attention_backward_workspace_bytes(p) bytes (float32 row statistics).
size_t sparse_attention_backward_workspace_bytes(const SparseAttentionBackwardParams& p);
void launch_sparse_attention_backward(const SparseAttentionBackwardParams& p, void* workspace, cudaStream_t stream);
// The token-mixing ops of the mechanism zoo (core/mixing_ops.h). depthwise_window.cu: the
// depthwise convolution and the average pooling, forward and backward; the weight gradient
// through a float32 workspace of depthwise_conv2d_backward_workspace_bytes (per-band partials).
void launch_depthwise_conv2d(const DepthwiseConv2dParams& p, cudaStream_t stream);
size_t depthwise_conv2d_backward_workspace_bytes(const DepthwiseConv2dBackwardParams& p, int sm_count);
void launch_depthwise_conv2d_backward(const DepthwiseConv2dBackwardParams& p, float* workspace, int sm_count, cudaStream_t stream);
void launch_avg_pool2d(const AvgPool2dParams& p, cudaStream_t stream);
void launch_avg_pool2d_backward(const AvgPool2dBackwardParams& p, cudaStream_t stream);
// fourier_mix.cu: the ends of the Fourier mix around cuFFT's real-to-complex transform of
// `batch` real [rows, len] slices (rows 1: a 1-D transform): the input as float32 `real`
// (x.numel() floats), and out from the half spectrum (float2 [batch, rows, len / 2 + 1]).
struct FftShape {
  int64_t batch = 0, rows = 0, len = 0;
};
FftShape fourier_shape(const FourierMixParams& p);
void launch_fourier_to_real(const FourierMixParams& p, float* real, cudaStream_t stream);
void launch_fourier_real_part(const FourierMixParams& p, const FftShape& s, const void* spectrum, cudaStream_t stream);
// spin.cu: keeps the stream busy for `microseconds` (the GEMM planner's timing of GPU time).
void launch_spin(double microseconds, cudaStream_t stream);

}  // namespace nf::cuda
