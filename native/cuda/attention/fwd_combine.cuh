// attention_combine_kernel: the split-KV combine of the dense attention forward. When
// (query tiles) * batch * heads is under 2 * sm_count and the keys are long, launch.cu cuts
// the key tiles into `splits` contiguous ranges, one block each (blockIdx.z). Each writes its
// unnormalized output (float32), row max (log2 units) and row sum into the workspace, and
// this kernel merges them, one warp per (batch * head, query row).
#pragma once
#include <cmath>
#include <cstdint>

#include "../dtype_traits.cuh"
#include "kernel_params.h"
#include "online_softmax.cuh"

namespace nf::cuda::attn {

// out[b, i, h, :] = sum_s w_s O_s / sum_s w_s l_s with w_s = 2^(m_s - max_s m_s): one warp per
// (batch * head, query row), lanes along D. A row no split saw (all m_s = -inf) gives zeros.
template <typename T>
__global__ void __launch_bounds__(128) attention_combine_kernel(const __grid_constant__ CombineParams p) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * 4 + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  const int64_t rows = static_cast<int64_t>(p.bh) * p.nq;
  if (row >= rows) return;
  const int64_t split_rows = rows;  // rows per split in the workspace
  float m_max = -INFINITY;
  for (int s = 0; s < p.splits; ++s) m_max = fmaxf(m_max, p.ws_ml[(s * split_rows + row) * 2]);
  const float m_sub = m_max == -INFINITY ? 0.f : m_max;
  float l_sum = 0.f;
  for (int s = 0; s < p.splits; ++s) {
    const float m = p.ws_ml[(s * split_rows + row) * 2];
    l_sum += exp2f(m - m_sub) * p.ws_ml[(s * split_rows + row) * 2 + 1];
  }
  const float inv = l_sum > 0.f ? 1.f / l_sum : 0.f;
  if (p.lse != nullptr && lane == 0) p.lse[row] = row_lse(m_max, l_sum);
  const int bh = static_cast<int>(row / p.nq), i = static_cast<int>(row - static_cast<int64_t>(bh) * p.nq);
  const int b = bh / p.heads, h = bh - b * p.heads;
  T* o = static_cast<T*>(p.out) + b * p.o_s[0] + i * p.o_s[1] + h * p.o_s[2];
  for (int c = lane; c < p.d; c += 32) {
    float acc = 0.f;
    for (int s = 0; s < p.splits; ++s) {
      const float wgt = exp2f(p.ws_ml[(s * split_rows + row) * 2] - m_sub);
      acc = fmaf(wgt, p.ws_o[(s * split_rows + row) * p.d + c], acc);
    }
    o[c] = from_float<T>(acc * inv);
  }
}

}  // namespace nf::cuda::attn
