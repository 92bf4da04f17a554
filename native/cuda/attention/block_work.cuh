// The work of one block of a dense attention kernel: its query tile, (batch, head) and the
// key tiles it walks (a split's range, or a block-sparse tile list).
#pragma once
#include <cstdint>

#include "kernel_params.h"

namespace nf::cuda::attn {


// Which query tile, (b, h) and key tiles a block takes: positions [t_begin, t_end) of its
// tile list (block sparse), or key tiles [t_begin, t_end) themselves. Causal grids run the
// query tiles last-first: those have the most keys, so the long blocks start first. hk: the
// kv head that query head h reads.
struct BlockWork {
  int b, h, hk, bh, m0, rows_valid, t_begin, t_end;
};

// Query row `row`'s allowed keys [x, y) from kp.ranges (non-null), clamped into [0, nk] so
// that nothing read from them leads outside the tensors (the contract holds them there).
__device__ __forceinline__ int2 row_range(const KernelParams& p, int row) {
  const int2 r = reinterpret_cast<const int2*>(p.ranges)[min(max(row, 0), p.nq - 1)];
  const int lo = min(max(r.x, 0), p.nk);
  return make_int2(lo, min(max(r.y, lo), p.nk));
}

// Whether key tile [n0, n0 + bn) lies inside every range of query rows [m0, m0 + rows): the
// last row's lo and the first row's hi bound them all (ranges are nondecreasing).
__device__ __forceinline__ bool ranges_cover(const KernelParams& p, int m0, int rows, int n0, int bn) {
  return row_range(p, m0 + rows - 1).x <= n0 && row_range(p, m0).y >= n0 + bn;
}

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
// kRanges: the kernel variant for key ranges, whose blocks walk only the key tiles that some
// row of theirs allows.
template <int kBM, int kBN, bool kRanges = false>
__device__ __forceinline__ BlockWork block_work(const KernelParams& p) {
  BlockWork w;
  int m_tile = static_cast<int>(blockIdx.x % static_cast<unsigned>(p.m_tiles));
  w.bh = static_cast<int>(blockIdx.x / static_cast<unsigned>(p.m_tiles));
  if (p.causal) m_tile = p.m_tiles - 1 - m_tile;
  w.b = w.bh / p.heads;
  w.h = w.bh - w.b * p.heads;
  w.hk = p.kv_group == 1 ? w.h : w.h / p.kv_group;
  w.m0 = m_tile * kBM;
  w.rows_valid = min(kBM, p.nq - w.m0);
  // Causal: row i sees keys j <= i, so the tile's last valid row bounds the keys. Key ranges:
  // the first row's lo and the last row's hi.
  int n_begin = 0, n_end = p.causal ? min(p.nk, min(p.nq, w.m0 + kBM)) : p.nk;
  if constexpr (kRanges) {
    n_begin = row_range(p, w.m0).x;
    n_end = min(n_end, row_range(p, w.m0 + w.rows_valid - 1).y);
  }
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
  if constexpr (kRanges) {
    // Split z takes tiles_per_split tiles from the first; the last split takes the rest (a
    // range's tiles may outnumber what the host planned the splits for).
    const int t_first = min(n_begin / kBN, t_total);
    w.t_begin = t_first + static_cast<int>(blockIdx.z) * p.tiles_per_split;
    w.t_end = blockIdx.z + 1 == gridDim.z ? t_total : min(t_total, w.t_begin + p.tiles_per_split);
    return w;
  }
  w.t_begin = static_cast<int>(blockIdx.z) * p.tiles_per_split;
  w.t_end = min(t_total, w.t_begin + p.tiles_per_split);
  return w;
}

}  // namespace nf::cuda::attn
