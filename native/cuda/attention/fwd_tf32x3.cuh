// attention_tf32x3_kernel: the forward of fused memory-efficient attention (AttentionParams'
// semantics, ../../core/ops.h) for float32 at head dims up to 16 on the tensor cores, each
// product in about float32 precision by the 3xTF32 split (a = a_big + a_small, both tf32;
// a b ~ a_big b_big + a_big b_small + a_small b_big, the dropped a_small b_small term below
// 2^-22 of it): AttentionPrecision::High. It shares Simt16's tiles, grid and split-KV
// workspace, so launch.cu swaps one for the other by precision alone.
//
// Tiling (traits.h, Tf32x3Traits): 4 warps of 16 kMT query rows each (64-row tiles, or 128
// with kMT = 2), key tiles of 64 in a 2-buffer ring (tile t + 1 copied while tile t is
// computed); Q scaled and split once.
// mma.m16n8k8 (tf32):
//   S = Q K^T  per warp and row tile 8 key n-tiles x 2 k-steps of 8 head dims, x 3 MMAs;
//   O = P V    8 key k-steps x 2 head-dim n-tiles, x 3 MMAs.
// The C fragment of S holds columns 2 t4 and 2 t4 + 1 of each 8-key n-tile, the A fragment
// of P V wants keys t4 and t4 + 4: the keys of each n-tile are loaded permuted (column j
// holds key perm(j) = j / 2 + 4 (j % 2)), so that S's accumulators are P V's A fragment as
// they stand. Shared memory rows padded to 20 floats (Q, K: the fragment reads of 8 rows x
// 4 columns hit 32 banks) and 24 (V: 4 rows x 8 columns), 27 KB in all (38 KB with
// kPresplit). n-tiles past Nk are skipped, as in the other kernels' tail tiles.
#pragma once
#include <cmath>
#include <cstdint>

#include "block_work.cuh"
#include "kernel_params.h"
#include "mask.cuh"
#include "online_softmax.cuh"
#include "ptx.cuh"
#include "tile.cuh"

namespace nf::cuda::attn {

// x = big + small, both tf32 (10 mantissa bits, the low 13 bits of the float zero), rounded
// to nearest. kIntRound: by integer add and mask (two full-rate ALU ops each) instead of
// cvt.rna.tf32.f32, which may issue at a lower rate; the same result but for ties, which
// round away from zero here, and for NaN payloads.
template <bool kIntRound>
__device__ __forceinline__ void split_tf32(float x, uint32_t& big, uint32_t& small) {
  if constexpr (kIntRound) {
    big = (__float_as_uint(x) + 0x1000u) & 0xffffe000u;
    small = (__float_as_uint(x - __uint_as_float(big)) + 0x1000u) & 0xffffe000u;
  } else {
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(big) : "f"(x));
    const float rest = x - __uint_as_float(big);
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(small) : "f"(rest));
  }
}

// d += a b for split operands: the small terms first, so that they are not lost under d.
__device__ __forceinline__ void mma_3xtf32(float (&d)[4], const uint32_t (&a_big)[4], const uint32_t (&a_small)[4],
                                           const uint32_t (&b_big)[2], const uint32_t (&b_small)[2]) {
  mma_tf32(d, a_small, b_big[0], b_big[1]);
  mma_tf32(d, a_big, b_small[0], b_small[1]);
  mma_tf32(d, a_big, b_big[0], b_big[1]);
}

// kRanges: the variant for key ranges (kp.ranges set).
template <typename Tr, bool kRanges = false>
__global__ void __launch_bounds__(Tr::kThreads, Tr::kMinBlocks) attention_tf32x3_kernel(const __grid_constant__ KernelParams p) {
  constexpr int kD = Tr::kD, kBM = Tr::kBM, kBN = Tr::kBN, kThreads = Tr::kThreads, kMT = Tr::kMTiles;
  constexpr bool kPresplit = Tr::kPresplit, kIntRound = Tr::kIntRound;
  constexpr int kQS = 20, kKS = 20, kVS = 24;  // row strides in floats
  __shared__ __align__(128) float sQ[kBM * kQS];
  __shared__ __align__(128) float sK[2][kBN * kKS];
  __shared__ __align__(128) float sV[2][kBN * kVS];
  __shared__ __align__(16) uint32_t sK_small[kPresplit ? kBN * kKS : 1];
  __shared__ __align__(16) uint32_t sV_small[kPresplit ? kBN * kVS : 1];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const BlockWork w = block_work<kBM, kBN, kRanges>(p);
  const int d = p.d;
  const float* gq = static_cast<const float*>(p.q) + w.b * p.q_s[0] + w.h * p.q_s[2] + w.m0 * p.q_s[1];
  const float* gk = static_cast<const float*>(p.k) + w.b * p.k_s[0] + w.hk * p.k_s[2];
  const float* gv = static_cast<const float*>(p.v) + w.b * p.v_s[0] + w.hk * p.v_s[2];

  load_tile<float, kBM, kD, kThreads, Padded<kQS>>(sQ, gq, p.q_s[1], w.rows_valid, d, p.vec_q, tid);
  cp_async_commit();
  auto load_kv = [&](int t, int stage, bool* partial) {
    const int n0 = key_tile<kBN>(p, t, partial) * kBN;
    load_tile<float, kBN, kD, kThreads, Padded<kKS>>(sK[stage], gk + n0 * p.k_s[1], p.k_s[1], p.nk - n0, d, p.vec_k, tid);
    load_tile<float, kBN, kD, kThreads, Padded<kVS>>(sV[stage], gv + n0 * p.v_s[1], p.v_s[1], p.nk - n0, d, p.vec_v, tid);
    cp_async_commit();
    return n0;
  };
  bool next_partial = false;
  int next_n0 = 0;
  if (w.t_begin < w.t_end) next_n0 = load_kv(w.t_begin, 0, &next_partial);

  // This warp's 16 kMT query rows as A fragments, scaled to log2 units and split, once.
  cp_async_wait<1>();  // Q (the first K/V tile may still be in flight)
  __syncthreads();
  const int row0 = warp * 16 * kMT;
  uint32_t q_big[kMT][2][4], q_small[kMT][2][4];
#pragma unroll
  for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
    for (int kk = 0; kk < 2; ++kk) {
      const float* q = sQ + (row0 + 16 * mi + g) * kQS + kk * 8 + t4;
      const float a[4] = {q[0], q[8 * kQS], q[4], q[8 * kQS + 4]};
#pragma unroll
      for (int i = 0; i < 4; ++i) split_tf32<kIntRound>(a[i] * p.scale_log2, q_big[mi][kk][i], q_small[mi][kk][i]);
    }

  const bool has_mask_or_bias = p.mask != nullptr || p.bias != nullptr;
  const int perm_g = (g >> 1) + ((g & 1) << 2);  // the key this lane's B column holds in each n-tile
  float acc_o[kMT][2][4] = {};
  float row_m[kMT][2], row_l[kMT][2];
#pragma unroll
  for (int mi = 0; mi < kMT; ++mi) {
    row_m[mi][0] = row_m[mi][1] = -INFINITY;
    row_l[mi][0] = row_l[mi][1] = 0.f;
  }

  for (int t = w.t_begin; t < w.t_end; ++t) {
    const int stage = (t - w.t_begin) & 1;
    const int n0 = next_n0;
    const bool partial = next_partial;
    if (t + 1 < w.t_end) {
      next_n0 = load_kv(t + 1, stage ^ 1, &next_partial);  // into the buffer tile t - 1 used
      cp_async_wait<1>();
    } else {
      cp_async_wait_all();
    }
    __syncthreads();  // K[t], V[t] landed for everyone
    float* k_tile = sK[stage];
    float* v_tile = sV[stage];
    if constexpr (kPresplit) {
      // Each thread splits 8 of the tile's 64 x 16 K values and 8 of V's, in place.
#pragma unroll
      for (int i = tid; i < kBN * kD; i += kThreads) {
        const int r = i / kD, c = i % kD;
        uint32_t big, small;
        split_tf32<kIntRound>(k_tile[r * kKS + c], big, small);
        k_tile[r * kKS + c] = __uint_as_float(big);
        sK_small[r * kKS + c] = small;
        split_tf32<kIntRound>(v_tile[r * kVS + c], big, small);
        v_tile[r * kVS + c] = __uint_as_float(big);
        sV_small[r * kVS + c] = small;
      }
      __syncthreads();
    }
    // A B fragment's two values, at `at` and `at + step` of a tile (its k rows t4 and t4 + 4), as big and small parts.
    auto b_fragment = [&](const float* tile, const uint32_t* small_tile, int at, int step, uint32_t (&big)[2], uint32_t (&small)[2]) {
      if constexpr (kPresplit) {
        big[0] = __float_as_uint(tile[at]);
        big[1] = __float_as_uint(tile[at + step]);
        small[0] = small_tile[at];
        small[1] = small_tile[at + step];
      } else {
        split_tf32<kIntRound>(tile[at], big[0], small[0]);
        split_tf32<kIntRound>(tile[at + step], big[1], small[1]);
      }
    };
    const int key_tiles = min(kBN / 8, (p.nk - n0 + 7) / 8);  // 8-key n-tiles holding a key

    // S = Q K^T; element e of acc_s[mi][j]: row row0 + 16 mi + g + 8 (e / 2), key n0 + 8 j + t4 + 4 (e % 2).
    float acc_s[kMT][kBN / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < 2; ++kk) {
#pragma unroll
      for (int j = 0; j < kBN / 8; ++j) {
        if (j >= key_tiles) break;
        uint32_t b_big[2], b_small[2];
        b_fragment(k_tile, sK_small, (8 * j + perm_g) * kKS + kk * 8 + t4, 4, b_big, b_small);
#pragma unroll
        for (int mi = 0; mi < kMT; ++mi) mma_3xtf32(acc_s[mi][j], q_big[mi][kk], q_small[mi][kk], b_big, b_small);
      }
    }
    const bool plain = !has_mask_or_bias && !partial && n0 + kBN <= p.nk && !(p.causal && n0 + kBN - 1 > w.m0) &&
                       (!kRanges || ranges_cover(p, w.m0, w.rows_valid, n0, kBN));
    if (!plain) {
#pragma unroll
      for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
        for (int j = 0; j < kBN / 8; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int row = w.m0 + row0 + 16 * mi + g + 8 * (e >> 1);
            acc_s[mi][j][e] = masked_score<kRanges>(p, w.b, w.h, acc_s[mi][j][e], row, n0 + 8 * j + t4 + 4 * (e & 1), partial);
          }
    }

    // Online softmax: rows g and g + 8 of each row tile each live in the 4 lanes of a quad
    // (the scores are in log2 units already: sc = 1; exp2f, not the 16-bit kernel's fast_exp2).
    auto exact_exp2 = [](float x) { return exp2f(x); };
#pragma unroll
    for (int mi = 0; mi < kMT; ++mi) online_softmax_quads(acc_s[mi], row_m[mi], row_l[mi], acc_o[mi], 1.f, exact_exp2);

    // O += P V: key step j's A fragment is S's n-tile j (keys t4 and t4 + 4, rows g and g + 8).
#pragma unroll
    for (int j = 0; j < kBN / 8; ++j) {
      if (j >= key_tiles) break;
      uint32_t v_big[2][2], v_small[2][2];
#pragma unroll
      for (int n = 0; n < 2; ++n) b_fragment(v_tile, sV_small, (8 * j + t4) * kVS + 8 * n + g, 4 * kVS, v_big[n], v_small[n]);
#pragma unroll
      for (int mi = 0; mi < kMT; ++mi) {
        uint32_t a_big[4], a_small[4];
        const float a[4] = {acc_s[mi][j][0], acc_s[mi][j][2], acc_s[mi][j][1], acc_s[mi][j][3]};
#pragma unroll
        for (int i = 0; i < 4; ++i) split_tf32<kIntRound>(a[i], a_big[i], a_small[i]);
#pragma unroll
        for (int n = 0; n < 2; ++n) mma_3xtf32(acc_o[mi][n], a_big, a_small, v_big[n], v_small[n]);
      }
    }
    __syncthreads();  // done with this stage before tile t + 2 is copied into it
  }

#pragma unroll
  for (int mi = 0; mi < kMT; ++mi) quad_sum_rows(row_l[mi]);
  cp_async_wait_all();
  const int64_t row_base = (static_cast<int64_t>(blockIdx.z) * p.bh + w.bh) * p.nq + w.m0;
  float* go = static_cast<float*>(p.out) + w.b * p.o_s[0] + w.h * p.o_s[2] + w.m0 * p.o_s[1];
#pragma unroll
  for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int r = row0 + 16 * mi + g + 8 * hh;
      if (r >= w.rows_valid) continue;
      if (p.ws_o != nullptr) {  // a split: the unnormalized partial output, row max and row sum
        store_split_row(p, row_base + r, d, acc_o[mi], hh, t4, row_m[mi][hh], row_l[mi][hh]);
        continue;
      }
      if (p.lse != nullptr && t4 == 0) p.lse[static_cast<int64_t>(w.bh) * p.nq + w.m0 + r] = row_lse(row_m[mi][hh], row_l[mi][hh]);
      const float inv = row_l[mi][hh] > 0.f ? 1.f / row_l[mi][hh] : 0.f;
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        const int c = 8 * n + 2 * t4;
        if (c < d) go[r * p.o_s[1] + c] = acc_o[mi][n][2 * hh] * inv;
        if (c + 1 < d) go[r * p.o_s[1] + c + 1] = acc_o[mi][n][2 * hh + 1] * inv;
      }
    }
}

}  // namespace nf::cuda::attn
