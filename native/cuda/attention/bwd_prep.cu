// The small kernels around the attention backward's main kernel (bwd.h), for each float dtype:
//   attention_bwd_prep_kernel   per query row: delta = sum_d dO O and lse2 = lse log2(e)
//                               (+inf for -inf and for padding rows), float32;
//   attention_dq_convert_kernel dQ = scale * the float32 dQ workspace, into dq's dtype;
//   attention_bwd_lists_kernel  the key tile -> query tile lists of a block layout;
//   attention_bwd_group_sum_kernel  dK and dV of grouped-query attention, summed over each group.
// The sparse backward (sparse_csr_bwd.cu) takes the first one too.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "../check.h"
#include "../dtype_traits.cuh"
#include "bwd.h"

namespace nf::cuda::attn {
namespace {

constexpr int kRowsPerBlock = 8;  // prep: one warp per row, 8 warps a block

// One warp per (bh, row < nq_pad): lanes take kVec-element chunks of D.
template <typename T, int kVec>
__global__ void __launch_bounds__(32 * kRowsPerBlock) attention_bwd_prep_kernel(const __grid_constant__ PrepParams p) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= static_cast<int64_t>(p.bh) * p.nq_pad) return;
  const int bh = static_cast<int>(row / p.nq_pad), i = static_cast<int>(row - static_cast<int64_t>(bh) * p.nq_pad);
  float sum = 0.f;
  if (i < p.nq) {
    const int b = bh / p.heads, h = bh - b * p.heads;
    const T* o = static_cast<const T*>(p.out) + b * p.o_s[0] + i * p.o_s[1] + h * p.o_s[2];
    const T* g = static_cast<const T*>(p.d_out) + b * p.do_s[0] + i * p.do_s[1] + h * p.do_s[2];
    for (int c = lane * kVec; c < p.d; c += 32 * kVec) {
      T ov[kVec], gv[kVec];
      if constexpr (kVec * sizeof(T) == 16) {
        *reinterpret_cast<uint4*>(ov) = *reinterpret_cast<const uint4*>(o + c);
        *reinterpret_cast<uint4*>(gv) = *reinterpret_cast<const uint4*>(g + c);
      } else {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          ov[e] = o[c + e];
          gv[e] = g[c + e];
        }
      }
#pragma unroll
      for (int e = 0; e < kVec; ++e) sum = fmaf(to_float(ov[e]), to_float(gv[e]), sum);
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (lane == 0) {
    const float l = i < p.nq ? p.lse[static_cast<int64_t>(bh) * p.nq + i] : -INFINITY;
    p.delta[row] = sum;
    p.lse2[row] = l == -INFINITY ? INFINITY : l * kLog2e;
  }
}

template <typename T>
__global__ void __launch_bounds__(256) attention_dq_convert_kernel(const __grid_constant__ DqConvertParams p) {
  const int64_t total = static_cast<int64_t>(p.bh) * p.nq * p.d;
  for (int64_t x = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; x < total; x += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = x / p.d;
    const int c = static_cast<int>(x - row * p.d);
    const int bh = static_cast<int>(row / p.nq), i = static_cast<int>(row - static_cast<int64_t>(bh) * p.nq);
    const int b = bh / p.heads, h = bh - b * p.heads;
    static_cast<T*>(p.dq)[b * p.dq_s[0] + i * p.dq_s[1] + h * p.dq_s[2] + c] = from_float<T>(p.scale * p.accum[row * p.stride + c]);
  }
}

// One thread per element of dk (and of dv): the sum of its group's parts.
template <typename T>
__global__ void __launch_bounds__(256) attention_bwd_group_sum_kernel(const __grid_constant__ GroupSumParams p) {
  const int kv_heads = p.heads / p.group;
  const int64_t total = static_cast<int64_t>(p.batch) * p.nk * kv_heads * p.d;
  for (int64_t x = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; x < total; x += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(x % p.d);
    const int64_t row = x / p.d;  // (b, j, hk)
    const int hk = static_cast<int>(row % kv_heads);
    const int64_t bj = row / kv_heads;
    const int j = static_cast<int>(bj % p.nk), b = static_cast<int>(bj / p.nk);
    const int64_t part = (bj * p.heads + static_cast<int64_t>(hk) * p.group) * p.d + c;
    float sk = 0.f, sv = 0.f;
    for (int r = 0; r < p.group; ++r) {
      sk += to_float(static_cast<const T*>(p.part_k)[part + static_cast<int64_t>(r) * p.d]);
      sv += to_float(static_cast<const T*>(p.part_v)[part + static_cast<int64_t>(r) * p.d]);
    }
    static_cast<T*>(p.dk)[b * p.dk_s[0] + j * p.dk_s[1] + hk * p.dk_s[2] + c] = from_float<T>(sk);
    static_cast<T*>(p.dv)[b * p.dv_s[0] + j * p.dv_s[1] + hk * p.dv_s[2] + c] = from_float<T>(sv);
  }
}

// The entry of forward key tile u in a forward query tile's ascending list, or -1.
__device__ int find_tile(const int32_t* cols, int begin, int end, int u) {
  while (begin < end) {
    const int mid = (begin + end) >> 1;
    const int t = static_cast<int>(static_cast<unsigned>(cols[mid]) >> 1);
    if (t == u) return cols[mid];
    if (t < u) begin = mid + 1;
    else end = mid;
  }
  return -1;
}

// One thread per (list head, backward key tile): walks the backward query tiles and tests the
// forward tiles that overlap each (BwdParams' lists; ListParams' comment).
__global__ void __launch_bounds__(128) attention_bwd_lists_kernel(const __grid_constant__ ListParams p) {
  const int64_t x = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (x >= static_cast<int64_t>(p.list_heads) * p.n_tiles) return;
  const int hl = static_cast<int>(x / p.n_tiles), u = static_cast<int>(x - static_cast<int64_t>(hl) * p.n_tiles);
  const int fwd_m_tiles = (p.nq + p.fwd_m - 1) / p.fwd_m;
  const int j0 = u * p.bn, j1 = min(j0 + p.bn, p.nk);
  const int ka = j0 / p.fwd_n, kb = (j1 - 1) / p.fwd_n;  // forward key tiles under the block's keys
  int32_t* out = p.q_lists + x * p.m_tiles;
  int count = 0;
  for (int t = 0; t < p.m_tiles; ++t) {
    const int i0 = t * p.bm, i1 = min(i0 + p.bm, p.nq);
    bool any = false, all = true;
    for (int f = i0 / p.fwd_m; f <= (i1 - 1) / p.fwd_m; ++f) {
      const int64_t o = static_cast<int64_t>(hl) * fwd_m_tiles + f;
      const int begin = min(max(p.tile_offsets[o], 0), p.tile_cols_count);
      const int end = min(max(p.tile_offsets[o + 1], begin), p.tile_cols_count);
      for (int k = ka; k <= kb; ++k) {
        const int e = find_tile(p.tile_cols, begin, end, k);
        any = any || e >= 0;
        all = all && e >= 0 && (e & 1) == 0;
      }
    }
    if (any) out[count++] = (t << 1) | (all ? 0 : 1);
  }
  p.q_counts[x] = count;
}

}  // namespace

template <typename T>
void run_bwd_prep(const PrepParams& pp, cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(pp.bh) * pp.nq_pad;
  if (rows <= 0) return;
  const unsigned blocks = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  constexpr int kWide = 16 / static_cast<int>(sizeof(T));
  if (pp.vec == kWide) {
    attention_bwd_prep_kernel<T, kWide><<<blocks, 32 * kRowsPerBlock, 0, stream>>>(pp);
  } else {
    attention_bwd_prep_kernel<T, 1><<<blocks, 32 * kRowsPerBlock, 0, stream>>>(pp);
  }
  NF_CHECK_LAUNCH("attention_bwd_prep_kernel");
}

template <typename T>
void run_dq_convert(const DqConvertParams& cp, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(cp.bh) * cp.nq * cp.d;
  if (total <= 0) return;
  const int64_t blocks = (total + 255) / 256;
  attention_dq_convert_kernel<T><<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(cp);
  NF_CHECK_LAUNCH("attention_dq_convert_kernel");
}

template <typename T>
void run_group_sum(const GroupSumParams& gp, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(gp.batch) * gp.nk * (gp.heads / gp.group) * gp.d;
  if (total <= 0) return;
  const int64_t blocks = (total + 255) / 256;
  attention_bwd_group_sum_kernel<T><<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(gp);
  NF_CHECK_LAUNCH("attention_bwd_group_sum_kernel");
}

void run_bwd_lists(const ListParams& lp, cudaStream_t stream) {
  const int64_t threads = static_cast<int64_t>(lp.list_heads) * lp.n_tiles;
  if (threads <= 0) return;
  attention_bwd_lists_kernel<<<static_cast<unsigned>((threads + 127) / 128), 128, 0, stream>>>(lp);
  NF_CHECK_LAUNCH("attention_bwd_lists_kernel");
}

template void run_bwd_prep<float>(const PrepParams&, cudaStream_t);
template void run_bwd_prep<__half>(const PrepParams&, cudaStream_t);
template void run_bwd_prep<__nv_bfloat16>(const PrepParams&, cudaStream_t);
template void run_dq_convert<float>(const DqConvertParams&, cudaStream_t);
template void run_dq_convert<__half>(const DqConvertParams&, cudaStream_t);
template void run_dq_convert<__nv_bfloat16>(const DqConvertParams&, cudaStream_t);
template void run_group_sum<float>(const GroupSumParams&, cudaStream_t);
template void run_group_sum<__half>(const GroupSumParams&, cudaStream_t);
template void run_group_sum<__nv_bfloat16>(const GroupSumParams&, cudaStream_t);

}  // namespace nf::cuda::attn
