// Every compile-time choice of the dense attention kernels, one traits struct per
// configuration, and which configuration serves each (dtype, head-dim bucket). The timings
// behind each choice: BENCHMARKS.md (dense attention, attention at head dim 16) and the
// bodies of the commits that made them.
#pragma once
#include <cstddef>
#include <tuple>
#include <type_traits>

#include "../../core/attention_limits.h"
#include "kernel_params.h"

namespace nf::cuda::attn {

// Tensor-core kernel (fwd_tc.cuh, float16 and bfloat16): kD the padded head dim, kWarps warps
// of 16 * kMTiles query rows each, kBN keys per tile, kStages >= 2 a ring of K/V tiles, 1
// FA2's interleaved K and V buffers. Two row tiles per warp halve the shared-memory reads of
// K and V per mma (each B fragment feeds both); 64-row tiles and a deep ring suit small head
// dims, where a block's time is mostly copy latency. Shared memory: Q [kBM][kD] + kStages x
// (K, V) [kBN][kD] 16-bit elements, all under the 99 KB sm_86/sm_89 allow.
// SkipTails (see "Tail tiles" in attention_tc_kernel): bit 1 skips a tail tile's empty
// 16-key groups, bit 2 a warp whose rows all lie past Nq, bit 4 runs a tile of at most 16
// keys by code compiled for one group. Bits 1 and 2 made this kernel slower; bit 4 pays where
// the last key tile is one group (N = 197, the notebook ViT) and costs a branch elsewhere.
template <int D, int Warps, int MTiles, int BN, int Stages, int MinBlocks, int SkipTails = 0>
struct TcTraits {
  static constexpr int kD = D, kWarps = Warps, kMTiles = MTiles, kBN = BN, kStages = Stages, kMinBlocks = MinBlocks;
  static constexpr bool kSkipKeyGroups = (SkipTails & 1) != 0, kSkipIdleWarps = (SkipTails & 2) != 0;
  static constexpr bool kSpecializeTail = (SkipTails & 4) != 0;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBM = 16 * kMTiles * kWarps;
  static constexpr int kTileElems = kBN * kD;  // one K or V tile
  static constexpr size_t kSmemBytes = (static_cast<size_t>(kBM) * kD + 2 * kStages * kTileElems) * 2;  // kStages >= 1
  static_assert(kD >= 16 && kD <= kMaxAttentionHeadDim && (kD & (kD - 1)) == 0, "kD: a power of two in [16, max head dim]");
  static_assert(kBN % 16 == 0, "kBN: whole k16 steps of P V, whole x4 ldmatrix pairs of K");
  static_assert(kStages >= 1 && kStages <= 8, "1 (interleaved K and V buffers) or a ring of 2 to 8 K/V tiles");
  static_assert(kSmemBytes <= 99 * 1024, "shared memory over what sm_86/sm_89 allow");
};
// D <= 16 (ViT's 12): 128 x 64 tiles, 4 stages, 20 KB, one-group tail: the fastest D16 tiling timed (N = 197).
using Tc16 = TcTraits<16, 4, 2, 64, 4, 2, 4>;
// 64 x 64 tiles, 3 stages, 28 KB, 4 blocks an SM: the first shape, not tuned at D32 since.
using Tc32 = TcTraits<32, 4, 1, 64, 3, 4>;
// 128 x 64 tiles, 3 stages, 64 KB: at FA2's speed at D64; 3 stages beat 2, 8 warps of 16 rows were slower.
using Tc64 = TcTraits<64, 4, 2, 64, 3, 2>;
// 128 x 32 tiles, 2 stages, 64 KB: kBN = 64 (FA2's shape) does not fit 255 registers here, it spills.
using Tc128 = TcTraits<128, 4, 2, 32, 2, 2>;
// 64 x 64 tiles, interleaved K and V buffers, 96 KB: 64-key tiles fit only without a ring, and beat a 32-key ring.
using Tc256 = TcTraits<256, 4, 1, 64, 1, 1>;

// float32 SIMT kernel (fwd_simt.cuh): 256 threads, a [16 kTM, 16 kTN] score tile, rows
// padded by 4 floats (16-byte aligned, and conflict-free for the float4 reads of the score
// loop). MinBlocks: __launch_bounds__' blocks an SM; Stages: 1 (copy K[t] and V[t], wait,
// compute) or 2 (K[t + 1] and V[t + 1] copied while tile t is computed); SkipTails: a tile
// whose rows (or keys) end within its first 16 computes only those 16 (N = 197 in 64-tiles:
// 208 of 256 rows and keys computed, not 256).
template <int D, int TM, int TN, int MinBlocks = 1, int Stages = 1, bool SkipTails = true>
struct SimtTraits {
  static constexpr int kD = D, kTM = TM, kTN = TN, kMinBlocks = MinBlocks, kStages = Stages;
  static constexpr bool kSkipTails = SkipTails;
  static constexpr int kThreads = 256;
  static constexpr int kBM = 16 * kTM, kBN = 16 * kTN;
  static constexpr int kStride = kD + 4;    // Q, K, V rows
  static constexpr int kPStride = kBN + 16;  // P rows: the two half-warps land 16 banks apart
  static constexpr size_t kSmemBytes = (static_cast<size_t>(kBM + 2 * kStages * kBN) * kStride + kBM * kPStride) * 4;
  static_assert(kStages == 1 || kStages == 2, "one K/V buffer, or two in turn");
  static_assert(kD >= 16 && kD <= kMaxAttentionHeadDim && (kD & (kD - 1)) == 0, "kD: a power of two in [16, max head dim]");
  static_assert(kBN % 4 == 0 && kD % 16 == 0, "float4 steps over keys and head dim");
  static_assert(kSmemBytes <= 99 * 1024, "shared memory over what sm_86/sm_89 allow");
};
// 64 x 64 scores, 80 registers for 3 blocks an SM: faster than 2 or 1, than 128 x 64, than K/V a tile ahead.
using Simt16 = SimtTraits<16, 4, 4, 3>;
// 64 x 64 scores (4 x 4 a thread), one K/V buffer: the first shape, not tuned per D since.
using Simt32 = SimtTraits<32, 4, 4>;
using Simt64 = SimtTraits<64, 4, 4>;
// 64 x 32 and 32 x 16 scores: the score tile shrinks as a thread's kD / 16 outputs grow (registers).
using Simt128 = SimtTraits<128, 4, 2>;
using Simt256 = SimtTraits<256, 2, 1>;

// 3xTF32 kernel (fwd_tf32x3.cuh, float32 at D <= 16 on the tensor cores): 4 warps of 16 kMT
// query rows, 64-key tiles in a 2-buffer ring, 128 threads. kPresplit: the block splits each
// K/V tile once in shared memory (big parts over the floats, small parts beside them: 11 KB
// more, one more barrier a tile) instead of every warp splitting the values it reads (the
// whole tile, 4 times over). kMT: 16-row tiles a warp (2: 128-row block tiles, each K/V
// fragment read and split once for both). kIntRound: split by integer add and mask
// (split_tf32) instead of cvt.rna.tf32.
template <int MinBlocks, bool Presplit = false, int MTiles = 1, bool IntRound = false>
struct Tf32x3Traits {
  static constexpr int kD = 16, kMTiles = MTiles, kBM = 64 * kMTiles, kBN = 64, kThreads = 128, kMinBlocks = MinBlocks;
  static constexpr bool kPresplit = Presplit, kIntRound = IntRound;
};
// 64 x 64 tiles, each warp splitting what it reads, by integer rounding: faster than the
// SIMT kernel, than presplit tiles, cvt rounding or 128-row tiles.
using Tf32x3D16 = Tf32x3Traits<4, false, 1, true>;
static_assert(Tf32x3D16::kBM == Simt16::kBM && Tf32x3D16::kBN == Simt16::kBN,
              "the 3xTF32 kernel shares Simt16's tiles, grid and split workspace");

// The traits serving dtype T (float, __half, __nv_bfloat16) at head-dim bucket kD
// (kAttentionHeadDimBuckets): SIMT for float32, the tensor-core kernel for 16-bit types.
template <int kD, typename... ByBucketTraits>
using ByBucket = std::tuple_element_t<ilog2(kD) - 4, std::tuple<ByBucketTraits...>>;  // one per bucket, 16 first
template <int kD>
using TcFor = ByBucket<kD, Tc16, Tc32, Tc64, Tc128, Tc256>;
template <int kD>
using SimtFor = ByBucket<kD, Simt16, Simt32, Simt64, Simt128, Simt256>;
template <typename T, int kD>
using FwdTraits = std::conditional_t<std::is_same_v<T, float>, SimtFor<kD>, TcFor<kD>>;

}  // namespace nf::cuda::attn
