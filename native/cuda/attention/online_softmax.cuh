// The online softmax over rows held in m16n8 MMA accumulator fragments (the tensor-core and
// 3xTF32 kernels' layout), and a split's partial row written from them.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernel_params.h"

namespace nf::cuda::attn {

// A row's natural-log log-sum-exp from its max m (log2 units) and its sum l of 2^(s - m):
// -inf for a row with no allowed key (l == 0), as AttentionParams' lse is.
__device__ __forceinline__ float row_lse(float m, float l) { return l > 0.f ? (m + log2f(l)) * kLn2 : -INFINITY; }

// A row's sum over the 4 lanes of its quad (each lane summed its own columns); every lane
// takes part, so it runs before any lane-dependent branch.
__device__ __forceinline__ void quad_sum_rows(float (&row_l)[2]) {
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    row_l[hh] += __shfl_xor_sync(0xffffffffu, row_l[hh], 1);
    row_l[hh] += __shfl_xor_sync(0xffffffffu, row_l[hh], 2);
  }
}

// One key tile's online softmax over a 16-row tile held in m16n8 accumulator fragments
// (rows g and g + 8, half hh of each 8-key tile, each row in the 4 lanes of a quad): the
// scores s (times sc, in log2 units) become P = exp2(s sc - m) in place, the running row max
// m and this lane's share of the row sum l are updated, and O is rescaled by exp2(m_old - m).
template <int kNT, int kDT, typename Exp2>
__device__ __forceinline__ void online_softmax_quads(float (&s)[kNT][4], float (&row_m)[2], float (&row_l)[2], float (&acc_o)[kDT][4],
                                                     float sc, Exp2 exp2) {
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < kNT; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * hh], s[j][2 * hh + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(row_m[hh], mx * sc);        // log2 units (sc > 0 keeps the order)
    const float m_sub = m_new == -INFINITY ? 0.f : m_new;  // all masked so far: exp2(-inf) = 0
    const float alpha = exp2(row_m[hh] - m_sub);
    row_m[hh] = m_new;
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float pe = exp2(fmaf(s[j][2 * hh + e], sc, -m_sub));
        s[j][2 * hh + e] = pe;
        sum += pe;
      }
    row_l[hh] = row_l[hh] * alpha + sum;  // this lane's part; the quad is summed at the end
#pragma unroll
    for (int n = 0; n < kDT; ++n) {
      acc_o[n][2 * hh] *= alpha;
      acc_o[n][2 * hh + 1] *= alpha;
    }
  }
}

// A split's partial result for one query row held in m16n8 accumulator fragments (the
// tensor-core kernels' layout: row half hh of each 8-column tile n, columns 8 n + 2 t4 and
// + 1): the unnormalized output into ws_o's row `row`, and its max and sum into ws_ml.
template <int kTiles>
__device__ __forceinline__ void store_split_row(const KernelParams& p, int64_t row, int d, const float (&acc)[kTiles][4], int hh,
                                                int t4, float row_max, float row_sum) {
  float* o = p.ws_o + row * d;
#pragma unroll
  for (int n = 0; n < kTiles; ++n) {
    const int c = n * 8 + 2 * t4;
    if (c < d) o[c] = acc[n][2 * hh];
    if (c + 1 < d) o[c + 1] = acc[n][2 * hh + 1];
  }
  if (t4 == 0) {
    p.ws_ml[row * 2] = row_max;
    p.ws_ml[row * 2 + 1] = row_sum;
  }
}

}  // namespace nf::cuda::attn
