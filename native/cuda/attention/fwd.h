// The dense attention forward's launchers, one per (dtype, head-dim bucket), each compiled
// in a translation unit of its own (fwd_<dtype>_d<bucket>.cu, from fwd_launch.cuh) so that
// the build compiles them in parallel; launch.cu picks one and adds the split-KV combine
// (fwd_combine.cu). T: float, __half or __nv_bfloat16; kD: a bucket of
// kAttentionHeadDimBuckets (../../core/attention_limits.h). The backward takes the same
// shape beside it: bwd.h, bwd_launch.cuh and a bwd_<dtype>_d<bucket>.cu per launcher.
#pragma once
#include <cuda_runtime.h>

#include "../../core/ops.h"
#include "kernel_params.h"

namespace nf::cuda::attn {

// Launches the forward kernel serving (T, kD) over kp's tiling (kp.m_tiles * kp.bh blocks
// by `splits` key ranges; traits.h's FwdTraits<T, kD> gives the tile shape it was planned
// for). `precision` picks float32's kernel at D <= 16 (AttentionParams' comment).
template <typename T, int kD>
void run_attention_fwd(const KernelParams& kp, int splits, AttentionPrecision precision, cudaStream_t stream);

// Merges the split partial results in cp's workspace into cp.out (one launch).
template <typename T>
void run_attention_combine(const CombineParams& cp, cudaStream_t stream);

}  // namespace nf::cuda::attn
