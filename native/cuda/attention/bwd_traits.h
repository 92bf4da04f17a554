// Every compile-time choice of the dense attention backward kernels (bwd_tc.cuh, bwd_simt.cuh),
// one traits struct per configuration, and which serves each (dtype, head-dim bucket). Shared
// memory stays under the 99 KB that sm_86/sm_89 allow, as the forward's does (traits.h).
#pragma once
#include <cstddef>
#include <tuple>
#include <type_traits>

#include "../../core/attention_limits.h"
#include "kernel_params.h"
#include "traits.h"

namespace nf::cuda::attn {

// Tensor-core backward (float16, bfloat16). kWarps warps; warp w owns the 16 keys
// 16 (w / kDSplit) .. + 16 of the key tile and columns (w % kDSplit) kD / kDSplit .. of their
// dK and dV (kDSplit > 1 only where a warp cannot hold all of D: the warps of one key group
// then compute the same scores). kBN = 16 kWarps / kDSplit keys a block, kBM query rows a
// step; kStages 2 copies the next query tile (Q, dO, lse, delta) during this one, 1 copies it
// during the dQ product only. Shared memory: K, V [kBN][kD], kStages x (Q, dO) [kBM][kD],
// dS [kBN][kBM] 16-bit, kStages x (lse, delta) [kBM] float32.
template <int D, int Warps, int BM, int Stages, int DSplit, int MinBlocks, int QSub, int DqChunk>
struct TcBwdTraits {
  static constexpr int kD = D, kWarps = Warps, kBM = BM, kStages = Stages, kDSplit = DSplit, kMinBlocks = MinBlocks;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBN = 16 * kWarps / kDSplit;
  static constexpr int kQSub = QSub;
  // dQ = dS K: warps tiled kWarpsM along the query rows by kWarps / kWarpsM along D, each
  // taking its columns in chunks of at most 64 (registers).
  static constexpr int kWarpsM = kWarps < kBM / 16 ? kWarps : kBM / 16;
  static constexpr int kDqCols = kD / (kWarps / kWarpsM);
  static constexpr int kDqChunk = kDqCols < DqChunk ? kDqCols : DqChunk;
  static constexpr size_t kSmemBytes =
      (static_cast<size_t>(2 * kBN * kD) + 2 * kStages * kBM * kD + kBN * kBM) * 2 + 2 * kStages * kBM * 4;
  static_assert(kD >= 16 && kD <= kMaxAttentionHeadDim && (kD & (kD - 1)) == 0, "kD: a power of two in [16, max head dim]");
  static_assert(kWarps % kDSplit == 0 && (kD / kDSplit) % 16 == 0, "whole 16-column pairs of dK, dV per warp");
  static_assert(kBM % 32 == 0 && kBM <= 64, "dS rows [kBM] hold whole swizzled 16-byte chunk groups");
  static_assert(kWarps % kWarpsM == 0 && (kBM / kWarpsM) % 16 == 0 && kDqCols % 16 == 0 && kDqCols % kDqChunk == 0,
                "whole 16 x 16 tiles of dQ per warp");
  static_assert(kStages == 1 || kStages == 2, "one query tile buffer, or two in turn");
  static_assert(kQSub % 16 == 0 && kBM % kQSub == 0, "whole 16-query k-steps per sub-tile");
  static_assert(kSmemBytes <= 99 * 1024, "shared memory over what sm_86/sm_89 allow");
};
// 64-key blocks of 4 warps, 64-row steps, the next step copied ahead.
using TcBwd16 = TcBwdTraits<16, 4, 64, 2, 1, 2, 32, 64>;
using TcBwd32 = TcBwdTraits<32, 4, 64, 2, 1, 2, 32, 64>;
// 128-key blocks of 8 warps (FA2's D64 block), 64-row steps copied ahead: 81 KB.
using TcBwd64 = TcBwdTraits<64, 8, 64, 2, 1, 1, 32, 64>;
// 64-key blocks of 4 warps, 64-row steps: dK and dV take 128 registers a thread; 72 KB.
using TcBwd128 = TcBwdTraits<128, 4, 64, 1, 1, 1, 16, 32>;
// 32-key blocks, two warps a key group (each half of D), 32-row steps: 66 KB.
using TcBwd256 = TcBwdTraits<256, 4, 32, 1, 2, 1, 16, 32>;

// float32 SIMT backward: 256 threads as a 16 x 16 grid. Scores [kBM, kBN]: a thread holds
// rows ty + 16 i and keys tx + 16 j; dK, dV [kBN, kD]: keys ty + 16 i, columns tx + 16 c;
// dQ [kBM, kD]: rows ty + 16 i, columns tx + 16 c. P and dS go through shared memory.
template <int D, int BM, int BN>
struct SimtBwdTraits {
  static constexpr int kD = D, kBM = BM, kBN = BN, kThreads = 256;
  static constexpr int kStride = kD + 4;     // Q, dO, K, V rows: 16-byte aligned
  static constexpr int kPStride = kBN + 16;  // P, dS rows: the two half-warps 16 banks apart
  static constexpr size_t kSmemBytes =
      (static_cast<size_t>(2 * kBM + 2 * kBN) * kStride + 2 * kBM * kPStride + 2 * kBM) * 4;
  static_assert(kBM % 16 == 0 && kBN % 16 == 0 && kD % 16 == 0, "whole 16-wide thread rows");
  static_assert(kSmemBytes <= 99 * 1024, "shared memory over what sm_86/sm_89 allow");
};
using SimtBwd16 = SimtBwdTraits<16, 64, 64>;
using SimtBwd32 = SimtBwdTraits<32, 64, 64>;
using SimtBwd64 = SimtBwdTraits<64, 32, 64>;
using SimtBwd128 = SimtBwdTraits<128, 32, 32>;
using SimtBwd256 = SimtBwdTraits<256, 16, 16>;

template <typename T, int kD>
using BwdTraits = std::conditional_t<std::is_same_v<T, float>, ByBucket<kD, SimtBwd16, SimtBwd32, SimtBwd64, SimtBwd128, SimtBwd256>,
                                     ByBucket<kD, TcBwd16, TcBwd32, TcBwd64, TcBwd128, TcBwd256>>;

}  // namespace nf::cuda::attn
