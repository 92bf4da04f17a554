// attention_simt_kernel: the forward of fused memory-efficient attention (AttentionParams'
// semantics, ../../core/ops.h) for float32 by exact float32 FMA, no tensor cores; the online
// softmax as in fwd_tc.cuh.
//
// Tiling (traits.h, SimtTraits): one block per (query tile of kBM rows, batch * head, key
// split). 256 threads as a 16 x 16 grid over a [kBM = 16 * kTM, kBN = 16 * kTN] score tile,
// each thread holding kTM x kTN scores (rows ty + 16 i, keys tx + 16 j) and kTM x kD / 16
// outputs (rows ty + 16 i, columns tx + 16 c); P goes through shared memory between the two
// products. K and V tiles come in by cp.async, one buffer or two in turn (kStages).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "block_work.cuh"
#include "kernel_params.h"
#include "mask.cuh"
#include "online_softmax.cuh"
#include "ptx.cuh"
#include "tile.cuh"

namespace nf::cuda::attn {

// kRanges: the variant for key ranges (kp.ranges set).
template <typename Tr, bool kRanges = false>
__global__ void __launch_bounds__(Tr::kThreads, Tr::kMinBlocks) attention_simt_kernel(const __grid_constant__ KernelParams p) {
  constexpr int kD = Tr::kD, kTM = Tr::kTM, kTN = Tr::kTN, kBM = Tr::kBM, kBN = Tr::kBN;
  constexpr int kStride = Tr::kStride, kPStride = Tr::kPStride, kThreads = Tr::kThreads;
  constexpr int kDC = kD / 16;  // output columns per thread
  using Layout = Padded<kStride>;

  constexpr int kStages = Tr::kStages;
  extern __shared__ __align__(128) unsigned char smem[];
  float* sQ = reinterpret_cast<float*>(smem);
  float* sK_all = sQ + kBM * kStride;             // kStages K tiles
  float* sV_all = sK_all + kStages * kBN * kStride;  // kStages V tiles
  float* sP = sV_all + kStages * kBN * kStride;

  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const BlockWork w = block_work<kBM, kBN, kRanges>(p);
  const int d = p.d;

  const float* gq = static_cast<const float*>(p.q) + w.b * p.q_s[0] + w.h * p.q_s[2] + w.m0 * p.q_s[1];
  const float* gk = static_cast<const float*>(p.k) + w.b * p.k_s[0] + w.hk * p.k_s[2];
  const float* gv = static_cast<const float*>(p.v) + w.b * p.v_s[0] + w.hk * p.v_s[2];
  load_tile<float, kBM, kD, kThreads, Layout>(sQ, gq, p.q_s[1], w.rows_valid, d, p.vec_q, tid);
  cp_async_commit();

  const bool has_mask_or_bias = p.mask != nullptr || p.bias != nullptr;

  float acc_o[kTM][kDC];
  float row_m[kTM], row_l[kTM];
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
#pragma unroll
    for (int c = 0; c < kDC; ++c) acc_o[i][c] = 0.f;
    row_m[i] = -INFINITY;
    row_l[i] = 0.f;
  }

  // Issues the copies of key tile t into buffer `stage`; returns its first key.
  auto load_kv = [&](int t, int stage, bool* partial) {
    const int n0 = key_tile<kBN>(p, t, partial) * kBN;
    load_tile<float, kBN, kD, kThreads, Layout>(sK_all + stage * kBN * kStride, gk + n0 * p.k_s[1], p.k_s[1], p.nk - n0, d, p.vec_k, tid);
    load_tile<float, kBN, kD, kThreads, Layout>(sV_all + stage * kBN * kStride, gv + n0 * p.v_s[1], p.v_s[1], p.nk - n0, d, p.vec_v, tid);
    cp_async_commit();
    return n0;
  };
  // One key tile's scores, online softmax and P V over the first NI row groups and NJ key
  // groups of the [kBM, kBN] tile (NI = kTM and NJ = kTN but in tail tiles).
  auto tile_step = [&](auto ni, auto nj, const float* sK, const float* sV, int n0, bool partial) {
    constexpr int NI = decltype(ni)::value, NJ = decltype(nj)::value;
    float s[NI][NJ];
#pragma unroll
    for (int i = 0; i < NI; ++i)
#pragma unroll
      for (int j = 0; j < NJ; ++j) s[i][j] = 0.f;
#pragma unroll 2
    for (int c = 0; c < kD; c += 4) {
      float4 qv[NI], kv[NJ];
#pragma unroll
      for (int i = 0; i < NI; ++i) qv[i] = *reinterpret_cast<const float4*>(sQ + (ty + 16 * i) * kStride + c);
#pragma unroll
      for (int j = 0; j < NJ; ++j) kv[j] = *reinterpret_cast<const float4*>(sK + (tx + 16 * j) * kStride + c);
#pragma unroll
      for (int i = 0; i < NI; ++i)
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
          s[i][j] = fmaf(qv[i].x, kv[j].x, s[i][j]);
          s[i][j] = fmaf(qv[i].y, kv[j].y, s[i][j]);
          s[i][j] = fmaf(qv[i].z, kv[j].z, s[i][j]);
          s[i][j] = fmaf(qv[i].w, kv[j].w, s[i][j]);
        }
    }

    const bool plain = !has_mask_or_bias && !partial && n0 + kBN <= p.nk && !(p.causal && n0 + kBN - 1 > w.m0) &&
                       (!kRanges || ranges_cover(p, w.m0, w.rows_valid, n0, kBN));
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const int row = w.m0 + ty + 16 * i;
#pragma unroll
      for (int j = 0; j < NJ; ++j) {
        s[i][j] *= p.scale_log2;
        if (!plain) s[i][j] = masked_score<kRanges>(p, w.b, w.h, s[i][j], row, n0 + tx + 16 * j, partial);
      }
    }

    // Online softmax: each row lives in the 16 lanes of one half-warp.
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < NJ; ++j) mx = fmaxf(mx, s[i][j]);
#pragma unroll
      for (int o = 1; o < 16; o <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
      const float m_new = fmaxf(row_m[i], mx);
      const float m_sub = m_new == -INFINITY ? 0.f : m_new;
      const float alpha = exp2f(row_m[i] - m_sub);
      row_m[i] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < NJ; ++j) {
        const float pe = exp2f(s[i][j] - m_sub);
        sP[(ty + 16 * i) * kPStride + tx + 16 * j] = pe;
        sum += pe;
      }
      row_l[i] = row_l[i] * alpha + sum;
#pragma unroll
      for (int c = 0; c < kDC; ++c) acc_o[i][c] *= alpha;
    }
    __syncthreads();  // P complete

#pragma unroll 2
    for (int kb = 0; kb < 16 * NJ; kb += 4) {
      float4 pv[NI];
#pragma unroll
      for (int i = 0; i < NI; ++i) pv[i] = *reinterpret_cast<const float4*>(sP + (ty + 16 * i) * kPStride + kb);
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
        for (int c = 0; c < kDC; ++c) {
          const float vv = sV[(kb + kk) * kStride + tx + 16 * c];
#pragma unroll
          for (int i = 0; i < NI; ++i) {
            const float pk = kk == 0 ? pv[i].x : kk == 1 ? pv[i].y : kk == 2 ? pv[i].z : pv[i].w;
            acc_o[i][c] = fmaf(pk, vv, acc_o[i][c]);
          }
        }
      }
    }
  };
  const int row_groups = min(kTM, (w.rows_valid + 15) / 16);

  bool next_partial = false;
  int next_n0 = 0;
  if constexpr (kStages == 2) {
    if (w.t_begin < w.t_end) next_n0 = load_kv(w.t_begin, 0, &next_partial);
  }

  for (int t = w.t_begin; t < w.t_end; ++t) {
    bool partial;  // the block layout must be tested per element in this tile
    int n0, stage = 0;
    if constexpr (kStages == 1) {
      n0 = load_kv(t, 0, &partial);
      cp_async_wait_all();
    } else {
      stage = (t - w.t_begin) & 1;
      n0 = next_n0;
      partial = next_partial;
      if (t + 1 < w.t_end) {
        next_n0 = load_kv(t + 1, stage ^ 1, &next_partial);  // into the buffer tile t - 1 used
        cp_async_wait<1>();                                  // all but that copy: Q, K[t], V[t]
      } else {
        cp_async_wait_all();
      }
    }
    const float* sK = sK_all + stage * kBN * kStride;
    const float* sV = sV_all + stage * kBN * kStride;
    __syncthreads();  // Q, K[t], V[t] landed

    // The score tile's row groups (16 rows each) and key groups (16 keys each) that hold a
    // valid row or key: a tail tile past Nq or Nk computes only those (one group each at
    // N = 197, whose last 64-tiles hold 5 rows and 5 keys), the others the whole tile.
    const int key_groups = min(kTN, (p.nk - n0 + 15) / 16);
    if constexpr (Tr::kSkipTails && kTM > 1 && kTN > 1) {
      if (row_groups == 1 && key_groups <= 1) tile_step(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{}, sK, sV, n0, partial);
      else if (row_groups == 1) tile_step(std::integral_constant<int, 1>{}, std::integral_constant<int, kTN>{}, sK, sV, n0, partial);
      else if (key_groups <= 1) tile_step(std::integral_constant<int, kTM>{}, std::integral_constant<int, 1>{}, sK, sV, n0, partial);
      else tile_step(std::integral_constant<int, kTM>{}, std::integral_constant<int, kTN>{}, sK, sV, n0, partial);
    } else {
      tile_step(std::integral_constant<int, kTM>{}, std::integral_constant<int, kTN>{}, sK, sV, n0, partial);
    }
    __syncthreads();  // done with K, V and P before the next tile overwrites them
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int o = 1; o < 16; o <<= 1) row_l[i] += __shfl_xor_sync(0xffffffffu, row_l[i], o);

  cp_async_wait_all();  // with no key tiles, Q's copies may still be in flight
  if (p.ws_o != nullptr) {
    const int64_t row_base = (static_cast<int64_t>(blockIdx.z) * p.bh + w.bh) * p.nq + w.m0;
#pragma unroll
    for (int i = 0; i < kTM; ++i) {
      const int r = ty + 16 * i;
      if (r < w.rows_valid) {
        float* o = p.ws_o + (row_base + r) * d;
#pragma unroll
        for (int c = 0; c < kDC; ++c) {
          if (tx + 16 * c < d) o[tx + 16 * c] = acc_o[i][c];
        }
        if (tx == 0) {
          p.ws_ml[(row_base + r) * 2] = row_m[i];
          p.ws_ml[(row_base + r) * 2 + 1] = row_l[i];
        }
      }
    }
    return;
  }

  float* go = static_cast<float*>(p.out) + w.b * p.o_s[0] + w.h * p.o_s[2] + w.m0 * p.o_s[1];
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int r = ty + 16 * i;
    if (r < w.rows_valid) {
      if (p.lse != nullptr && tx == 0) p.lse[static_cast<int64_t>(w.bh) * p.nq + w.m0 + r] = row_lse(row_m[i], row_l[i]);
      const float inv = row_l[i] > 0.f ? 1.f / row_l[i] : 0.f;
#pragma unroll
      for (int c = 0; c < kDC; ++c) {
        if (tx + 16 * c < d) go[r * p.o_s[1] + tx + 16 * c] = acc_o[i][c] * inv;
      }
    }
  }
}

}  // namespace nf::cuda::attn
