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
        attention_tf32x3_kernel<Tf32x3D16><<<grid, Tf32x3D16::kThreads, 0, stream>>>(kp);
        NF_CHECK_LAUNCH("attention_tf32x3_kernel");
        return;
      }
    }
    if (smem > 48 * 1024) {
      NF_CUDA_CHECK(cudaFuncSetAttribute(attention_simt_kernel<Tr>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem)));
    }
    attention_simt_kernel<Tr><<<grid, Tr::kThreads, smem, stream>>>(kp);
    NF_CHECK_LAUNCH("attention_simt_kernel");
  } else {
    auto kernel = (kp.mask != nullptr || kp.bias != nullptr || kp.layout != nullptr) ? attention_tc_kernel<T, Tr, true>
                                                                                    : attention_tc_kernel<T, Tr, false>;
    if (smem > 48 * 1024) {
      NF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    }
    kernel<<<grid, Tr::kThreads, smem, stream>>>(kp);
    NF_CHECK_LAUNCH("attention_tc_kernel");
  }
}

}  // namespace nf::cuda::attn
