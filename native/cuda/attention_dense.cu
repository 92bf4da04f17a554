// Fused memory-efficient attention (the flash-style kernel) over [B, N, H, D] views; the
// exact semantics are AttentionParams' comment in ../core/ops.h. The [nq, nk] score matrix
// never exists: each block keeps its query rows' running max, running sum and unnormalized
// output (the online softmax) while it walks the keys a tile at a time.
//
// attention_tc_kernel (float16, bfloat16): one block per (query tile of kBM rows, batch *
// head, key split); warp w owns query rows [16 * kMTiles * w, 16 * kMTiles * (w + 1)) of
// the tile. Q comes into shared memory once; K and V tiles of kBN keys stream in with
// 16-byte cp.async, either through a ring of kStages tiles (tile t + kStages - 1 copied while
// tile t is computed, one barrier per tile) or, kStages == 1, FA2's interleaving of one K
// and one V buffer (V[t] copied during Q K[t]^T, K[t + 1] during P V[t]). Shared rows are
// XOR-swizzled in 16-byte chunks so that ldmatrix reads them without bank conflicts. Each
// warp computes S = Q K^T with mma.sync m16n8k16 (float32 accumulators), masks S in
// registers, updates the online softmax in log2 units (exp2, the scale folded into its
// FFMA), packs P to 16 bits in registers and accumulates O += P V (ldmatrix.trans of V):
// S, P and O never leave registers. The head dim is padded to the bucket kD (16, 32, 64,
// 128, 256): padded columns load as zeros and are never stored. O goes out through shared
// memory (reusing Q's rows) as 16-byte stores when the view's alignment allows; views whose
// base, strides or D are not 16-byte multiples take 8-, 4- or 2-byte copies instead.
//
// attention_simt_kernel (float32): exact float32 FMA, no tensor cores. 256 threads as a
// 16 x 16 grid over a [kBM = 16 * kTM, kBN = 16 * kTN] score tile, each thread holding
// kTM x kTN scores (rows ty + 16 i, keys tx + 16 j) and kTM x kD / 16 outputs (rows
// ty + 16 i, columns tx + 16 c); P goes through shared memory between the two products.
//
// Split-KV: when (query tiles) * batch * heads is under 2 * sm_count and the keys are long,
// the key tiles are cut into `splits` contiguous ranges, one block each (blockIdx.z). Each
// writes its unnormalized output (float32), row max (log2 units) and row sum into the
// workspace, and attention_combine_kernel merges them, one warp per (batch * head, query row).
//
// A key is allowed for query i when j < nk, j <= i if causal, and mask[b, h, i, j] != 0;
// disallowed scores are -inf. A row whose running max is still -inf subtracts 0 instead,
// so exp2 gives exact zeros and never NaN; the final 1 / l is 0 when l == 0.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kMaxSplits = 64;

constexpr int ilog2(int x) { return x <= 1 ? 0 : 1 + ilog2(x / 2); }

// ---- compile-time choices ------------------------------------------------------------------

// Tensor-core path: kD the padded head dim, kWarps warps of 16 * kMTiles query rows each,
// kBN keys per tile, kStages as above. Two row tiles per warp halve the shared-memory reads
// of K and V per mma (each B fragment feeds both); 64-row tiles and a deep ring suit small
// head dims, where a block's time is mostly copy latency. Shared memory: Q [kBM][kD] +
// kStages x (K, V) [kBN][kD] 16-bit elements, all under the 99 KB sm_86/sm_89 allow.
// kBN = 64 at kD = 128 (FA2's shape) does not fit 255 registers here: it spills. Skipping
// the O rescale when a warp's alpha is all 1 (a vote and a branch per row) cost 5-8%.
// Measured on one H100 SXM, 2026-11-25, float16, median of 20 (FA2 = torch's flash SDPA there):
//   B8 H16 N4096 D64   297 TFLOP/s with 3 stages, 290 with 2 (FA2: 294); causal 269 (FA2: 265)
//   B8 H16 N4096 D128  312 TFLOP/s with 2 or 3 stages (FA2: 351); causal 291 (FA2: 312)
//   B2 H16 N4096 D256  312 TFLOP/s interleaved at kBN = 64; 261 with a 2-stage ring at kBN = 32
//   B64 H8 N197 D12    0.041 ms, qkv read in place (FA2 at D16: 0.061 ms); 8 warps of 16 rows
//                      for D <= 64 were slower (0.045 ms; D64 219 TFLOP/s)
// At D16, bench/micro/attn16.cu on an H200 (2026-12-02, B64 H8 N197 D12 float16): 4 warps of
// two row tiles (128 x 64) 31.7 us, the earlier 64 x 64 tiles 38.7 us, 128-key tiles 33.6 us,
// 32 x 32 tiles 42.2 us.
// SkipTails (see "Tail tiles" in attention_tc_kernel): bit 1 skips a tail tile's empty
// 16-key groups, bit 2 a warp whose rows all lie past Nq, bit 4 runs a tile of at most 16
// keys by code compiled for one group. On the H200 (2026-12-02, bench/micro/attn16.cu,
// float16) bits 1 and 2 made this kernel slower (35.2 us against 31.5 at B64 H8 N197 D12,
// 87.6 against 66.8 at B8 H8 N1000 D64; the SIMT kernel gains by them), bit 4 faster where
// the last tile is one group (28.95 us at N197, whose keys 192-196 are its tail) and 1.8%
// slower at N1000 (a 40-key tail, the branch for nothing): so Tc16, where N197 is the case
// that matters (the notebook ViT), takes bit 4 and the others take none.
template <int D, int Warps, int MTiles, int BN, int Stages, int MinBlocks, int SkipTails = 0>
struct TcTraits {
  static constexpr int kD = D, kWarps = Warps, kMTiles = MTiles, kBN = BN, kStages = Stages, kMinBlocks = MinBlocks;
  static constexpr bool kSkipKeyGroups = (SkipTails & 1) != 0, kSkipIdleWarps = (SkipTails & 2) != 0;
  static constexpr bool kSpecializeTail = (SkipTails & 4) != 0;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBM = 16 * kMTiles * kWarps;
  static constexpr int kTileElems = kBN * kD;  // one K or V tile
  static constexpr size_t kSmemBytes = (static_cast<size_t>(kBM) * kD + 2 * kStages * kTileElems) * 2;  // kStages >= 1
  static_assert(kD >= 16 && kD <= 256 && (kD & (kD - 1)) == 0, "kD: a power of two in [16, 256]");
  static_assert(kBN % 16 == 0, "kBN: whole k16 steps of P V, whole x4 ldmatrix pairs of K");
  static_assert(kStages >= 1 && kStages <= 8, "1 (interleaved K and V buffers) or a ring of 2 to 8 K/V tiles");
  static_assert(kSmemBytes <= 99 * 1024, "shared memory over what sm_86/sm_89 allow");
};
using Tc16 = TcTraits<16, 4, 2, 64, 4, 2, 4>;  // D <= 16 (ViT's 12): 128 x 64 tiles, 4 stages, 20 KB, one-group tail
using Tc32 = TcTraits<32, 4, 1, 64, 3, 4>;    // 64 x 64 tiles, 3 stages, 28 KB
using Tc64 = TcTraits<64, 4, 2, 64, 3, 2>;    // 128 x 64 tiles, 3 stages, 64 KB
using Tc128 = TcTraits<128, 4, 2, 32, 2, 2>;  // 128 x 32 tiles, 2 stages, 64 KB
using Tc256 = TcTraits<256, 4, 1, 64, 1, 1>;  // 64 x 64 tiles, interleaved, 96 KB

// float32 SIMT path: 256 threads, a [16 kTM, 16 kTN] score tile, rows padded by 4 floats
// (16-byte aligned, and conflict-free for the float4 reads of the score loop). Measured on
// the H100 above: B8 H16 N1024 D64 23.8 TFLOP/s; B64 H8 N197 D12 0.19 ms.
// At D16, bench/micro/attn16.cu on an H200 (2026-12-02, B64 H8 N197 D12 float32): launch
// bounds of 3 blocks an SM (80 registers) 126.2 us, 2 blocks (128) 143.7 us, 1 block (173
// registers) 195.9 us; 128 x 64 scores 168.3 us; K/V a tile ahead 192.6 us. With SkipTails
// (the second run that day) 102.6 us, 125.2 without. At D <= 16 launch_attention takes the
// 3xTF32 tensor-core kernel instead (attention_tf32x3.cuh: 76.6 us there) unless
// NODEFORMERS_ATTN_TF32X3=0.
// MinBlocks: __launch_bounds__' blocks an SM; Stages: 1 (copy K[t] and V[t], wait, compute)
// or 2 (K[t + 1] and V[t + 1] copied while tile t is computed); SkipTails: a tile whose rows
// (or keys) end within its first 16 computes only those 16 (N = 197 in 64-tiles: 208 of 256
// rows and keys computed, not 256). bench/micro/attn16.cu times other choices than the
// library's.
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
  static_assert(kD >= 16 && kD <= 256 && (kD & (kD - 1)) == 0, "kD: a power of two in [16, 256]");
  static_assert(kBN % 4 == 0 && kD % 16 == 0, "float4 steps over keys and head dim");
  static_assert(kSmemBytes <= 99 * 1024, "shared memory over what sm_86/sm_89 allow");
};
using Simt16 = SimtTraits<16, 4, 4, 3>;  // 80 registers: 3 blocks an SM (see below)
using Simt32 = SimtTraits<32, 4, 4>;
using Simt64 = SimtTraits<64, 4, 4>;
using Simt128 = SimtTraits<128, 4, 2>;
using Simt256 = SimtTraits<256, 2, 1>;

// ---- kernel arguments ----------------------------------------------------------------------

struct KernelParams {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int heads, nq, nk, d;
  int64_t q_s[3], k_s[3], v_s[3], o_s[3];  // along B, N, H, in elements
  float scale_log2;                        // scale * log2(e)
  int causal;
  const uint8_t* mask;
  int64_t mask_s[4];
  const void* bias;
  int bias_dtype;
  int64_t bias_s[4];
  int vec_q, vec_k, vec_v, vec_o;  // log2 of the elements per global access each view allows
  int m_tiles;                     // query tiles per (batch, head)
  int tiles_per_split;             // key tiles per split (all of them when not split)
  int bh;                          // batch * heads
  float* ws_o;                     // [splits][bh][nq][d] partial outputs, or null (no split)
  float* ws_ml;                    // [splits][bh][nq][2] row max (log2 units), row sum
  // Block sparsity (AttentionParams' tile lists and layout), or nulls.
  const int32_t* tile_offsets;
  const int32_t* tile_cols;
  int tile_cols_count, tile_heads;
  const uint8_t* layout;
  int layout_heads, layout_shift, layout_rows, layout_cols;  // layout_shift = log2(block)
};

struct CombineParams {
  void* out;
  int heads, nq, d, bh, splits;
  int64_t o_s[3];
  const float* ws_o;
  const float* ws_ml;
};

// ---- device helpers ------------------------------------------------------------------------

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// kBytes from global to shared, asynchronously; zero-fills when !valid (src is then not read).
template <int kBytes>
__device__ __forceinline__ void cp_async(uint32_t dst, const void* src, bool valid) {
  const int src_size = valid ? kBytes : 0;
  if constexpr (kBytes == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_size) : "memory");
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(dst), "l"(src), "n"(kBytes), "r"(src_size)
                 : "memory");
  }
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { cp_async_wait<0>(); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// d += a * b for one m16n8k16 tile: a row-major 16 x 16, b column-major 16 x 8, d float32.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats as one register of two 16-bit values, `lo` in the low half (the lower column).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t r;
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 v = __floats2half2_rn(lo, hi);
    memcpy(&r, &v, 4);
  } else {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    memcpy(&r, &v, 4);
  }
  return r;
}

// x, through a move the compiler cannot see through or hoist out of a loop.
__device__ __forceinline__ int opaque(int x) {
  asm volatile("" : "+r"(x));
  return x;
}

// 2^x; ex2.approx of -inf is +0.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ float load_bias(const void* bias, int dtype, int64_t idx) {
  if (dtype == static_cast<int>(DType::Float16)) return __half2float(static_cast<const __half*>(bias)[idx]);
  if (dtype == static_cast<int>(DType::BFloat16)) return __bfloat162float(static_cast<const __nv_bfloat16*>(bias)[idx]);
  return static_cast<const float*>(bias)[idx];
}

// The score of (row, col) in log2 units, given the scaled dot product s, or -inf when the key is
// disallowed. Everything but (b, h, row, col) is read from the kernel parameters (constant
// bank), so the masked path holds no extra registers across the key loop. Rows >= nq (never
// stored) read no mask or bias.
__device__ __forceinline__ bool layout_allows(const KernelParams& p, int h, int64_t row, int64_t col) {
  const int64_t hl = p.layout_heads == 1 ? 0 : h;
  return p.layout[(hl * p.layout_rows + (row >> p.layout_shift)) * p.layout_cols + (col >> p.layout_shift)] != 0;
}

__device__ __forceinline__ float masked_score(const KernelParams& p, int b, int h, float s, int row, int col, bool partial) {
  bool ok = col < p.nk && !(p.causal && col > row);
  if (ok && row < p.nq) {
    if (partial) ok = layout_allows(p, h, row, col);
    if (ok && p.mask != nullptr) {
      ok = p.mask[b * p.mask_s[0] + h * p.mask_s[1] + row * p.mask_s[2] + col * p.mask_s[3]] != 0;
    }
    if (ok && p.bias != nullptr) {
      const int64_t idx = b * p.bias_s[0] + h * p.bias_s[1] + row * p.bias_s[2] + col * p.bias_s[3];
      s = fmaf(load_bias(p.bias, p.bias_dtype, idx), kLog2e, s);
    }
  }
  return ok ? s : -INFINITY;
}

// Shared-memory layouts of a [rows][kD] tile. Swizzled (16-bit elements): the 16-byte chunk c
// of row r sits at chunk c ^ f(r), f spreading any 8 consecutive rows over 8 distinct 16-byte
// bank groups, so an ldmatrix of 8 rows at one logical chunk is conflict-free. f(r) only
// depends on r & 7.
template <int kD>
struct Swizzled {
  static constexpr int kChunks = kD / 8;
  __device__ __forceinline__ static int swz(int r) {
    if constexpr (kChunks >= 8) return r & 7;
    else if constexpr (kChunks == 4) return (r >> 1) & 3;
    else if constexpr (kChunks == 2) return (r >> 2) & 1;
    else return 0;
  }
  __device__ __forceinline__ static int off(int r, int c) { return r * kD + ((((c >> 3) ^ swz(r)) << 3) | (c & 7)); }
};
template <int kStride>
struct Padded {
  __device__ __forceinline__ static int off(int r, int c) { return r * kStride + c; }
};

// Copies a [kRows, kD] tile, row r at g + r * row_stride, into shared memory (Layout), rows
// >= rows_valid and columns >= d_valid as zeros. 2^vec_shift elements per copy: 16 bytes is
// the fast path; 8 and 4 bytes also go through cp.async; single 16-bit elements (an unaligned
// view) are copied with plain loads. The host picks vec_shift so that copies never straddle
// d_valid and stay aligned. Completion: cp.async.wait_group, then a barrier.
template <typename T, int kRows, int kD, int kThreads, typename Layout>
__device__ __forceinline__ void load_tile(T* s, const T* g, int64_t row_stride, int rows_valid, int d_valid,
                                          int vec_shift, int tid) {
  constexpr int kShift16 = ilog2(16 / static_cast<int>(sizeof(T)));
  if (vec_shift == kShift16) {
    // 16-byte copies: thread tid always takes chunk tid % kPerRow of rows tid / kPerRow + k kRowStep.
    constexpr int kVec = 1 << kShift16, kPerRow = kD / kVec, kRowStep = kThreads / kPerRow;
    static_assert(kThreads % kPerRow == 0 && kRows % kRowStep == 0, "whole rows per pass");
    const int c = (tid % kPerRow) * kVec;
    const bool c_ok = c < d_valid;
    int r = tid / kPerRow;
    const T* src = g + r * row_stride + c;
    const int64_t step = kRowStep * row_stride;
#pragma unroll 2
    for (int k = 0; k < kRows / kRowStep; ++k, r += kRowStep, src += step) {
      const bool ok = c_ok && r < rows_valid;
      cp_async<16>(smem_u32(s + Layout::off(r, c)), ok ? src : g, ok);
    }
    return;
  }
  const int row_shift = ilog2(kD) - vec_shift;
  const int total = kRows << row_shift;
  const int bytes = static_cast<int>(sizeof(T)) << vec_shift;
  for (int i = tid; i < total; i += kThreads) {
    const int r = i >> row_shift, c = (i & ((1 << row_shift) - 1)) << vec_shift;
    const bool ok = r < rows_valid && c < d_valid;
    const T* src = ok ? g + r * row_stride + c : g;
    T* dst = s + Layout::off(r, c);
    if (bytes == 8) {
      cp_async<8>(smem_u32(dst), src, ok);
    } else if (bytes == 4) {
      cp_async<4>(smem_u32(dst), src, ok);
    } else {
      *dst = ok ? *src : from_float<T>(0.f);
    }
  }
}

// Writes rows [0, rows_valid) x columns [0, d_valid) of a shared [kRows, kD] tile to global
// memory, row r at g + r * row_stride, 2^vec_shift elements per store.
template <typename T, int kRows, int kD, int kThreads, typename Layout>
__device__ __forceinline__ void store_tile(T* g, int64_t row_stride, const T* s, int rows_valid, int d_valid,
                                           int vec_shift, int tid) {
  constexpr int kShift16 = ilog2(16 / static_cast<int>(sizeof(T)));
  if (vec_shift == kShift16) {
    constexpr int kVec = 1 << kShift16, kPerRow = kD / kVec, kRowStep = kThreads / kPerRow;
    static_assert(kThreads % kPerRow == 0 && kRows % kRowStep == 0, "whole rows per pass");
    const int c = (tid % kPerRow) * kVec;
    if (c >= d_valid) return;
#pragma unroll 2
    for (int r = tid / kPerRow; r < rows_valid; r += kRowStep) {
      *reinterpret_cast<uint4*>(g + r * row_stride + c) = *reinterpret_cast<const uint4*>(s + Layout::off(r, c));
    }
    return;
  }
  const int row_shift = ilog2(kD) - vec_shift;
  const int total = kRows << row_shift;
  const int bytes = static_cast<int>(sizeof(T)) << vec_shift;
  for (int i = tid; i < total; i += kThreads) {
    const int r = i >> row_shift, c = (i & ((1 << row_shift) - 1)) << vec_shift;
    if (r >= rows_valid || c >= d_valid) continue;
    T* dst = g + r * row_stride + c;
    const T* src = s + Layout::off(r, c);
    if (bytes == 8) {
      *reinterpret_cast<uint2*>(dst) = *reinterpret_cast<const uint2*>(src);
    } else if (bytes == 4) {
      *reinterpret_cast<uint32_t*>(dst) = *reinterpret_cast<const uint32_t*>(src);
    } else {
      *dst = *src;
    }
  }
}

// Which query tile, (b, h) and key tiles a block takes: positions [t_begin, t_end) of its
// tile list (block sparse), or key tiles [t_begin, t_end) themselves. Causal grids run the
// query tiles last-first: those have the most keys, so the long blocks start first.
struct BlockWork {
  int b, h, bh, m0, rows_valid, t_begin, t_end;
};

// The key tile at position idx of the block's walk, and whether the layout must be tested
// per element there. A list entry outside [0, key tiles) becomes the first tile past nk,
// which loads nothing and allows nothing.
template <int kBN>
__device__ __forceinline__ int key_tile(const KernelParams& p, int idx, bool* partial) {
  if (p.tile_cols == nullptr) {
    *partial = false;
    return idx;
  }
  const int e = p.tile_cols[idx];
  *partial = (e & 1) != 0 && p.layout != nullptr;
  const unsigned t = static_cast<unsigned>(e) >> 1, n_tiles = static_cast<unsigned>((p.nk + kBN - 1) / kBN);
  return static_cast<int>(t < n_tiles ? t : n_tiles);
}
template <int kBM, int kBN>
__device__ __forceinline__ BlockWork block_work(const KernelParams& p) {
  BlockWork w;
  int m_tile = static_cast<int>(blockIdx.x % static_cast<unsigned>(p.m_tiles));
  w.bh = static_cast<int>(blockIdx.x / static_cast<unsigned>(p.m_tiles));
  if (p.causal) m_tile = p.m_tiles - 1 - m_tile;
  w.b = w.bh / p.heads;
  w.h = w.bh - w.b * p.heads;
  w.m0 = m_tile * kBM;
  w.rows_valid = min(kBM, p.nq - w.m0);
  // Causal: row i sees keys j <= i, so the tile's last valid row bounds the keys.
  const int n_end = p.causal ? min(p.nk, min(p.nq, w.m0 + kBM)) : p.nk;
  if (p.tile_offsets != nullptr) {
    // Block sparse (never split): this query tile's list, clamped into tile_cols; causal
    // drops the tail of tiles that start past the tile's last row.
    const int64_t o = static_cast<int64_t>(p.tile_heads == 1 ? 0 : w.h) * p.m_tiles + m_tile;
    w.t_begin = min(max(p.tile_offsets[o], 0), p.tile_cols_count);
    w.t_end = min(max(p.tile_offsets[o + 1], w.t_begin), p.tile_cols_count);
    while (w.t_end > w.t_begin && static_cast<int64_t>(static_cast<unsigned>(p.tile_cols[w.t_end - 1]) >> 1) * kBN >= n_end) --w.t_end;
    return w;
  }
  const int t_total = (n_end + kBN - 1) / kBN;
  w.t_begin = static_cast<int>(blockIdx.z) * p.tiles_per_split;
  w.t_end = min(t_total, w.t_begin + p.tiles_per_split);
  return w;
}

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

// ---- the tensor-core kernel (float16, bfloat16) --------------------------------------------

template <typename T, typename Tr, bool kMaskBias>
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
  const BlockWork w = block_work<kBM, kBN>(p);
  const int d = p.d;

  const T* gq = static_cast<const T*>(p.q) + w.b * p.q_s[0] + w.h * p.q_s[2] + w.m0 * p.q_s[1];
  const T* gk = static_cast<const T*>(p.k) + w.b * p.k_s[0] + w.h * p.k_s[2];
  const T* gv = static_cast<const T*>(p.v) + w.b * p.v_s[0] + w.h * p.v_s[2];

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
        if (p.mask != nullptr || p.bias != nullptr || partial) {
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
              const int lim = (p.causal ? min(p.nk, row + 1) : p.nk) - n0 - 2 * t4;
              const int64_t row_c = min(row, p.nq - 1);
              const int col0 = n0 + 2 * t4;
#pragma unroll
              for (int j = 0; j < kNTg; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                  const int64_t col_c = min(col0 + 8 * j + e, p.nk - 1);
                  bool ok = 8 * j + e < lim;
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

// ---- the float32 SIMT kernel ---------------------------------------------------------------

template <typename Tr>
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
  const BlockWork w = block_work<kBM, kBN>(p);
  const int d = p.d;

  const float* gq = static_cast<const float*>(p.q) + w.b * p.q_s[0] + w.h * p.q_s[2] + w.m0 * p.q_s[1];
  const float* gk = static_cast<const float*>(p.k) + w.b * p.k_s[0] + w.h * p.k_s[2];
  const float* gv = static_cast<const float*>(p.v) + w.b * p.v_s[0] + w.h * p.v_s[2];
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

    const bool plain = !has_mask_or_bias && !partial && n0 + kBN <= p.nk && !(p.causal && n0 + kBN - 1 > w.m0);
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const int row = w.m0 + ty + 16 * i;
#pragma unroll
      for (int j = 0; j < NJ; ++j) {
        s[i][j] *= p.scale_log2;
        if (!plain) s[i][j] = masked_score(p, w.b, w.h, s[i][j], row, n0 + tx + 16 * j, partial);
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
      const float inv = row_l[i] > 0.f ? 1.f / row_l[i] : 0.f;
#pragma unroll
      for (int c = 0; c < kDC; ++c) {
        if (tx + 16 * c < d) go[r * p.o_s[1] + tx + 16 * c] = acc_o[i][c] * inv;
      }
    }
  }
}

}  // namespace
}  // namespace nf::cuda

#include "attention_tf32x3.cuh"  // the float32 tensor-core experiment, on these helpers

namespace nf::cuda {
namespace {

// ---- the split-KV combine ------------------------------------------------------------------

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

// ---- host side ------------------------------------------------------------------------------

// Calls fn(T{}, Traits{}) for the kernel that serves p's dtype and head dim.
template <typename Fn>
void dispatch_kernel(const AttentionParams& p, Fn&& fn) {
  const int64_t d = p.head_dim;
  auto by_dim = [&](auto tag, auto t16, auto t32, auto t64, auto t128, auto t256) {
    if (d <= 16) fn(tag, t16);
    else if (d <= 32) fn(tag, t32);
    else if (d <= 64) fn(tag, t64);
    else if (d <= 128) fn(tag, t128);
    else fn(tag, t256);
  };
  switch (p.dtype) {
    case DType::Float32: by_dim(float{}, Simt16{}, Simt32{}, Simt64{}, Simt128{}, Simt256{}); return;
    case DType::Float16: by_dim(__half{}, Tc16{}, Tc32{}, Tc64{}, Tc128{}, Tc256{}); return;
    case DType::BFloat16: by_dim(__nv_bfloat16{}, Tc16{}, Tc32{}, Tc64{}, Tc128{}, Tc256{}); return;
    default: throw_invalid(std::string("attention: dtype ") + dtype_name(p.dtype) + " is not a float dtype");
  }
}

struct Split {
  int splits = 1;
  int tiles_per_split = 1;
};

// Deterministic from p, the tile shape and sm_count: split the keys only when that fills
// the GPU's block slots (2 per SM) better, each split keeping at least 2 key tiles. A grid
// of `blocks` blocks in `target` slots runs ceil(blocks / target) waves, the last one
// partly full; its efficiency is (blocks / target) / ceil(blocks / target). The splits
// taken are the fewest whose efficiency is within 85% of the best count's (a split costs a
// workspace round trip and the combine kernel). Before this rule, any grid under 2 blocks an
// SM was split to reach it: B8 H16 N256 D64 float16 (256 blocks in 264 slots: one wave
// already) went to 2 splits and 2 waves, and took 40.9 us against 38.0 us for N512, twice
// the work unsplit (bench/results/2026-12-01-H200.json).
Split choose_split(const AttentionParams& p, int bm, int bn, int sm_count) {
  Split s;
  const int64_t n_tiles = (p.nk + bn - 1) / bn;
  s.tiles_per_split = static_cast<int>(std::max<int64_t>(n_tiles, 1));
  if (sm_count <= 0 || n_tiles < 4 || p.tile_offsets != nullptr) return s;  // tile lists: never split
  const int64_t blocks = (p.nq + bm - 1) / bm * p.batch * p.heads;
  const int64_t target = 2 * static_cast<int64_t>(sm_count);
  if (blocks <= 0 || blocks >= target) return s;
  const int64_t max_splits = std::min<int64_t>(n_tiles / 2, kMaxSplits);
  auto efficiency = [&](int64_t splits) {
    const int64_t grid = blocks * splits;
    return static_cast<double>(grid) / static_cast<double>(target) / static_cast<double>((grid + target - 1) / target);
  };
  double best = 0;
  for (int64_t k = 1; k <= max_splits; ++k) best = std::max(best, efficiency(k));
  int64_t splits = 1;
  while (splits < max_splits && efficiency(splits) < 0.85 * best) ++splits;
  if (splits <= 1) return s;
  const int64_t per = (n_tiles + splits - 1) / splits;
  s.tiles_per_split = static_cast<int>(per);
  s.splits = static_cast<int>((n_tiles + per - 1) / per);
  return s;
}

size_t workspace_bytes(const AttentionParams& p, const Split& s) {
  if (s.splits <= 1) return 0;
  const size_t rows = static_cast<size_t>(s.splits) * p.batch * p.heads * p.nq;
  return rows * static_cast<size_t>(p.head_dim) * 4 + rows * 2 * 4;
}

// log2 of the most elements (up to 16 bytes) per access that keep every access of a
// [batch, n, heads, d] view aligned and inside a row: divides d, the base address and each
// stride of a dim longer than 1.
int vec_shift(const void* ptr, const int64_t* strides, int64_t batch, int64_t n, int64_t heads, int64_t d,
              size_t elem) {
  const int64_t extents[3] = {batch, n, heads};
  for (int shift = ilog2(16 / static_cast<int>(elem)); shift > 0; --shift) {
    const int64_t v = int64_t{1} << shift;
    bool ok = d % v == 0 && reinterpret_cast<uintptr_t>(ptr) % (v * elem) == 0;
    for (int i = 0; i < 3; ++i) ok = ok && (extents[i] <= 1 || strides[i] % v == 0);
    if (ok) return shift;
  }
  return 0;
}

}  // namespace

void attention_tile_shape_for(DType dtype, int64_t head_dim, int64_t* tile_m, int64_t* tile_n) {
  AttentionParams p;
  p.dtype = dtype;
  p.head_dim = head_dim;
  dispatch_kernel(p, [&](auto, auto traits) {
    using Tr = decltype(traits);
    *tile_m = Tr::kBM;
    *tile_n = Tr::kBN;
  });
}

size_t attention_workspace_bytes(const AttentionParams& p, int sm_count) {
  if (p.batch <= 0 || p.heads <= 0 || p.nq <= 0 || p.nk <= 0 || p.head_dim <= 0 || p.head_dim > 256) return 0;
  if (!is_float(p.dtype)) return 0;
  size_t bytes = 0;
  dispatch_kernel(p, [&](auto, auto traits) {
    using Tr = decltype(traits);
    bytes = workspace_bytes(p, choose_split(p, Tr::kBM, Tr::kBN, sm_count));
  });
  return bytes;
}

namespace {

// The kernels' arguments from p, checked (everything but the tiling, which the launch adds:
// m_tiles, tiles_per_split and the split workspace). bench/micro/attn16.cu builds its launches
// of other tilings from it too.
KernelParams kernel_params(const AttentionParams& p) {
  const size_t elem = dtype_size(p.dtype);
  const int64_t d = p.head_dim;
  KernelParams kp{};
  kp.q = p.q;
  kp.k = p.k;
  kp.v = p.v;
  kp.out = p.out;
  kp.heads = static_cast<int>(p.heads);
  kp.nq = static_cast<int>(p.nq);
  kp.nk = static_cast<int>(p.nk);
  kp.d = static_cast<int>(d);
  for (int i = 0; i < 3; ++i) {
    kp.q_s[i] = p.q_strides[i];
    kp.k_s[i] = p.k_strides[i];
    kp.v_s[i] = p.v_strides[i];
    kp.o_s[i] = p.out_strides[i];
  }
  kp.scale_log2 = p.scale * kLog2e;
  kp.causal = p.causal ? 1 : 0;
  kp.mask = p.mask;
  for (int i = 0; i < 4; ++i) {
    kp.mask_s[i] = p.mask_strides[i];
    kp.bias_s[i] = p.bias_strides[i];
  }
  kp.bias = p.bias;
  kp.bias_dtype = static_cast<int>(p.bias_dtype);
  if (p.bias != nullptr && !is_float(p.bias_dtype)) throw_invalid("attention: bias must be a float tensor");
  kp.vec_q = vec_shift(p.q, p.q_strides, p.batch, p.nq, p.heads, d, elem);
  kp.vec_k = vec_shift(p.k, p.k_strides, p.batch, p.nk, p.heads, d, elem);
  kp.vec_v = vec_shift(p.v, p.v_strides, p.batch, p.nk, p.heads, d, elem);
  kp.vec_o = vec_shift(p.out, p.out_strides, p.batch, p.nq, p.heads, d, elem);
  kp.bh = static_cast<int>(p.batch * p.heads);
  if (p.layout != nullptr) {
    if (p.tile_offsets == nullptr) throw_invalid("attention: a block layout needs tile lists (attentionTileShape)");
    const int64_t bs = p.layout_block;
    if (bs < 1 || (bs & (bs - 1)) != 0 || bs > (int64_t{1} << 30)) throw_invalid("attention: the layout's block size must be a power of two");
    if (p.layout_heads != 1 && p.layout_heads != p.heads) throw_invalid("attention: layout heads must be 1 or H");
    if (p.layout_rows != (p.nq + bs - 1) / bs || p.layout_cols != (p.nk + bs - 1) / bs) throw_invalid("attention: layout size does not match Nq, Nk");
    kp.layout = p.layout;
    kp.layout_heads = static_cast<int>(p.layout_heads);
    kp.layout_shift = ilog2(static_cast<int>(bs));
    kp.layout_rows = static_cast<int>(p.layout_rows);
    kp.layout_cols = static_cast<int>(p.layout_cols);
  }
  if (p.tile_offsets != nullptr) {
    if (p.tile_cols_count > INT_MAX) throw_invalid("attention: tile lists over 2^31 entries");
    if (p.tile_heads != 1 && p.tile_heads != p.heads) throw_invalid("attention: tile lists must be for 1 or H heads");
    kp.tile_offsets = p.tile_offsets;
    kp.tile_cols = p.tile_cols;
    kp.tile_cols_count = static_cast<int>(p.tile_cols_count);
    kp.tile_heads = static_cast<int>(p.tile_heads);
  }

  return kp;
}

}  // namespace

void launch_attention(const AttentionParams& p, void* workspace, int sm_count, cudaStream_t stream) {
  if (p.batch <= 0 || p.heads <= 0 || p.nq <= 0 || p.head_dim == 0) return;  // nothing to write
  if (p.head_dim < 0 || p.head_dim > 256) {
    throw_invalid("attention: head dim " + std::to_string(p.head_dim) + " is not supported (1 to 256)");
  }
  if (p.nq > INT_MAX || p.nk > INT_MAX || p.nk < 0 || p.batch * p.heads > INT_MAX) {
    throw_invalid("attention: batch * heads, nq and nk must each be under 2^31");
  }
  const int64_t d = p.head_dim;
  KernelParams kp = kernel_params(p);

  dispatch_kernel(p, [&](auto tag, auto traits) {
    using T = decltype(tag);
    using Tr = decltype(traits);
    if (p.tile_offsets != nullptr && (p.tile_m != Tr::kBM || p.tile_n != Tr::kBN)) {
      throw_invalid("attention: tile lists were built for [" + std::to_string(p.tile_m) + ", " + std::to_string(p.tile_n) +
                    "] tiles, the kernel uses [" + std::to_string(Tr::kBM) + ", " + std::to_string(Tr::kBN) + "]");
    }
    Split split = choose_split(p, Tr::kBM, Tr::kBN, sm_count);
    if (workspace == nullptr) split = Split{1, static_cast<int>(std::max<int64_t>((p.nk + Tr::kBN - 1) / Tr::kBN, 1))};
    const int64_t m_tiles = (p.nq + Tr::kBM - 1) / Tr::kBM;
    if (m_tiles * kp.bh > INT_MAX) throw_invalid("attention: too many query tiles for one grid");
    kp.m_tiles = static_cast<int>(m_tiles);
    kp.tiles_per_split = split.tiles_per_split;
    if (split.splits > 1) {
      const size_t rows = static_cast<size_t>(split.splits) * kp.bh * p.nq;
      kp.ws_o = static_cast<float*>(workspace);
      kp.ws_ml = kp.ws_o + rows * static_cast<size_t>(d);
    }
    const dim3 grid(static_cast<unsigned>(m_tiles * kp.bh), 1, static_cast<unsigned>(split.splits));
    const size_t smem = Tr::kSmemBytes;
    if constexpr (std::is_same_v<T, float>) {
      if (smem > 48 * 1024) {
        NF_CUDA_CHECK(cudaFuncSetAttribute(attention_simt_kernel<Tr>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)));
      }
      bool launched = false;
      if constexpr (Tr::kD == 16 && Tr::kBM == 64 && Tr::kBN == 64) {  // the same tiles, grid and workspace
        // The 3xTF32 tensor-core kernel (attention_tf32x3.cuh) unless NODEFORMERS_ATTN_TF32X3=0.
        static const bool simt_only = env_is("NODEFORMERS_ATTN_TF32X3", "0");
        if (!simt_only) {
          attention_tf32x3_kernel<4, false, 1, true><<<grid, 128, 0, stream>>>(kp);
          NF_CHECK_LAUNCH("attention_tf32x3_kernel");
          launched = true;
        }
      }
      if (!launched) {
        attention_simt_kernel<Tr><<<grid, Tr::kThreads, smem, stream>>>(kp);
        NF_CHECK_LAUNCH("attention_simt_kernel");
      }
    } else {
      auto kernel = (p.mask != nullptr || p.bias != nullptr || p.layout != nullptr) ? attention_tc_kernel<T, Tr, true>
                                                             : attention_tc_kernel<T, Tr, false>;
      if (smem > 48 * 1024) {
        NF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
      }
      kernel<<<grid, Tr::kThreads, smem, stream>>>(kp);
      NF_CHECK_LAUNCH("attention_tc_kernel");
    }
    if (split.splits > 1) {
      CombineParams cp{};
      cp.out = p.out;
      cp.heads = kp.heads;
      cp.nq = kp.nq;
      cp.d = kp.d;
      cp.bh = kp.bh;
      cp.splits = split.splits;
      for (int i = 0; i < 3; ++i) cp.o_s[i] = p.out_strides[i];
      cp.ws_o = kp.ws_o;
      cp.ws_ml = kp.ws_ml;
      const int64_t rows = static_cast<int64_t>(kp.bh) * p.nq;
      attention_combine_kernel<T><<<static_cast<unsigned>((rows + 3) / 4), 128, 0, stream>>>(cp);
      NF_CHECK_LAUNCH("attention_combine_kernel");
    }
  });
}

}  // namespace nf::cuda
