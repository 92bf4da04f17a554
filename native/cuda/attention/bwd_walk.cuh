// The query tiles one backward block walks for its key tile: BwdParams' list of that key tile
// (a block layout), or every query tile; under causal, not the tiles whose rows all lie above
// the block's keys; under key ranges, only the tiles holding a row that allows one of its
// keys. bwd_tc.cuh and bwd_simt.cuh walk positions [first, count) of it.
#pragma once
#include <cstdint>

#include "bwd.h"
#include "kernel_params.h"

namespace nf::cuda::attn {

struct QueryTileWalk {
  const int32_t* list = nullptr;  // (tile << 1) | partial entries, or null: position idx is tile idx
  int first = 0, count = 0, m_tiles = 0;
  bool has_layout = false;

  // The query tile at position idx, and whether the layout must be tested per element there.
  __device__ __forceinline__ int at(int idx, bool* partial) const {
    if (list == nullptr) {
      *partial = false;
      return idx;
    }
    const int e = list[idx];
    *partial = (e & 1) != 0 && has_layout;
    return min(static_cast<int>(static_cast<unsigned>(e) >> 1), m_tiles - 1);
  }
};

// The query rows [x, y) that allow key `key` (BwdParams' col_ranges, non-null), clamped into
// [0, nq]; none for a key past nk.
__device__ __forceinline__ int2 key_rows(const KernelParams& p, const BwdParams& bp, int key) {
  if (key >= p.nk) return make_int2(0, 0);
  const int2 r = reinterpret_cast<const int2*>(bp.col_ranges)[max(key, 0)];
  const int lo = min(max(r.x, 0), p.nq);
  return make_int2(lo, min(max(r.y, lo), p.nq));
}

// The walk of key tile n_tile (its keys from n0) of head h, at query tiles of kBM rows (kRanges:
// the kernel variant for key ranges).
template <int kBM, int kBN, bool kRanges = false>
__device__ __forceinline__ QueryTileWalk query_tile_walk(const KernelParams& p, const BwdParams& bp, int h, int n_tile, int n0) {
  QueryTileWalk w;
  w.count = bp.m_tiles;
  w.m_tiles = bp.m_tiles;
  w.has_layout = p.layout != nullptr;
  if (bp.q_lists != nullptr) {
    const int64_t u = static_cast<int64_t>(bp.list_heads == 1 ? 0 : h) * bp.n_tiles + n_tile;
    w.list = bp.q_lists + u * bp.m_tiles;
    w.count = min(max(bp.q_counts[u], 0), bp.m_tiles);
    if (p.causal) {
      while (w.first < w.count && ((w.list[w.first] >> 1) + 1) * kBM <= n0) ++w.first;  // rows all above the keys
    }
  } else if (p.causal) {
    w.first = min(n0 / kBM, w.count);
  }
  if (kRanges && bp.col_ranges != nullptr && bp.q_lists == nullptr && n0 < p.nk) {
    // The rows that allow a key of [n0, n1): from the first key's first row to the last key's
    // end (both nondecreasing), clamped into [0, nq].
    const int row_begin = key_rows(p, bp, n0).x, row_end = max(key_rows(p, bp, min(n0 + kBN, p.nk) - 1).y, row_begin);
    w.first = max(w.first, row_begin / kBM);
    w.count = min(w.count, (row_end + kBM - 1) / kBM);
  }
  return w;
}

}  // namespace nf::cuda::attn
