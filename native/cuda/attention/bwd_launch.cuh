// The definition behind bwd.h's run_attention_bwd: each
// bwd_<dtype>_d<bucket>.cu includes this and instantiates them for its (dtype, bucket) alone.
#pragma once
#include <cuda_runtime.h>

#include <type_traits>

#include "../check.h"
#include "bwd.h"
#include "bwd_simt.cuh"
#include "bwd_tc.cuh"
#include "bwd_traits.h"

namespace nf::cuda::attn {

// The main kernel for T at configuration Tr (BwdTraits<T, kD>, or another for a benchmark).
template <typename T, typename Tr>
void run_attention_bwd_with(const KernelParams& kp, const BwdParams& bp, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(static_cast<int64_t>(bp.n_tiles) * kp.bh));
  const size_t smem = Tr::kSmemBytes;
  // The per-element variant where anything but the key bound and the causal rule decides.
  const bool masked = kp.mask != nullptr || kp.bias != nullptr || kp.layout != nullptr || bp.d_bias != nullptr;
  auto launch = [&](auto kernel, const char* name) {
    if (smem > 48 * 1024) {
      NF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    }
    kernel<<<grid, Tr::kThreads, smem, stream>>>(kp, bp);
    NF_CHECK_LAUNCH(name);
  };
  // Key ranges take a variant of their own, so that the other two never pay for them.
  if constexpr (std::is_same_v<T, float>) {
    if (kp.ranges != nullptr) launch(attention_bwd_simt_kernel<Tr, true, true>, "attention_bwd_simt_kernel");
    else if (masked) launch(attention_bwd_simt_kernel<Tr, true>, "attention_bwd_simt_kernel");
    else launch(attention_bwd_simt_kernel<Tr, false>, "attention_bwd_simt_kernel");
  } else {
    if (kp.ranges != nullptr) launch(attention_bwd_tc_kernel<T, Tr, true, true>, "attention_bwd_tc_kernel");
    else if (masked) launch(attention_bwd_tc_kernel<T, Tr, true>, "attention_bwd_tc_kernel");
    else launch(attention_bwd_tc_kernel<T, Tr, false>, "attention_bwd_tc_kernel");
  }
}

template <typename T, int kD>
void run_attention_bwd(const KernelParams& kp, const BwdParams& bp, cudaStream_t stream) {
  run_attention_bwd_with<T, BwdTraits<T, kD>>(kp, bp, stream);
}

}  // namespace nf::cuda::attn
