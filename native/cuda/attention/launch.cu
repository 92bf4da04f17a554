// The host side of the dense attention forward (the memory-efficient and block-sparse
// mechanisms): the checks, the kernels' arguments, the split-KV heuristic and workspace,
// and the dispatch from (dtype, head-dim bucket) to the launchers of fwd.h, one translation
// unit each. The kernels: fwd_tc.cuh (float16, bfloat16), fwd_simt.cuh and fwd_tf32x3.cuh
// (float32), fwd_combine.cuh (the split-KV combine); their configurations: traits.h.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>

#include "../../core/attention_limits.h"
#include "../check.h"
#include "../dtype_traits.cuh"
#include "../kernels.h"
#include "fwd.h"
#include "launch_common.h"
#include "kernel_params.h"
#include "traits.h"

namespace nf::cuda {
namespace attn {
namespace {

constexpr int kMaxSplits = 64;

struct Split {
  int splits = 1;
  int tiles_per_split = 1;
};

// Deterministic from p, the tile shape and sm_count: split the keys only when that fills
// the GPU's block slots (2 per SM) better, each split keeping at least 2 key tiles. A grid
// of `blocks` blocks in `target` slots runs ceil(blocks / target) waves, the last one
// partly full; its efficiency is (blocks / target) / ceil(blocks / target). The splits
// taken are the fewest whose efficiency is within 85% of the best count's (a split costs a
// workspace round trip and the combine kernel); splitting every grid under 2 blocks an SM
// made grids of one nearly full wave take two (commit 3873f6a).
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

}  // namespace

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

// The kernels' arguments from p, checked (everything but the tiling, which the launch adds:
// m_tiles, tiles_per_split and the split workspace).
KernelParams kernel_params(const AttentionParams& p) {
  const size_t elem = dtype_size(p.dtype);
  const int64_t d = p.head_dim;
  KernelParams kp{};
  fill_qkv(kp, p);
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
  const int64_t kv_heads = p.kv_heads > 0 ? p.kv_heads : p.heads;
  if (p.heads % kv_heads != 0) throw_invalid("attention: heads must be a multiple of the kv heads");
  kp.kv_group = static_cast<int>(p.heads / kv_heads);
  kp.ranges = p.row_ranges;
  if (p.row_ranges != nullptr && p.tile_offsets != nullptr) throw_invalid("attention: key ranges cannot be combined with tile lists");
  kp.vec_q = vec_shift(p.q, p.q_strides, p.batch, p.nq, p.heads, d, elem);
  kp.vec_k = vec_shift(p.k, p.k_strides, p.batch, p.nk, kv_heads, d, elem);
  kp.vec_v = vec_shift(p.v, p.v_strides, p.batch, p.nk, kv_heads, d, elem);
  kp.vec_o = vec_shift(p.out, p.out_strides, p.batch, p.nq, p.heads, d, elem);
  kp.bh = static_cast<int>(p.batch * p.heads);
  kp.lse = p.lse;
  if (p.layout != nullptr) {
    if (p.tile_offsets == nullptr) throw_invalid("attention: a block layout needs tile lists (a block plan)");
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

void check_dense_sizes(const AttentionParams& p, const char* op) {
  if (p.head_dim < 0 || p.head_dim > kMaxAttentionHeadDim) {
    throw_invalid(std::string(op) + ": head dim " + std::to_string(p.head_dim) + " is not supported (1 to " +
                  std::to_string(kMaxAttentionHeadDim) + ")");
  }
  if (p.nq > INT_MAX || p.nk > INT_MAX || p.nk < 0 || p.batch * p.heads > INT_MAX) {
    throw_invalid(std::string(op) + ": batch * heads, nq and nk must each be under 2^31");
  }
}

}  // namespace attn

using attn::dispatch_attention;
using attn::FwdTraits;

void attention_tile_shape_for(DType dtype, int64_t head_dim, int64_t* tile_m, int64_t* tile_n) {
  dispatch_attention(dtype, head_dim, [&](auto tag, auto bucket) {
    using Tr = FwdTraits<decltype(tag), decltype(bucket)::value>;
    *tile_m = Tr::kBM;
    *tile_n = Tr::kBN;
  });
}

size_t attention_workspace_bytes(const AttentionParams& p, int sm_count) {
  if (p.batch <= 0 || p.heads <= 0 || p.nq <= 0 || p.nk <= 0 || p.head_dim <= 0 || p.head_dim > kMaxAttentionHeadDim) return 0;
  if (!is_float(p.dtype)) return 0;
  size_t bytes = 0;
  dispatch_attention(p.dtype, p.head_dim, [&](auto tag, auto bucket) {
    using Tr = FwdTraits<decltype(tag), decltype(bucket)::value>;
    bytes = attn::workspace_bytes(p, attn::choose_split(p, Tr::kBM, Tr::kBN, sm_count));
  });
  return bytes;
}

void launch_attention(const AttentionParams& p, void* workspace, int sm_count, cudaStream_t stream) {
  if (p.batch <= 0 || p.heads <= 0 || p.nq <= 0 || p.head_dim == 0) return;  // nothing to write
  attn::check_dense_sizes(p, "attention");
  if (p.precision != AttentionPrecision::High && p.precision != AttentionPrecision::Highest) {
    throw_invalid("attention: precision must be High or Highest");
  }
  const int64_t d = p.head_dim;
  attn::KernelParams kp = attn::kernel_params(p);

  dispatch_attention(p.dtype, d, [&](auto tag, auto bucket) {
    using T = decltype(tag);
    constexpr int kD = decltype(bucket)::value;
    using Tr = FwdTraits<T, kD>;
    if (p.tile_offsets != nullptr && (p.tile_m != Tr::kBM || p.tile_n != Tr::kBN)) {
      throw_invalid("attention: tile lists were built for [" + std::to_string(p.tile_m) + ", " + std::to_string(p.tile_n) +
                    "] tiles, the kernel uses [" + std::to_string(Tr::kBM) + ", " + std::to_string(Tr::kBN) + "]");
    }
    attn::Split split = attn::choose_split(p, Tr::kBM, Tr::kBN, sm_count);
    if (workspace == nullptr) split = attn::Split{1, static_cast<int>(std::max<int64_t>((p.nk + Tr::kBN - 1) / Tr::kBN, 1))};
    const int64_t m_tiles = (p.nq + Tr::kBM - 1) / Tr::kBM;
    if (m_tiles * kp.bh > INT_MAX) throw_invalid("attention: too many query tiles for one grid");
    kp.m_tiles = static_cast<int>(m_tiles);
    kp.tiles_per_split = split.tiles_per_split;
    if (split.splits > 1) {
      const size_t rows = static_cast<size_t>(split.splits) * kp.bh * p.nq;
      kp.ws_o = static_cast<float*>(workspace);
      kp.ws_ml = kp.ws_o + rows * static_cast<size_t>(d);
    }
    attn::run_attention_fwd<T, kD>(kp, split.splits, p.precision, stream);
    if (split.splits > 1) {
      attn::CombineParams cp{};
      cp.out = p.out;
      cp.heads = kp.heads;
      cp.nq = kp.nq;
      cp.d = kp.d;
      cp.bh = kp.bh;
      cp.splits = split.splits;
      for (int i = 0; i < 3; ++i) cp.o_s[i] = p.out_strides[i];
      cp.ws_o = kp.ws_o;
      cp.ws_ml = kp.ws_ml;
      cp.lse = p.lse;
      attn::run_attention_combine<T>(cp, stream);
    }
  });
}

}  // namespace nf::cuda
