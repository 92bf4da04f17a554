// attention_bwd_tc_kernel: the backward of fused memory-efficient attention
// (AttentionBackwardParams, ../../core/ops.h) for float16 and bfloat16 on the tensor cores
// (mma.sync m16n8k16, float32 accumulators): dK and dV of one key tile, and its share of dQ.
//
// Tiling (bwd_traits.h, TcBwdTraits): one block per (key tile of kBN keys, batch * head). K
// and V stay in shared memory; the block walks its query tiles of kBM rows (all of them from
// the causal diagonal on, or a block layout's list), Q, dO, lse and delta copied by cp.async
// one tile ahead (kStages 2) or during the dQ product (kStages 1). Warp w owns 16 keys, and
// for them computes, all in registers:
//   S^T = K Q^T, P^T = 2^(S^T scale log2(e) + bias log2(e) - lse2) under the forward's mask,
//   causal rule and layout (0 where disallowed: lse2 = +inf makes empty and padding rows 0),
//   dP^T = V dO^T, dS^T = P^T (dP^T - delta),
//   dV += P^T dO and dK += dS^T Q, P^T and dS^T repacked as 16-bit A fragments (FA2's reuse);
// dS^T also goes to shared memory, and after a barrier the warps compute dQ = dS K over
// (query rows x D) tiles and add it to the float32 dQ workspace with atomics. dK is scaled
// once at the end; dK and dV go out through shared memory (K's and V's rows) as 16-byte
// stores where the views allow. Shared tiles are XOR-swizzled (tile.cuh) for ldmatrix.
// Key ranges bound the query tiles a block walks (bwd_walk.cuh) and are tested per element in
// the tiles that cross one. Query head h reads K and V of kv head h / kv_group; with groups,
// dK and dV go to per-query-head parts that launch_bwd.cu sums.
#pragma once
#include <cmath>
#include <cstdint>

#include "bwd.h"
#include "bwd_walk.cuh"
#include "kernel_params.h"
#include "mask.cuh"
#include "ptx.cuh"
#include "tile.cuh"

namespace nf::cuda::attn {

// A lane's byte offset into a swizzled [rows][kCols] 16-bit tile for ldmatrix.x4. kRows16:
// row lane & 15, chunk lane >> 4 (an A fragment of an [m][k] tile; with .trans, two B
// fragments of a [k][n] tile); else row (lane & 7) + 8 (lane >> 4), chunk (lane >> 3) & 1
// (two B fragments of an [n][k] tile; with .trans, an A fragment of a [k][m] tile).
template <int kCols, bool kRows16>
__device__ __forceinline__ uint32_t lane_offset(int lane) {
  const int row = kRows16 ? (lane & 15) : (lane & 7) + ((lane >> 4) << 3);
  const int chunk = kRows16 ? (lane >> 4) : ((lane >> 3) & 1);
  return static_cast<uint32_t>(row * kCols * 2 + 16 * (chunk ^ Swizzled<kCols>::swz(row & 7)));
}
// The ldmatrix address of 16-column pair `pair` from row0 (a multiple of 16) on, given a
// lane's base (a 128-byte aligned tile plus lane_offset): the XOR stays within a row.
template <int kCols>
__device__ __forceinline__ uint32_t frag_addr(uint32_t base, int row0, int pair) {
  return ((base ^ (32u * (pair & 3))) + 128u * (pair >> 2)) + static_cast<uint32_t>(row0 * kCols * 2);
}

// dst[0..1] += (x, y), float32, in global memory: one vector reduction on sm_90.
__device__ __forceinline__ void atomic_add2(float* dst, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(dst), make_float2(x, y));
#else
  atomicAdd(dst, x);
  atomicAdd(dst + 1, y);
#endif
}

// kMaskBias: the variant that reads a mask, a bias, a layout or writes dbias; kRanges (with
// kMaskBias): the one for key ranges too.
template <typename T, typename Tr, bool kMaskBias, bool kRanges = false>
__global__ void __launch_bounds__(Tr::kThreads, Tr::kMinBlocks)
    attention_bwd_tc_kernel(const __grid_constant__ KernelParams p, const __grid_constant__ BwdParams bp) {
  constexpr int kD = Tr::kD, kBM = Tr::kBM, kBN = Tr::kBN, kThreads = Tr::kThreads, kStages = Tr::kStages;
  constexpr int kDW = kD / Tr::kDSplit;  // dK, dV columns a warp holds
  constexpr int kQS = Tr::kQSub, kNQ = kQS / 8;  // query rows of a sub-tile, its 8-query n-tiles of S^T
  using LD = Swizzled<kD>;
  using LS = Swizzled<kBM>;

  extern __shared__ __align__(128) unsigned char smem[];
  T* sK = reinterpret_cast<T*>(smem);
  T* sV = sK + kBN * kD;
  T* sQ = sV + kBN * kD;              // stage s at + s kBM kD
  T* sdO = sQ + kStages * kBM * kD;   // stage s at + s kBM kD
  T* sdS = sdO + kStages * kBM * kD;  // [kBN][kBM]: dS^T
  float* sLse = reinterpret_cast<float*>(sdS + kBN * kBM);  // stage s at + s kBM
  float* sDelta = sLse + kStages * kBM;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int n_tile = static_cast<int>(blockIdx.x % static_cast<unsigned>(bp.n_tiles));
  const int bh = static_cast<int>(blockIdx.x / static_cast<unsigned>(bp.n_tiles));
  const int b = bh / p.heads, h = bh - b * p.heads;
  const int n0 = n_tile * kBN, d = p.d;
  const int kg = warp / Tr::kDSplit, dsp = warp % Tr::kDSplit;
  const int key_row0 = 16 * kg;  // this warp's keys within the tile

  const QueryTileWalk walk = query_tile_walk<kBM, kBN, kRanges>(p, bp, h, n_tile, n0);
  const int first = walk.first, count = walk.count;

  const T* gq = static_cast<const T*>(p.q) + b * p.q_s[0] + h * p.q_s[2];
  const T* gdo = static_cast<const T*>(bp.d_out) + b * bp.do_s[0] + h * bp.do_s[2];
  const float* glse = bp.lse2 + static_cast<int64_t>(bh) * bp.nq_pad;
  const float* gdelta = bp.delta + static_cast<int64_t>(bh) * bp.nq_pad;
  auto load_query_tile = [&](int m_tile, int stage) {
    const int m0 = m_tile * kBM;
    load_tile<T, kBM, kD, kThreads, LD>(sQ + stage * kBM * kD, gq + m0 * p.q_s[1], p.q_s[1], p.nq - m0, d, p.vec_q, tid);
    load_tile<T, kBM, kD, kThreads, LD>(sdO + stage * kBM * kD, gdo + m0 * bp.do_s[1], bp.do_s[1], p.nq - m0, d, bp.vec_do, tid);
    if (tid < kBM / 4) {
      cp_async<16>(smem_u32(sLse + stage * kBM + 4 * tid), glse + m0 + 4 * tid, true);
    } else if (tid < kBM / 2) {
      const int i = tid - kBM / 4;
      cp_async<16>(smem_u32(sDelta + stage * kBM + 4 * i), gdelta + m0 + 4 * i, true);
    }
  };

  {
    const int hk = p.kv_group == 1 ? h : h / p.kv_group;  // the kv head query head h reads
    const T* gk = static_cast<const T*>(p.k) + b * p.k_s[0] + hk * p.k_s[2] + n0 * p.k_s[1];
    const T* gv = static_cast<const T*>(p.v) + b * p.v_s[0] + hk * p.v_s[2] + n0 * p.v_s[1];
    load_tile<T, kBN, kD, kThreads, LD>(sK, gk, p.k_s[1], p.nk - n0, d, p.vec_k, tid);
    load_tile<T, kBN, kD, kThreads, LD>(sV, gv, p.v_s[1], p.nk - n0, d, p.vec_v, tid);
    if (first < count) {
      bool partial;
      load_query_tile(walk.at(first, &partial), 0);
    }
    cp_async_commit();
  }

  const uint32_t k_base = smem_u32(sK), v_base = smem_u32(sV), q_base = smem_u32(sQ), do_base = smem_u32(sdO);
  const uint32_t k_a = k_base + lane_offset<kD, true>(lane);     // A of K rows; B^T of K [keys][d]
  const uint32_t v_a = v_base + lane_offset<kD, true>(lane);     // A of V rows
  const uint32_t q_b = q_base + lane_offset<kD, false>(lane);    // B of Q [q][d] (n = q)
  const uint32_t q_bt = q_base + lane_offset<kD, true>(lane);    // B^T of Q [q][d] (k = q)
  const uint32_t do_b = do_base + lane_offset<kD, false>(lane);
  const uint32_t do_bt = do_base + lane_offset<kD, true>(lane);
  const uint32_t ds_at = smem_u32(sdS) + lane_offset<kBM, false>(lane);  // A^T of dS^T [keys][q]

  float acc_dk[kDW / 8][4] = {}, acc_dv[kDW / 8][4] = {};

  for (int idx = first; idx < count; ++idx) {
    bool partial;
    const int m0 = walk.at(idx, &partial) * kBM;
    const int stage = kStages == 2 ? ((idx - first) & 1) : 0;
    const uint32_t tile_off = static_cast<uint32_t>(stage * kBM * kD * 2);
    cp_async_wait_all();
    __syncthreads();  // this step's tiles landed; every warp is done with the last step's dS and stage
    if constexpr (kStages == 2) {
      if (idx + 1 < count) {
        bool next_partial;
        load_query_tile(walk.at(idx + 1, &next_partial), stage ^ 1);
      }
      cp_async_commit();
    }

    // Query sub-tiles of kQS rows one at a time (registers): S^T = K Q^T and dP^T = V dO^T
    // for this warp's 16 keys, P^T and dS^T, dV += P^T dO, dK += dS^T Q, dS^T to shared memory.
    const float* lse2 = sLse + stage * kBM;
    const float* delta = sDelta + stage * kBM;
    const bool boundary = n0 + kBN > p.nk || (p.causal && n0 + kBN - 1 > m0);
    const bool per_element = kMaskBias && (p.mask != nullptr || p.bias != nullptr || partial || (kRanges && !ranges_cover(p, m0, kBM, n0, kBN)));
#pragma unroll 1
    for (int qs = 0; qs < kBM; qs += kQS) {
      float acc_s[kNQ][4] = {}, acc_dp[kNQ][4] = {};
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk) {
        uint32_t ak[4], av[4];
        ldmatrix_x4(ak, frag_addr<kD>(k_a, key_row0, kk));
        ldmatrix_x4(av, frag_addr<kD>(v_a, key_row0, kk));
#pragma unroll
        for (int jj = 0; jj < kQS / 16; ++jj) {
          uint32_t bq[4], bo[4];
          ldmatrix_x4(bq, frag_addr<kD>(q_b, qs + 16 * jj, kk) + tile_off);
          ldmatrix_x4(bo, frag_addr<kD>(do_b, qs + 16 * jj, kk) + tile_off);
          mma_16816<T>(acc_s[2 * jj], ak, bq[0], bq[1]);
          mma_16816<T>(acc_s[2 * jj + 1], ak, bq[2], bq[3]);
          mma_16816<T>(acc_dp[2 * jj], av, bo[0], bo[1]);
          mma_16816<T>(acc_dp[2 * jj + 1], av, bo[2], bo[3]);
        }
      }

      // P^T and dS^T in place: element (j, e) is key n0 + key_row0 + g + 8 (e >> 1), query
      // m0 + qs + 8 j + 2 t4 + (e & 1).
#pragma unroll
      for (int j = 0; j < kNQ; ++j) {
        const int qc = qs + 8 * j + 2 * t4;
        const float2 l2 = *reinterpret_cast<const float2*>(lse2 + qc);
        const float2 dl = *reinterpret_cast<const float2*>(delta + qc);
        int2 rows[2] = {};  // key ranges: the two queries' allowed keys (compared only)
        if constexpr (kRanges) {
          if (per_element) {
#pragma unroll
            for (int u = 0; u < 2; ++u) rows[u] = reinterpret_cast<const int2*>(p.ranges)[min(m0 + qc + u, p.nq - 1)];
          }
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int q = m0 + qc + (e & 1), key = n0 + key_row0 + g + 8 * (e >> 1);
          float x = acc_s[j][e] * p.scale_log2;
          if (per_element) {
            x = masked_score(p, b, h, x, q, key, partial);  // -inf where disallowed: P = 0
            if constexpr (kRanges) {
              if (key < rows[e & 1].x || key >= rows[e & 1].y) x = -INFINITY;
            }
          } else if (boundary && (key >= p.nk || (p.causal && key > q))) {
            x = -INFINITY;
          }
          const float pe = fast_exp2(x - ((e & 1) ? l2.y : l2.x));
          acc_s[j][e] = pe;
          acc_dp[j][e] = pe * (acc_dp[j][e] - ((e & 1) ? dl.y : dl.x));
          if constexpr (kMaskBias) {
            if (bp.d_bias != nullptr && dsp == 0 && q < p.nq && key < p.nk) {
              bp.d_bias[(static_cast<int64_t>(bh) * p.nq + q) * p.nk + key] = acc_dp[j][e];
            }
          }
        }
      }

      // P^T and dS^T as A fragments over the queries (k-steps of 16: n-tiles 2 kk and 2 kk + 1).
      uint32_t pa[kQS / 16][4], sa[kQS / 16][4];
#pragma unroll
      for (int kk = 0; kk < kQS / 16; ++kk) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int j = 2 * kk + (i >> 1), e = 2 * (i & 1);
          pa[kk][i] = pack2<T>(acc_s[j][e], acc_s[j][e + 1]);
          sa[kk][i] = pack2<T>(acc_dp[j][e], acc_dp[j][e + 1]);
        }
      }
      // dV += P^T dO, dK += dS^T Q over this warp's kDW columns.
#pragma unroll
      for (int kk = 0; kk < kQS / 16; ++kk) {
#pragma unroll
        for (int dd = 0; dd < kDW / 16; ++dd) {
          const int pair = dsp * (kDW / 16) + dd;
          uint32_t bo[4], bq[4];
          ldmatrix_x4_trans(bo, frag_addr<kD>(do_bt, qs + 16 * kk, pair) + tile_off);
          ldmatrix_x4_trans(bq, frag_addr<kD>(q_bt, qs + 16 * kk, pair) + tile_off);
          mma_16816<T>(acc_dv[2 * dd], pa[kk], bo[0], bo[1]);
          mma_16816<T>(acc_dv[2 * dd + 1], pa[kk], bo[2], bo[3]);
          mma_16816<T>(acc_dk[2 * dd], sa[kk], bq[0], bq[1]);
          mma_16816<T>(acc_dk[2 * dd + 1], sa[kk], bq[2], bq[3]);
        }
      }
      // dS^T into shared memory for dQ (one warp of each key group).
      if (dsp == 0) {
#pragma unroll
        for (int kk = 0; kk < kQS / 16; ++kk)
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            const int row = key_row0 + g + 8 * (i & 1), col = qs + 16 * kk + 8 * (i >> 1) + 2 * t4;
            *reinterpret_cast<uint32_t*>(sdS + LS::off(row, col)) = sa[kk][i];
          }
      }
    }
    __syncthreads();  // dS^T complete; every warp is done with this step's Q and dO
    if constexpr (kStages == 1) {
      if (idx + 1 < count) {
        bool next_partial;
        load_query_tile(walk.at(idx + 1, &next_partial), 0);
      }
      cp_async_commit();
    }

    // dQ += dS K: warp (wm, wn) takes query rows wm kBM / kWarpsM.. and columns wn kDqCols..
    if (bp.dq_accum == nullptr) continue;  // dQ not wanted
    constexpr int kWarpsN = Tr::kWarps / Tr::kWarpsM, kMQ = kBM / Tr::kWarpsM / 16, kChunk = Tr::kDqChunk;
    const int wm = warp / kWarpsN, wn = warp % kWarpsN;
    const int q_row0 = wm * kMQ * 16;
#pragma unroll
    for (int c0 = 0; c0 < Tr::kDqCols; c0 += kChunk) {
      float acc_q[kMQ][kChunk / 8][4] = {};
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk) {
        uint32_t a[kMQ][4];
#pragma unroll
        for (int mi = 0; mi < kMQ; ++mi) ldmatrix_x4_trans(a[mi], frag_addr<kBM>(ds_at, 16 * kk, q_row0 / 16 + mi));
#pragma unroll
        for (int nn = 0; nn < kChunk / 16; ++nn) {
          uint32_t bk[4];
          ldmatrix_x4_trans(bk, frag_addr<kD>(k_a, 16 * kk, (wn * Tr::kDqCols + c0) / 16 + nn));
#pragma unroll
          for (int mi = 0; mi < kMQ; ++mi) {
            mma_16816<T>(acc_q[mi][2 * nn], a[mi], bk[0], bk[1]);
            mma_16816<T>(acc_q[mi][2 * nn + 1], a[mi], bk[2], bk[3]);
          }
        }
      }
#pragma unroll
      for (int mi = 0; mi < kMQ; ++mi)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int q = m0 + q_row0 + 16 * mi + g + 8 * hh;
          if (q >= p.nq) continue;
          float* dst = bp.dq_accum + (static_cast<int64_t>(bh) * p.nq + q) * kD;
#pragma unroll
          for (int n = 0; n < kChunk / 8; ++n) {
            const int col = wn * Tr::kDqCols + c0 + 8 * n + 2 * t4;
            if (col < d) atomic_add2(dst + col, acc_q[mi][n][2 * hh], acc_q[mi][n][2 * hh + 1]);
          }
        }
    }
  }

  // dK (scaled) and dV through K's and V's shared rows, then out.
  cp_async_wait_all();  // with no query tiles, the K/V copies may still be in flight
  __syncthreads();      // every warp is done with K and V
#pragma unroll
  for (int n = 0; n < kDW / 8; ++n)
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int row = key_row0 + g + 8 * hh, col = dsp * kDW + 8 * n + 2 * t4;
      *reinterpret_cast<uint32_t*>(sK + LD::off(row, col)) = pack2<T>(acc_dk[n][2 * hh] * bp.scale, acc_dk[n][2 * hh + 1] * bp.scale);
      *reinterpret_cast<uint32_t*>(sV + LD::off(row, col)) = pack2<T>(acc_dv[n][2 * hh], acc_dv[n][2 * hh + 1]);
    }
  __syncthreads();
  T* gdk = static_cast<T*>(bp.dk) + b * bp.dk_s[0] + h * bp.dk_s[2] + n0 * bp.dk_s[1];
  T* gdv = static_cast<T*>(bp.dv) + b * bp.dv_s[0] + h * bp.dv_s[2] + n0 * bp.dv_s[1];
  store_tile<T, kBN, kD, kThreads, LD>(gdk, bp.dk_s[1], sK, p.nk - n0, d, bp.vec_dk, tid);
  store_tile<T, kBN, kD, kThreads, LD>(gdv, bp.dv_s[1], sV, p.nk - n0, d, bp.vec_dv, tid);
}

}  // namespace nf::cuda::attn
