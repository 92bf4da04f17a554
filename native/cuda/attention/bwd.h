// The dense attention backward (issue 25): NOT IMPLEMENTED YET. This header is the place it
// takes, beside fwd.h and in its shape; nothing includes or calls it, and no backend method
// serves an attention backward until the CPU reference and this kernel exist.
//
// What it is to implement, FlashAttention-2 style, never storing an [Nq, Nk] matrix:
//  - the forward writes the row log-sum-exp lse[b, h, i] = m_i + log(l_i) (float32,
//    [B, H, Nq]) when asked (an optional output of AttentionParams);
//  - a preprocessing kernel: delta[b, h, i] = sum_d dO[b, i, h, d] * O[b, i, h, d] (float32);
//  - the main kernel, one block per (key tile, b, h): K and V tiles held in shared memory,
//    the query tiles walked in order, P = exp(scale * Q K^T + bias - lse) recomputed under
//    the same mask, layout, tile lists and causal rule as the forward, then
//      dV += P^T dO,  dP = dO V^T,  dS = P * (dP - delta) * scale,  dK += dS^T Q,
//    and dQ += dS K accumulated in float32 across key tiles (a float32 dQ workspace with
//    atomics, or a second pass over query tiles: to be decided by measurement);
//  - a query row with no allowed key has lse = -inf in the forward's convention: it must
//    give P = 0 and zero gradients, never NaN.
// One launcher per (dtype, head-dim bucket) in bwd_<dtype>_d<bucket>.cu, as the forward's.
#pragma once
#include <cuda_runtime.h>

#include "kernel_params.h"

namespace nf::cuda::attn {

// The backward's tensors beyond the forward's KernelParams (q, k, v, out, mask, bias, tiling).
struct BwdTensors {
  const void* d_out = nullptr;  // dO, out's layout
  const float* lse = nullptr;   // [B, H, Nq], from the forward
  float* delta = nullptr;       // [B, H, Nq] workspace
  void* dq = nullptr;           // q's layout
  void* dk = nullptr;           // k's layout
  void* dv = nullptr;           // v's layout
  float* dq_accum = nullptr;    // float32 [B, Nq, H, D] workspace, where the dQ scheme needs one
};

// To be defined in bwd_<dtype>_d<bucket>.cu (none exists yet: a call does not link).
template <typename T, int kD>
void run_attention_bwd(const KernelParams& kp, const BwdTensors& t, cudaStream_t stream);

}  // namespace nf::cuda::attn
