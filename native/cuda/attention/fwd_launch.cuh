// The definition behind fwd.h's run_attention_fwd: each fwd_<dtype>_d<bucket>.cu includes
// this and instantiates it for its (dtype, bucket) alone.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "../check.h"
#include "fwd.h"
#include "fwd_simt.cuh"
#include "fwd_tc.cuh"
#include "fwd_tf32x3.cuh"
#include "traits.h"

namespace nf::cuda::attn {

template <typename T, int kD>
void run_attention_fwd(const KernelParams& kp, int splits, AttentionPrecision precision, cudaStream_t stream) {
  using Tr = FwdTraits<T, kD>;
  const dim3 grid(static_cast<unsigned>(static_cast<int64_t>(kp.m_tiles) * kp.bh), 1, static_cast<unsigned>(splits));
  const size_t smem = Tr::kSmemBytes;
  if constexpr (std::is_same_v<T, float>) {
    if constexpr (kD == Tf32x3D16::kD) {  // the same tiles, grid and workspace as Simt16 (traits.h)
      if (precision == AttentionPrecision::High) {
        auto tf32x3 = kp.ranges != nullptr ? attention_tf32x3_kernel<Tf32x3D16, true> : attention_tf32x3_kernel<Tf32x3D16, false>;
        tf32x3<<<grid, Tf32x3D16::kThreads, 0, stream>>>(kp);
        NF_CHECK_LAUNCH("attention_tf32x3_kernel");
        return;
      }
    }
    auto simt = kp.ranges != nullptr ? attention_simt_kernel<Tr, true> : attention_simt_kernel<Tr, false>;
    if (smem > 48 * 1024) {
      NF_CUDA_CHECK(cudaFuncSetAttribute(simt, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    }
    simt<<<grid, Tr::kThreads, smem, stream>>>(kp);
    NF_CHECK_LAUNCH("attention_simt_kernel");
  } else {
    // Three variants: plain (the key bound and causal), per element (a mask, a bias or a
    // layout), and per element with key ranges; the first two never pay for the third.
    auto kernel = kp.ranges != nullptr ? attention_tc_kernel<T, Tr, true, true>
                  : (kp.mask != nullptr || kp.bias != nullptr || kp.layout != nullptr) ? attention_tc_kernel<T, Tr, true, false>
                                                                                       : attention_tc_kernel<T, Tr, false, false>;
    if (smem > 48 * 1024) {
      NF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    }
    kernel<<<grid, Tr::kThreads, smem, stream>>>(kp);
    NF_CHECK_LAUNCH("attention_tc_kernel");
  }
}

}  // namespace nf::cuda::attn
