// attention_tc_kernel: the forward of fused memory-efficient attention (AttentionParams'
// semantics, ../../core/ops.h) for float16 and bfloat16 on the tensor cores. The [nq, nk]
// score matrix never exists: each block keeps its query rows' running max, running sum and
// unnormalized output (the online softmax) while it walks the keys a tile at a time.
//
// Tiling (traits.h, TcTraits): one block per (query tile of kBM rows, batch * head, key
// split); warp w owns query rows [16 * kMTiles * w, 16 * kMTiles * (w + 1)) of the tile.
// Q comes into shared memory once; K and V tiles of kBN keys stream in with 16-byte
// cp.async, either through a ring of kStages tiles (tile t + kStages - 1 copied while tile t
// is computed, one barrier per tile) or, kStages == 1, FA2's interleaving of one K and one V
// buffer (V[t] copied during Q K[t]^T, K[t + 1] during P V[t]). Shared rows are XOR-swizzled
// in 16-byte chunks so that ldmatrix reads them without bank conflicts. Each warp computes
// S = Q K^T with mma.sync m16n8k16 (float32 accumulators), masks S in registers, updates the
// online softmax in log2 units (exp2, the scale folded into its FFMA), packs P to 16 bits in
// registers and accumulates O += P V (ldmatrix.trans of V): S, P and O never leave
// registers. The head dim is padded to the bucket kD: padded columns load as zeros and are
// never stored. O goes out through shared memory (reusing Q's rows) as 16-byte stores when
// the view's alignment allows; views whose base, strides or D are not 16-byte multiples take
// 8-, 4- or 2-byte copies instead. A split block writes its partial row state instead
// (fwd_combine.cuh).
//
// A key is allowed for query i when j < nk, j <= i if causal, lo_i <= j < hi_i under key
// ranges, and mask[b, h, i, j] != 0; disallowed scores are -inf. Key ranges also bound the key
// tiles a block walks (block_work.cuh); query head h reads K and V of kv head h / kv_group. A
// row whose running max is still -inf subtracts 0 instead, so exp2 gives exact zeros and never
// NaN; the final 1 / l is 0 when l == 0.
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

// kMaskBias: the variant that reads a mask, a bias or a layout; kRanges (with kMaskBias): the
// one for key ranges too.
template <typename T, typename Tr, bool kMaskBias, bool kRanges = false>
__global__ void __launch_bounds__(Tr::kThreads, Tr::kMinBlocks) attention_tc_kernel(const __grid_constant__ KernelParams p) {
  constexpr int kD = Tr::kD, kBM = Tr::kBM, kBN = Tr::kBN, kMT = Tr::kMTiles, kThreads = Tr::kThreads;
  constexpr int kDT = kD / 8;  // 8-wide column tiles of O (S has 2 kG 8-key ones: tile_step)
  using Layout = Swizzled<kD>;

  constexpr int kStages = Tr::kStages, kTileElems = Tr::kTileElems;

  extern __shared__ __align__(128) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + kBM * kD;               // stage s: sK + 2 s kTileElems
  T* sV = sK + kTileElems;             // stage s: sV + 2 s kTileElems

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;  // the mma fragment's row group and column pair
  const BlockWork w = block_work<kBM, kBN, kRanges>(p);
  const int d = p.d;

  const T* gq = static_cast<const T*>(p.q) + w.b * p.q_s[0] + w.h * p.q_s[2] + w.m0 * p.q_s[1];
  const T* gk = static_cast<const T*>(p.k) + w.b * p.k_s[0] + w.hk * p.k_s[2];
  const T* gv = static_cast<const T*>(p.v) + w.b * p.v_s[0] + w.hk * p.v_s[2];

  // K and V of the key tile at walk position idx into ring stage `stage`.
  auto load_kv = [&](int idx, int stage) {
    bool partial;
    const int n0 = key_tile<kBN>(p, idx, &partial) * kBN;
    T* k_dst = sK + 2 * stage * kTileElems;
    load_tile<T, kBN, kD, kThreads, Layout>(k_dst, gk + n0 * p.k_s[1], p.k_s[1], p.nk - n0, d, p.vec_k, tid);
    load_tile<T, kBN, kD, kThreads, Layout>(k_dst + kTileElems, gv + n0 * p.v_s[1], p.v_s[1], p.nk - n0, d, p.vec_v, tid);
  };

  // Prologue: copy groups 0 .. kStages - 2 hold Q + tile t_begin, then the next tiles (empty
  // groups past t_end keep the count uniform for cp.async.wait_group). kStages == 1 (FA2's
  // interleaving, one K and one V buffer): group 0 holds Q and K[t_begin]; V[t] is copied
  // during Q K[t]^T and K[t + 1] during P V[t].
  load_tile<T, kBM, kD, kThreads, Layout>(sQ, gq, p.q_s[1], w.rows_valid, d, p.vec_q, tid);
  if constexpr (kStages == 1) {
    if (w.t_begin < w.t_end) {
      bool partial;
      const int n0 = key_tile<kBN>(p, w.t_begin, &partial) * kBN;
      load_tile<T, kBN, kD, kThreads, Layout>(sK, gk + n0 * p.k_s[1], p.k_s[1], p.nk - n0, d, p.vec_k, tid);
    }
    cp_async_commit();
  }
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (w.t_begin + s < w.t_end) load_kv(w.t_begin + s, s);
    cp_async_commit();
  }

  // Per-lane ldmatrix addresses. Every row a lane addresses is (lane & 7) plus a multiple of
  // 8, so its swizzle is one per-lane constant, and the 16-byte chunk 2 i + cbit of that row
  // sits at byte (B ^ 32 (i & 3)) + 128 (i >> 2), B = row address + 16 (cbit ^ swizzle):
  // one XOR per access, the rest immediate offsets (rows are 128-byte aligned for kD >= 64,
  // and the XOR stays inside a row for kD = 16, 32).
  const int sw = Layout::swz(lane & 7);
  const int warp_row0 = warp * 16 * kMT;
  const uint32_t q_base = smem_u32(sQ + (warp_row0 + (lane & 15)) * kD) + 16 * ((lane >> 4) ^ sw);
  const uint32_t k_base = smem_u32(sK + ((lane & 7) + ((lane >> 4) << 3)) * kD) + 16 * (((lane >> 3) & 1) ^ sw);
  const uint32_t v_base = smem_u32(sV + ((lane & 7) + (((lane >> 3) & 1) << 3)) * kD) + 16 * ((lane >> 4) ^ sw);
  auto chunk_addr = [](uint32_t base, int i) { return (base ^ (32u * (i & 3))) + 128u * (i >> 2); };

  float acc_o[kMT][kDT][4];
  float row_m[kMT][2], row_l[kMT][2];
#pragma unroll
  for (int mi = 0; mi < kMT; ++mi) {
#pragma unroll
    for (int n = 0; n < kDT; ++n) acc_o[mi][n][0] = acc_o[mi][n][1] = acc_o[mi][n][2] = acc_o[mi][n][3] = 0.f;
    row_m[mi][0] = row_m[mi][1] = -INFINITY;
    row_l[mi][0] = row_l[mi][1] = 0.f;
  }

  int stage = 0;  // (t - t_begin) % kStages
  for (int t = w.t_begin; t < w.t_end; ++t) {
    bool partial;  // the block layout must be tested per element in this tile
    const int n0 = key_tile<kBN>(p, t, &partial) * kBN;
    if constexpr (kStages == 1) {
      cp_async_wait_all();  // K[t] (and Q)
      __syncthreads();      // ... for everyone; and every warp is done with V[t - 1]
      load_tile<T, kBN, kD, kThreads, Layout>(sV, gv + n0 * p.v_s[1], p.v_s[1], p.nk - n0, d, p.vec_v, tid);
      cp_async_commit();
    } else {
      cp_async_wait<kStages - 2>();  // this thread's copies of tile t (and Q) are done
      __syncthreads();  // ... everyone's; and every warp is done with tile t - 1's stage
      const int ahead = stage == 0 ? kStages - 1 : stage - 1;  // tile t - 1's stage, free now
      if (t + kStages - 1 < w.t_end) load_kv(t + kStages - 1, ahead);
      cp_async_commit();
    }
    const uint32_t stage_off = static_cast<uint32_t>(stage * 2 * kTileElems * 2);  // bytes

    // Tail tiles (when the traits' SkipTails asks; of the library's, Tc16 takes bit 4): past Nk, a key
    // tile's 16-key groups beyond the last key hold nothing; their MMAs are skipped (bit 1:
    // their scores stay 0 and the boundary test makes them -inf, so P is 0 there; bit 4: a
    // tile of at most 16 keys runs a copy of the tile's code made for one group). With a ring
    // of stages (no copy between Q K^T and P V), a warp whose rows all lie past Nq skips the
    // tile's work (bit 2). At N = 197 (64-key tiles, 128-row tiles) that leaves the last key
    // tile one group of 4 and the last query tile's fourth warp idle.
    const int key_groups = Tr::kSkipKeyGroups ? min(kBN / 16, (p.nk - n0 + 15) / 16) : kBN / 16;
    if (Tr::kSkipIdleWarps && kStages > 1 && warp_row0 >= w.rows_valid) {  // nothing below but this warp's work
      stage = stage + 1 >= kStages ? 0 : stage + 1;
      continue;
    }

    // One key tile's work, kG of its 16-key groups (all kBN / 16, or 1 for a tail tile of at
    // most 16 keys when the traits specialize it: SkipTails bit 4).
    auto tile_step = [&](auto groups) {
      constexpr int kG = decltype(groups)::value, kNTg = 2 * kG;
      // S = Q K^T
      float acc_s[kMT][kNTg][4];
#pragma unroll
      for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
        for (int j = 0; j < kNTg; ++j) acc_s[mi][j][0] = acc_s[mi][j][1] = acc_s[mi][j][2] = acc_s[mi][j][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk) {
        uint32_t a[kMT][4];
#pragma unroll
        for (int mi = 0; mi < kMT; ++mi) ldmatrix_x4(a[mi], chunk_addr(q_base, kk) + mi * 16 * kD * 2);
#pragma unroll
        for (int nn = 0; nn < kG; ++nn) {
          if (nn >= key_groups) break;
          uint32_t bk[4];
          ldmatrix_x4(bk, chunk_addr(k_base, kk) + stage_off + nn * 16 * kD * 2);
#pragma unroll
          for (int mi = 0; mi < kMT; ++mi) {
            mma_16816<T>(acc_s[mi][2 * nn], a[mi], bk[0], bk[1]);
            mma_16816<T>(acc_s[mi][2 * nn + 1], a[mi], bk[2], bk[3]);
          }
        }
      }

      // Disallowed scores become -inf. Without mask, bias and layout, only the boundary test
      // below runs, and with a positive scale the raw dot products stay unscaled, the scale
      // folding into the exponent's FFMA (sc). Otherwise the scores are scaled to log2 units
      // here and sc = 1.
      const bool prescale = kMaskBias || !(p.scale_log2 > 0.f);
      const float sc = prescale ? 1.f : p.scale_log2;
      if (prescale) {
#pragma unroll
        for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
          for (int j = 0; j < kNTg; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc_s[mi][j][e] *= p.scale_log2;
      }
      // A tile that crosses nk or the causal diagonal needs the boundary test: key col is
      // allowed for row iff col < min(nk, causal ? row + 1 : nk).
      auto mask_boundary = [&] {
#pragma unroll
        for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
          for (int hh = 0; hh < 2; ++hh) {
            const int row = w.m0 + warp_row0 + mi * 16 + g + 8 * hh;
            const int lim = (p.causal ? min(p.nk, row + 1) : p.nk) - n0 - 2 * t4;  // allowed: 8 j + e < lim
#pragma unroll
            for (int j = 0; j < kNTg; ++j)
#pragma unroll
              for (int e = 0; e < 2; ++e) {
                if (8 * j + e >= lim) acc_s[mi][j][2 * hh + e] = -INFINITY;
              }
          }
      };
      const bool boundary = n0 + kBN > p.nk || (p.causal && n0 + kBN - 1 > w.m0);
      if constexpr (kMaskBias) {
        // Key ranges: per element only in the tiles that cross a row's range.
        const bool ranged = kRanges && !ranges_cover(p, w.m0, w.rows_valid, n0, kBN);
        if (p.mask != nullptr || p.bias != nullptr || partial || ranged) {
          // Per element, branch-free: every load is in bounds (row and column clamped; clamped
          // entries are disallowed or belong to rows that are never stored), the tests are
          // selects. The row index goes through an opaque move so that the per-row offsets are
          // recomputed here instead of being hoisted out of the key loop, where they would hold
          // ~30 registers.
#pragma unroll
          for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
            for (int hh = 0; hh < 2; ++hh) {
              const int row = opaque(w.m0 + warp_row0 + mi * 16 + g + 8 * hh);
              int lim = (p.causal ? min(p.nk, row + 1) : p.nk) - n0 - 2 * t4;
              const int64_t row_c = min(row, p.nq - 1);
              [[maybe_unused]] int lim_lo = 0;  // key ranges: allowed where lim_lo <= 8 j + e < lim
              if constexpr (kRanges) {
                if (ranged) {  // compared only: unclamped
                  const int2 range = reinterpret_cast<const int2*>(p.ranges)[row_c];
                  lim = min(lim, range.y - n0 - 2 * t4);
                  lim_lo = range.x - n0 - 2 * t4;
                }
              }
              const int col0 = n0 + 2 * t4;
#pragma unroll
              for (int j = 0; j < kNTg; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                  const int64_t col_c = min(col0 + 8 * j + e, p.nk - 1);
                  bool ok = 8 * j + e < lim;
                  if constexpr (kRanges) ok = ok && 8 * j + e >= lim_lo;
                  float v = acc_s[mi][j][2 * hh + e];
                  if (partial) ok = ok && layout_allows(p, w.h, row_c, col_c);
                  if (p.mask != nullptr) ok = ok && p.mask[w.b * p.mask_s[0] + w.h * p.mask_s[1] + row_c * p.mask_s[2] + col_c * p.mask_s[3]] != 0;
                  if (p.bias != nullptr) {
                    v = fmaf(load_bias(p.bias, p.bias_dtype, w.b * p.bias_s[0] + w.h * p.bias_s[1] + row_c * p.bias_s[2] + col_c * p.bias_s[3]), kLog2e, v);
                  }
                  acc_s[mi][j][2 * hh + e] = ok ? v : -INFINITY;
                }
            }
        } else if (boundary) {
          mask_boundary();
        }
      } else if (boundary) {
        mask_boundary();
      }

      // Online softmax: each row lives in the 4 lanes of one quad.
#pragma unroll
      for (int mi = 0; mi < kMT; ++mi) online_softmax_quads(acc_s[mi], row_m[mi], row_l[mi], acc_o[mi], sc, fast_exp2);

      // P to 16 bits: the accumulators of key tiles 2 kk and 2 kk + 1 are the A fragment of
      // key step kk of P V (FA2's register reuse). Packing before the K copy below frees half
      // of S's registers while the copy's addresses are live.
      uint32_t pa[kMT][kG][4];
#pragma unroll
      for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
        for (int kk = 0; kk < kG; ++kk) {
          pa[mi][kk][0] = pack2<T>(acc_s[mi][2 * kk][0], acc_s[mi][2 * kk][1]);
          pa[mi][kk][1] = pack2<T>(acc_s[mi][2 * kk][2], acc_s[mi][2 * kk][3]);
          pa[mi][kk][2] = pack2<T>(acc_s[mi][2 * kk + 1][0], acc_s[mi][2 * kk + 1][1]);
          pa[mi][kk][3] = pack2<T>(acc_s[mi][2 * kk + 1][2], acc_s[mi][2 * kk + 1][3]);
        }

      if constexpr (kStages == 1) {
        cp_async_wait_all();  // V[t]
        __syncthreads();      // ... for everyone; and every warp is done with K[t]
        if (t + 1 < w.t_end) {
          bool next_partial;
          const int n1 = key_tile<kBN>(p, t + 1, &next_partial) * kBN;
          load_tile<T, kBN, kD, kThreads, Layout>(sK, gk + n1 * p.k_s[1], p.k_s[1], p.nk - n1, d, p.vec_k, tid);
        }
        cp_async_commit();
      }

      // O += P V
#pragma unroll
      for (int kk = 0; kk < kG; ++kk) {
        if (kk >= key_groups) break;
#pragma unroll
        for (int dd = 0; dd < kD / 16; ++dd) {
          uint32_t bv[4];
          ldmatrix_x4_trans(bv, chunk_addr(v_base, dd) + stage_off + kk * 16 * kD * 2);
#pragma unroll
          for (int mi = 0; mi < kMT; ++mi) {
            mma_16816<T>(acc_o[mi][2 * dd], pa[mi][kk], bv[0], bv[1]);
            mma_16816<T>(acc_o[mi][2 * dd + 1], pa[mi][kk], bv[2], bv[3]);
          }
        }
      }
    };
    if constexpr (Tr::kSpecializeTail) {
      if (p.nk - n0 <= 16) {
        tile_step(std::integral_constant<int, 1>{});
      } else {
        tile_step(std::integral_constant<int, kBN / 16>{});
      }
    } else {
      tile_step(std::integral_constant<int, kBN / 16>{});
    }
    stage = stage + 1 >= kStages ? 0 : stage + 1;
  }

#pragma unroll
  for (int mi = 0; mi < kMT; ++mi) quad_sum_rows(row_l[mi]);

  cp_async_wait_all();  // with no key tiles, Q's copies may still be in flight
  if (p.ws_o != nullptr) {
    // Split: the unnormalized partial output, row max and row sum, float32.
    const int64_t row_base = (static_cast<int64_t>(blockIdx.z) * p.bh + w.bh) * p.nq + w.m0;
#pragma unroll
    for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int r = warp_row0 + mi * 16 + g + 8 * hh;
        if (r < w.rows_valid) store_split_row(p, row_base + r, d, acc_o[mi], hh, t4, row_m[mi][hh], row_l[mi][hh]);
      }
    return;
  }

  if (p.lse != nullptr && t4 == 0) {
#pragma unroll
    for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int r = warp_row0 + mi * 16 + g + 8 * hh;
        if (r < w.rows_valid) p.lse[static_cast<int64_t>(w.bh) * p.nq + w.m0 + r] = row_lse(row_m[mi][hh], row_l[mi][hh]);
      }
  }

  // Normalize, stage O in Q's rows (16-bit), then store coalesced.
  __syncthreads();  // every thread's Q copies have landed (no key tiles: they were pending)
#pragma unroll
  for (int mi = 0; mi < kMT; ++mi)
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const float inv = row_l[mi][hh] > 0.f ? 1.f / row_l[mi][hh] : 0.f;
      const int r = warp_row0 + mi * 16 + g + 8 * hh;
#pragma unroll
      for (int n = 0; n < kDT; ++n) {
        *reinterpret_cast<uint32_t*>(sQ + Layout::off(r, n * 8 + 2 * t4)) =
            pack2<T>(acc_o[mi][n][2 * hh] * inv, acc_o[mi][n][2 * hh + 1] * inv);
      }
    }
  __syncthreads();
  T* go = static_cast<T*>(p.out) + w.b * p.o_s[0] + w.h * p.o_s[2] + w.m0 * p.o_s[1];
  store_tile<T, kBM, kD, kThreads, Layout>(go, p.o_s[1], sQ, w.rows_valid, d, p.vec_o, tid);
}

}  // namespace nf::cuda::attn
