// Which scores a dense attention kernel allows: the key bound, causal, the key ranges, the
// element mask, the block layout, and the additive bias, all read from KernelParams.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "../../core/dtype.h"
#include "block_work.cuh"
#include "kernel_params.h"

namespace nf::cuda::attn {

__device__ __forceinline__ float load_bias(const void* bias, int dtype, int64_t idx) {
  if (dtype == static_cast<int>(DType::Float16)) return __half2float(static_cast<const __half*>(bias)[idx]);
  if (dtype == static_cast<int>(DType::BFloat16)) return __bfloat162float(static_cast<const __nv_bfloat16*>(bias)[idx]);
  return static_cast<const float*>(bias)[idx];
}

// The score of (row, col) in log2 units, given the scaled dot product s, or -inf when the key is
// disallowed. Everything but (b, h, row, col) is read from the kernel parameters (constant
// bank), so the masked path holds no extra registers across the key loop. Rows >= nq (never
// stored) read no mask or bias.
__device__ __forceinline__ bool layout_allows(const KernelParams& p, int h, int64_t row, int64_t col) {
  const int64_t hl = p.layout_heads == 1 ? 0 : h;
  return p.layout[(hl * p.layout_rows + (row >> p.layout_shift)) * p.layout_cols + (col >> p.layout_shift)] != 0;
}

// kRanges: the kernel variant for key ranges (kp.ranges set), which tests them here too.
template <bool kRanges = false>
__device__ __forceinline__ float masked_score(const KernelParams& p, int b, int h, float s, int row, int col, bool partial) {
  bool ok = col < p.nk && !(p.causal && col > row);
  if (ok && row < p.nq) {
    if (partial) ok = layout_allows(p, h, row, col);
    if constexpr (kRanges) {  // compared only: unclamped (row < nq here)
      const int2 r = reinterpret_cast<const int2*>(p.ranges)[row];
      ok = ok && col >= r.x && col < r.y;
    }
    if (ok && p.mask != nullptr) {
      ok = p.mask[b * p.mask_s[0] + h * p.mask_s[1] + row * p.mask_s[2] + col * p.mask_s[3]] != 0;
    }
    if (ok && p.bias != nullptr) {
      const int64_t idx = b * p.bias_s[0] + h * p.bias_s[1] + row * p.bias_s[2] + col * p.bias_s[3];
      s = fmaf(load_bias(p.bias, p.bias_dtype, idx), kLog2e, s);
    }
  }
  return ok ? s : -INFINITY;
}

}  // namespace nf::cuda::attn
