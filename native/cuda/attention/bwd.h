// The dense attention backward's launchers (AttentionBackwardParams' semantics, ../../core/ops.h),
// FlashAttention-2 style, never storing an [Nq, Nk] matrix:
//  - bwd_prep.cu: per query row, delta = sum_d dO * O and the forward's lse in log2 units
//    (+inf for a row with no allowed key and for the padding rows of the last query tile, so
//    that P = 2^(s - lse) is 0 there, never NaN), into float32 workspaces; and, for block
//    layouts, the key tile -> query tile lists the main kernel walks, from the forward's lists;
//  - the main kernel (bwd_tc.cuh for float16 and bfloat16, bwd_simt.cuh for float32), one
//    block per (key tile, batch * head) walking its query tiles: P recomputed from lse,
//    dV += P^T dO, dS = P (dO V^T - delta), dK += dS^T Q in registers, dQ += dS K added to a
//    float32 workspace with atomics;
//  - bwd_prep.cu again: dQ = scale * the workspace, into dq's dtype and strides; and, for
//    grouped-query attention (k and v shared by `group` query heads), dK and dV summed over
//    each group from the main kernel's per-query-head parts (a workspace, as FA2 does).
// One launcher per (dtype, head-dim bucket) in bwd_<dtype>_d<bucket>.cu, as the forward's.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../core/ops.h"
#include "kernel_params.h"

namespace nf::cuda::attn {

// The backward's arguments beyond the forward's KernelParams (q, k, v, out, mask, bias, layout).
struct BwdParams {
  const void* d_out;
  int64_t do_s[3];          // along B, N, H
  void* dk;
  void* dv;
  int64_t dk_s[3], dv_s[3];
  int vec_do, vec_dk, vec_dv;  // log2 of the elements per access each view allows
  float scale;                 // dK = scale * dS^T Q (dQ's scale is applied by the convert)
  const float* lse2;           // [bh][nq_pad]: lse * log2(e), +inf where P must be 0
  const float* delta;          // [bh][nq_pad]: sum_d dO O, 0 on padding rows
  int nq_pad;                  // m_tiles * the kernel's query tile
  float* dq_accum;             // [bh][nq][kD] float32, zeroed before the kernel; null: no dQ
  float* d_bias;               // [B, H, Nq, Nk] float32 (zeroed before the kernel), or null
  int m_tiles, n_tiles;        // query and key tiles at the backward's tiling
  // Block sparsity: for list head hl (1 or H) and key tile u, q_counts[hl * n_tiles + u]
  // query tiles at q_lists[(hl * n_tiles + u) * m_tiles + ...], ascending, each
  // (tile << 1) | partial; or null (every query tile, from the causal diagonal on).
  const int32_t* q_lists;
  const int32_t* q_counts;
  int list_heads;
  // Key ranges (kp.ranges set): the query rows that allow each key, [nk][2] int32
  // (AttentionBackwardParams' col_ranges); their span bounds a key tile's walk.
  const int32_t* col_ranges;
};

// Launches the main backward kernel for (T, kD): kp.bh * bp.n_tiles blocks.
template <typename T, int kD>
void run_attention_bwd(const KernelParams& kp, const BwdParams& bp, cudaStream_t stream);
using BwdMainFn = void (*)(const KernelParams&, const BwdParams&, cudaStream_t);

// launch_bwd.cu: the backward's steps (prep, lists, main_kernel at tiling [bm, bn] for
// head-dim bucket kd, the dQ convert) and their workspace; launch_attention_backward passes
// BwdTraits' tiling and run_attention_bwd, a benchmark may pass others.
size_t backward_workspace_bytes(const AttentionBackwardParams& p, int bm, int bn, int kd);
template <typename T>
void run_backward(const AttentionBackwardParams& p, int bm, int bn, int kd, void* workspace, BwdMainFn main_kernel, cudaStream_t stream);

// bwd_prep.cu. Per (bh, row < nq_pad): delta and lse2 (BwdParams' comment); lse is the forward's.
struct PrepParams {
  const void* out;
  const void* d_out;
  int64_t o_s[3], do_s[3];
  const float* lse;
  int heads, nq, nq_pad, d, bh;
  int vec;  // elements per access (1 or 16 bytes' worth), valid for both views
  float* delta;
  float* lse2;
};
template <typename T>
void run_bwd_prep(const PrepParams& pp, cudaStream_t stream);
// PrepParams from a forward's params (AttentionParams or SparseAttentionParams: out, lse and
// sizes) and the gradient dO.
template <typename Fwd>
PrepParams prep_params(const Fwd& f, const void* d_out, const int64_t* do_s, int nq_pad, int vec, float* delta, float* lse2) {
  PrepParams pp{};
  pp.out = f.out;
  pp.d_out = d_out;
  for (int i = 0; i < 3; ++i) {
    pp.o_s[i] = f.out_strides[i];
    pp.do_s[i] = do_s[i];
  }
  pp.lse = f.lse;
  pp.heads = static_cast<int>(f.heads);
  pp.nq = static_cast<int>(f.nq);
  pp.nq_pad = nq_pad;
  pp.d = static_cast<int>(f.head_dim);
  pp.bh = static_cast<int>(f.batch * f.heads);
  pp.vec = vec;
  pp.delta = delta;
  pp.lse2 = lse2;
  return pp;
}

// Grouped-query attention: dk[b, j, hk, c] = sum over r < group of part[b, j, hk * group + r, c]
// (each kv head's gradient from its query heads' parts, float32 sums), likewise dv; part_k and
// part_v contiguous [B, Nk, H, D] in the dtype, dk and dv [B, Nk, H / group, D] views.
struct GroupSumParams {
  const void* part_k;
  const void* part_v;
  void* dk;
  void* dv;
  int64_t dk_s[3], dv_s[3];
  int batch, nk, heads, group, d;
};
template <typename T>
void run_group_sum(const GroupSumParams& gp, cudaStream_t stream);

// dq[b, i, h, c] = scale * dq_accum[bh][i][c] for c < d (accum rows of `stride` floats).
struct DqConvertParams {
  const float* accum;
  void* dq;
  int64_t dq_s[3];
  int heads, nq, d, stride, bh;
  float scale;
};
template <typename T>
void run_dq_convert(const DqConvertParams& cp, cudaStream_t stream);

// The key tile -> query tile lists at the backward tiling [bm, bn] from the forward's lists
// (kp's tile_offsets / tile_cols at [fwd_m, fwd_n]): query tile t of key tile u is listed
// when some forward tile overlapping their rectangle is listed, partial when one of those is
// partial or missing. q_lists holds list_heads * n_tiles * m_tiles entries, q_counts
// list_heads * n_tiles.
struct ListParams {
  const int32_t* tile_offsets;
  const int32_t* tile_cols;
  int tile_cols_count, list_heads;
  int nq, nk, fwd_m, fwd_n, bm, bn, m_tiles, n_tiles;
  int32_t* q_lists;
  int32_t* q_counts;
};
void run_bwd_lists(const ListParams& lp, cudaStream_t stream);

}  // namespace nf::cuda::attn
