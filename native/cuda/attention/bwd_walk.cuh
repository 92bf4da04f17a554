// The query tiles one backward block walks for its key tile: BwdParams' list of that key tile
// (a block layout), or every query tile; under causal, not the tiles whose rows all lie above
// the block's keys. bwd_tc.cuh and bwd_simt.cuh walk positions [first, count) of it.
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

// The walk of key tile n_tile (its keys from n0) of head h, at query tiles of kBM rows.
template <int kBM>
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
  return w;
}

}  // namespace nf::cuda::attn
