// Host-side pieces the dense attention's forward (launch.cu) and backward (launch_bwd.cu)
// launches share: the dispatch from (dtype, head dim) to a compiled bucket, the checks of
// AttentionParams' sizes, and the kernels' arguments. Included by .cu files only.
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>

#include "../../core/attention_limits.h"
#include "../../core/error.h"
#include "../../core/ops.h"
#include "../dtype_traits.cuh"
#include "kernel_params.h"

namespace nf::cuda::attn {

// Calls fn(T{}, std::integral_constant<int, kD>{}) for the launcher serving dtype and head
// dim: T the C++ type of the dtype, kD the head-dim bucket.
template <typename Fn>
void dispatch_attention(DType dtype, int64_t head_dim, Fn&& fn) {
  auto by_bucket = [&](auto tag) {
    switch (attention_head_dim_bucket(head_dim)) {
      case 16: fn(tag, std::integral_constant<int, 16>{}); return;
      case 32: fn(tag, std::integral_constant<int, 32>{}); return;
      case 64: fn(tag, std::integral_constant<int, 64>{}); return;
      case 128: fn(tag, std::integral_constant<int, 128>{}); return;
      case 256: fn(tag, std::integral_constant<int, 256>{}); return;
      default:
        throw_invalid("attention: head dim " + std::to_string(head_dim) + " is not supported (1 to " +
                      std::to_string(kMaxAttentionHeadDim) + ")");
    }
  };
  static_assert(kAttentionHeadDimBucketCount == 5, "a case above for each bucket of attention_limits.h");
  dispatch_float(dtype, "attention", by_bucket);
}

// Throws (naming `op`) unless the head dim is in [0, kMaxAttentionHeadDim] and batch * heads,
// nq and nk fit the kernels' int indices.
void check_dense_sizes(const AttentionParams& p, const char* op);

// log2 of the most elements (up to 16 bytes) per access that keep every access of a
// [batch, n, heads, d] view aligned and inside a row.
int vec_shift(const void* ptr, const int64_t* strides, int64_t batch, int64_t n, int64_t heads, int64_t d, size_t elem);

// The kernels' arguments from p, checked (everything but the forward's tiling and workspace).
KernelParams kernel_params(const AttentionParams& p);

}  // namespace nf::cuda::attn
