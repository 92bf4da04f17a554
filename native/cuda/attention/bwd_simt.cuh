// attention_bwd_simt_kernel: the backward of fused memory-efficient attention
// (AttentionBackwardParams, ../../core/ops.h) for float32 by exact float32 FMA: dK and dV of
// one key tile, and its share of dQ, as bwd_tc.cuh computes them for 16-bit types.
//
// Tiling (bwd_traits.h, SimtBwdTraits): one block of 256 threads (a 16 x 16 grid, tx and ty)
// per (key tile of kBN keys, batch * head); K and V stay in shared memory while the block
// walks its query tiles of kBM rows (Q, dO, lse and delta copied in by cp.async). A step:
//   S = Q K^T and dP = dO V^T (thread: rows ty + 16 i, keys tx + 16 j), P = 2^(S scale
//   log2(e) + bias log2(e) - lse2) under the forward's rules, dS = P (dP - delta); P and dS
//   to shared memory; then dV += P^T dO and dK += dS^T Q (thread: keys ty + 16 i, columns
//   tx + 16 c, in registers) and dQ = dS K (rows ty + 16 i, columns tx + 16 c), added to
//   the float32 dQ workspace with atomics. Key ranges and kv groups as in bwd_tc.cuh.
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

// kMaskBias: the variant that reads a mask, a bias, a layout or writes dbias; kRanges (with
// kMaskBias): the one for key ranges too.
template <typename Tr, bool kMaskBias, bool kRanges = false>
__global__ void __launch_bounds__(Tr::kThreads)
    attention_bwd_simt_kernel(const __grid_constant__ KernelParams p, const __grid_constant__ BwdParams bp) {
  constexpr int kD = Tr::kD, kBM = Tr::kBM, kBN = Tr::kBN, kThreads = Tr::kThreads;
  constexpr int kS = Tr::kStride, kPS = Tr::kPStride;
  constexpr int kTM = kBM / 16, kTN = kBN / 16, kDC = kD / 16;
  using Layout = Padded<kS>;

  extern __shared__ __align__(128) unsigned char smem[];
  float* sK = reinterpret_cast<float*>(smem);
  float* sV = sK + kBN * kS;
  float* sQ = sV + kBN * kS;
  float* sdO = sQ + kBM * kS;
  float* sP = sdO + kBM * kS;   // [kBM][kPS]
  float* sdS = sP + kBM * kPS;  // [kBM][kPS]
  float* sLse = sdS + kBM * kPS;
  float* sDelta = sLse + kBM;

  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int n_tile = static_cast<int>(blockIdx.x % static_cast<unsigned>(bp.n_tiles));
  const int bh = static_cast<int>(blockIdx.x / static_cast<unsigned>(bp.n_tiles));
  const int b = bh / p.heads, h = bh - b * p.heads;
  const int n0 = n_tile * kBN, d = p.d;

  const QueryTileWalk walk = query_tile_walk<kBM, kBN, kRanges>(p, bp, h, n_tile, n0);

  const float* gq = static_cast<const float*>(p.q) + b * p.q_s[0] + h * p.q_s[2];
  const float* gdo = static_cast<const float*>(bp.d_out) + b * bp.do_s[0] + h * bp.do_s[2];
  const float* glse = bp.lse2 + static_cast<int64_t>(bh) * bp.nq_pad;
  const float* gdelta = bp.delta + static_cast<int64_t>(bh) * bp.nq_pad;
  {
    const int hk = p.kv_group == 1 ? h : h / p.kv_group;  // the kv head query head h reads
    const float* gk = static_cast<const float*>(p.k) + b * p.k_s[0] + hk * p.k_s[2] + n0 * p.k_s[1];
    const float* gv = static_cast<const float*>(p.v) + b * p.v_s[0] + hk * p.v_s[2] + n0 * p.v_s[1];
    load_tile<float, kBN, kD, kThreads, Layout>(sK, gk, p.k_s[1], p.nk - n0, d, p.vec_k, tid);
    load_tile<float, kBN, kD, kThreads, Layout>(sV, gv, p.v_s[1], p.nk - n0, d, p.vec_v, tid);
  }

  float acc_dk[kTN][kDC] = {}, acc_dv[kTN][kDC] = {};

  for (int idx = walk.first; idx < walk.count; ++idx) {
    bool partial = false;
    const int m0 = walk.at(idx, &partial) * kBM;
    __syncthreads();  // every thread is done with the last step's Q, dO, P and dS
    load_tile<float, kBM, kD, kThreads, Layout>(sQ, gq + m0 * p.q_s[1], p.q_s[1], p.nq - m0, d, p.vec_q, tid);
    load_tile<float, kBM, kD, kThreads, Layout>(sdO, gdo + m0 * bp.do_s[1], bp.do_s[1], p.nq - m0, d, bp.vec_do, tid);
    if (tid < kBM / 4) {
      cp_async<16>(smem_u32(sLse + 4 * tid), glse + m0 + 4 * tid, true);
    } else if (tid < kBM / 2) {
      const int i = tid - kBM / 4;
      cp_async<16>(smem_u32(sDelta + 4 * i), gdelta + m0 + 4 * i, true);
    }
    cp_async_commit();
    cp_async_wait_all();
    __syncthreads();

    // S and dP, then P and dS into shared memory.
    float s[kTM][kTN] = {}, dp[kTM][kTN] = {};
#pragma unroll 2
    for (int c = 0; c < kD; c += 4) {
      float4 qv[kTM], ov[kTM], kv[kTN], vv[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) {
        qv[i] = *reinterpret_cast<const float4*>(sQ + (ty + 16 * i) * kS + c);
        ov[i] = *reinterpret_cast<const float4*>(sdO + (ty + 16 * i) * kS + c);
      }
#pragma unroll
      for (int j = 0; j < kTN; ++j) {
        kv[j] = *reinterpret_cast<const float4*>(sK + (tx + 16 * j) * kS + c);
        vv[j] = *reinterpret_cast<const float4*>(sV + (tx + 16 * j) * kS + c);
      }
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) {
          s[i][j] = fmaf(qv[i].x, kv[j].x, fmaf(qv[i].y, kv[j].y, fmaf(qv[i].z, kv[j].z, fmaf(qv[i].w, kv[j].w, s[i][j]))));
          dp[i][j] = fmaf(ov[i].x, vv[j].x, fmaf(ov[i].y, vv[j].y, fmaf(ov[i].z, vv[j].z, fmaf(ov[i].w, vv[j].w, dp[i][j]))));
        }
    }
    const bool boundary = n0 + kBN > p.nk || (p.causal && n0 + kBN - 1 > m0);
    const bool per_element = kMaskBias && (p.mask != nullptr || p.bias != nullptr || partial || (kRanges && !ranges_cover(p, m0, kBM, n0, kBN)));
#pragma unroll
    for (int i = 0; i < kTM; ++i) {
      const int r = ty + 16 * i, q = m0 + r;
#pragma unroll
      for (int j = 0; j < kTN; ++j) {
        const int key = n0 + tx + 16 * j;
        float x = s[i][j] * p.scale_log2;
        if (per_element) {
          x = masked_score<kRanges>(p, b, h, x, q, key, partial);  // -inf where disallowed: P = 0
        } else if (boundary && (key >= p.nk || (p.causal && key > q))) {
          x = -INFINITY;
        }
        const float pe = exp2f(x - sLse[r]);
        const float ds = pe * (dp[i][j] - sDelta[r]);
        sP[r * kPS + tx + 16 * j] = pe;
        sdS[r * kPS + tx + 16 * j] = ds;
        if constexpr (kMaskBias) {
          if (bp.d_bias != nullptr && q < p.nq && key < p.nk) bp.d_bias[(static_cast<int64_t>(bh) * p.nq + q) * p.nk + key] = ds;
        }
      }
    }
    __syncthreads();

    // dV += P^T dO, dK += dS^T Q.
#pragma unroll 4
    for (int r = 0; r < kBM; ++r) {
      float pv[kTN], sv[kTN];
#pragma unroll
      for (int i = 0; i < kTN; ++i) {
        pv[i] = sP[r * kPS + ty + 16 * i];
        sv[i] = sdS[r * kPS + ty + 16 * i];
      }
#pragma unroll
      for (int c = 0; c < kDC; ++c) {
        const float o = sdO[r * kS + tx + 16 * c], qq = sQ[r * kS + tx + 16 * c];
#pragma unroll
        for (int i = 0; i < kTN; ++i) {
          acc_dv[i][c] = fmaf(pv[i], o, acc_dv[i][c]);
          acc_dk[i][c] = fmaf(sv[i], qq, acc_dk[i][c]);
        }
      }
    }
    // dQ += dS K.
    if (bp.dq_accum == nullptr) continue;  // dQ not wanted
    float acc_q[kTM][kDC] = {};
#pragma unroll 4
    for (int k = 0; k < kBN; ++k) {
      float sv[kTM];
#pragma unroll
      for (int i = 0; i < kTM; ++i) sv[i] = sdS[(ty + 16 * i) * kPS + k];
#pragma unroll
      for (int c = 0; c < kDC; ++c) {
        const float kk = sK[k * kS + tx + 16 * c];
#pragma unroll
        for (int i = 0; i < kTM; ++i) acc_q[i][c] = fmaf(sv[i], kk, acc_q[i][c]);
      }
    }
#pragma unroll
    for (int i = 0; i < kTM; ++i) {
      const int q = m0 + ty + 16 * i;
      if (q >= p.nq) continue;
      float* dst = bp.dq_accum + (static_cast<int64_t>(bh) * p.nq + q) * kD;
#pragma unroll
      for (int c = 0; c < kDC; ++c) {
        if (tx + 16 * c < d) atomicAdd(dst + tx + 16 * c, acc_q[i][c]);
      }
    }
  }

  cp_async_wait_all();  // with no query tiles, the K/V copies may still be in flight
  float* gdk = static_cast<float*>(bp.dk) + b * bp.dk_s[0] + h * bp.dk_s[2] + n0 * bp.dk_s[1];
  float* gdv = static_cast<float*>(bp.dv) + b * bp.dv_s[0] + h * bp.dv_s[2] + n0 * bp.dv_s[1];
#pragma unroll
  for (int i = 0; i < kTN; ++i) {
    const int r = ty + 16 * i;
    if (n0 + r >= p.nk) continue;
#pragma unroll
    for (int c = 0; c < kDC; ++c) {
      const int col = tx + 16 * c;
      if (col < d) {
        gdk[r * bp.dk_s[1] + col] = acc_dk[i][c] * bp.scale;
        gdv[r * bp.dv_s[1] + col] = acc_dv[i][c];
      }
    }
  }
}

}  // namespace nf::cuda::attn
