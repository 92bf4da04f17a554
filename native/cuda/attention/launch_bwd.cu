// The host side of the dense attention backward (AttentionBackwardParams): the checks, the
// workspace (lse2, delta, the float32 dQ accumulator, a block layout's key tile -> query tile
// lists, grouped-query attention's per-query-head dK and dV), and the launches of bwd.h in
// order: prep, lists, the main kernel, the group sum, the dQ convert.
//
// dQ: each key-tile block adds its dS K to a float32 workspace with atomics (FA2's scheme),
// then one convert pass scales it into dq's dtype. The other scheme, a second pass over query
// tiles, recomputes S, P and dP (3 more of the 5 products) to own dQ rows outright: it wins
// only if dQ's share of the time is over 3/7; bench/micro/attn_bwd_check.cu times the
// backward with dq = null beside the full one to tell.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

#include "../../core/attention_limits.h"
#include "../check.h"
#include "../dtype_traits.cuh"
#include "../kernels.h"
#include "bwd.h"
#include "bwd_traits.h"
#include "kernel_params.h"
#include "launch_common.h"

namespace nf::cuda {
namespace attn {
namespace {

constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// The backward's workspace at tiling [bm, bn] for bucket kd, in parts.
struct BwdLayout {
  int m_tiles = 0, n_tiles = 0, nq_pad = 0, list_heads = 0;
  size_t lse2 = 0, delta = 0, accum = 0, lists = 0, counts = 0, part_k = 0, part_v = 0, total = 0;  // byte offsets; total size
};

// Query heads per kv head (AttentionParams' kv_heads; 0 reads as heads).
int64_t kv_group(const AttentionParams& p) { return p.kv_heads > 0 && p.heads % p.kv_heads == 0 ? p.heads / p.kv_heads : 1; }

BwdLayout bwd_layout(const AttentionBackwardParams& bp, int bm, int bn, int kd) {
  const AttentionParams& p = bp.fwd;
  BwdLayout l;
  const int64_t bh = p.batch * p.heads;
  l.m_tiles = static_cast<int>((p.nq + bm - 1) / bm);
  l.n_tiles = static_cast<int>((p.nk + bn - 1) / bn);
  l.nq_pad = l.m_tiles * bm;
  l.list_heads = p.tile_offsets != nullptr ? static_cast<int>(p.tile_heads) : 0;
  size_t at = 0;
  auto part = [&](size_t bytes) {
    const size_t offset = at;
    at += aligned(bytes);
    return offset;
  };
  l.lse2 = part(static_cast<size_t>(bh) * l.nq_pad * 4);
  l.delta = part(static_cast<size_t>(bh) * l.nq_pad * 4);
  l.accum = part(bp.dq != nullptr ? static_cast<size_t>(bh) * p.nq * kd * 4 : 0);
  l.lists = part(static_cast<size_t>(l.list_heads) * l.n_tiles * l.m_tiles * 4);
  l.counts = part(static_cast<size_t>(l.list_heads) * l.n_tiles * 4);
  // Grouped-query attention: each query head's dK and dV, [B, Nk, H, D] in the dtype, summed after.
  const size_t parts = kv_group(p) > 1 ? static_cast<size_t>(bh) * p.nk * p.head_dim * dtype_size(p.dtype) : 0;
  l.part_k = part(parts);
  l.part_v = part(parts);
  l.total = at;
  return l;
}

bool writes_nothing(const AttentionBackwardParams& p) {
  return p.fwd.batch <= 0 || p.fwd.heads <= 0 || p.fwd.head_dim == 0 || (p.fwd.nq <= 0 && p.fwd.nk <= 0);
}

}  // namespace

size_t backward_workspace_bytes(const AttentionBackwardParams& p, int bm, int bn, int kd) {
  return writes_nothing(p) ? 0 : bwd_layout(p, bm, bn, kd).total;
}

template <typename T>
void run_backward(const AttentionBackwardParams& p, int bm, int bn, int kd, void* workspace, BwdMainFn main_kernel, cudaStream_t stream) {
  const AttentionParams& f = p.fwd;
  if (writes_nothing(p)) return;
  check_dense_sizes(f, "attention backward");
  if (f.nq < 0) throw_invalid("attention backward: nq must be >= 0");
  if (f.lse == nullptr) throw_invalid("attention backward: the forward's lse is required");
  // dq may be null (dQ not wanted: the kernel skips its product and atomics); the rest may not.
  if (p.d_out == nullptr || p.dk == nullptr || p.dv == nullptr) throw_invalid("attention backward: d_out, dk and dv are required");
  if (f.tile_offsets != nullptr && (f.tile_m <= 0 || f.tile_n <= 0 || f.tile_m > INT_MAX || f.tile_n > INT_MAX)) {
    throw_invalid("attention backward: the tile lists' tiling must be positive");
  }
  if (workspace == nullptr && backward_workspace_bytes(p, bm, bn, kd) > 0) throw_invalid("attention backward: no workspace");
  KernelParams kp = kernel_params(f);
  kp.lse = nullptr;
  const size_t elem = dtype_size(f.dtype);
  const int64_t d = f.head_dim;
  const BwdLayout l = bwd_layout(p, bm, bn, kd);
  if (static_cast<int64_t>(l.n_tiles) * kp.bh > INT_MAX) throw_invalid("attention backward: too many key tiles for one grid");
  char* ws = static_cast<char*>(workspace);
  BwdParams bp{};
  bp.d_out = p.d_out;
  bp.dk = p.dk;
  bp.dv = p.dv;
  for (int i = 0; i < 3; ++i) {
    bp.do_s[i] = p.d_out_strides[i];
    bp.dk_s[i] = p.dk_strides[i];
    bp.dv_s[i] = p.dv_strides[i];
  }
  bp.vec_do = vec_shift(p.d_out, p.d_out_strides, f.batch, f.nq, f.heads, d, elem);
  bp.vec_dk = vec_shift(p.dk, p.dk_strides, f.batch, f.nk, f.heads / kp.kv_group, d, elem);
  bp.vec_dv = vec_shift(p.dv, p.dv_strides, f.batch, f.nk, f.heads / kp.kv_group, d, elem);
  bp.scale = f.scale;
  bp.lse2 = reinterpret_cast<float*>(ws + l.lse2);
  bp.delta = reinterpret_cast<float*>(ws + l.delta);
  bp.nq_pad = l.nq_pad;
  bp.dq_accum = p.dq != nullptr ? reinterpret_cast<float*>(ws + l.accum) : nullptr;
  bp.d_bias = p.d_bias;
  bp.m_tiles = l.m_tiles;
  bp.n_tiles = l.n_tiles;
  bp.col_ranges = kp.ranges != nullptr ? p.col_ranges : nullptr;
  if (kp.ranges != nullptr && p.col_ranges == nullptr) throw_invalid("attention backward: key ranges need their column ranges");
  const int group = kp.kv_group;
  if (group > 1) {  // the main kernel writes each query head's part; run_group_sum adds them up
    bp.dk = ws + l.part_k;
    bp.dv = ws + l.part_v;
    const int64_t parts_s[3] = {f.nk * f.heads * d, f.heads * d, d};
    for (int i = 0; i < 3; ++i) bp.dk_s[i] = bp.dv_s[i] = parts_s[i];
    bp.vec_dk = bp.vec_dv = vec_shift(bp.dk, bp.dk_s, f.batch, f.nk, f.heads, d, elem);
  }

  // delta and lse2 per row; the accumulators zeroed.
  const int wide = ilog2(16 / static_cast<int>(elem));
  run_bwd_prep<T>(prep_params(f, p.d_out, p.d_out_strides, l.nq_pad, kp.vec_o == wide && bp.vec_do == wide ? 1 << wide : 1,
                              const_cast<float*>(bp.delta), const_cast<float*>(bp.lse2)),
                  stream);
  const size_t accum_bytes = p.dq != nullptr ? static_cast<size_t>(kp.bh) * f.nq * kd * 4 : 0;
  if (accum_bytes > 0) NF_CUDA_CHECK(cudaMemsetAsync(bp.dq_accum, 0, accum_bytes, stream));
  if (p.d_bias != nullptr && f.nq > 0 && f.nk > 0) {
    NF_CUDA_CHECK(cudaMemsetAsync(p.d_bias, 0, static_cast<size_t>(kp.bh) * f.nq * f.nk * 4, stream));
  }

  // A block layout (or a mask's tile lists): the key tile -> query tile lists.
  if (f.tile_offsets != nullptr && l.n_tiles > 0 && l.m_tiles > 0) {
    ListParams lp{};
    lp.tile_offsets = f.tile_offsets;
    lp.tile_cols = f.tile_cols;
    lp.tile_cols_count = kp.tile_cols_count;
    lp.list_heads = l.list_heads;
    lp.nq = kp.nq;
    lp.nk = kp.nk;
    lp.fwd_m = static_cast<int>(f.tile_m);
    lp.fwd_n = static_cast<int>(f.tile_n);
    lp.bm = bm;
    lp.bn = bn;
    lp.m_tiles = l.m_tiles;
    lp.n_tiles = l.n_tiles;
    lp.q_lists = reinterpret_cast<int32_t*>(ws + l.lists);
    lp.q_counts = reinterpret_cast<int32_t*>(ws + l.counts);
    run_bwd_lists(lp, stream);
    bp.q_lists = lp.q_lists;
    bp.q_counts = lp.q_counts;
    bp.list_heads = l.list_heads;
  }

  if (l.n_tiles > 0) main_kernel(kp, bp, stream);
  if (group > 1) {
    GroupSumParams gp{bp.dk, bp.dv, p.dk, p.dv, {}, {}, static_cast<int>(f.batch), kp.nk, kp.heads, group, kp.d};
    std::copy(p.dk_strides, p.dk_strides + 3, gp.dk_s);
    std::copy(p.dv_strides, p.dv_strides + 3, gp.dv_s);
    run_group_sum<T>(gp, stream);
  }
  if (p.dq == nullptr) return;

  DqConvertParams cp{};
  cp.accum = bp.dq_accum;
  cp.dq = p.dq;
  for (int i = 0; i < 3; ++i) cp.dq_s[i] = p.dq_strides[i];
  cp.heads = kp.heads;
  cp.nq = kp.nq;
  cp.d = kp.d;
  cp.stride = kd;
  cp.bh = kp.bh;
  cp.scale = f.scale;
  run_dq_convert<T>(cp, stream);
}

template void run_backward<float>(const AttentionBackwardParams&, int, int, int, void*, BwdMainFn, cudaStream_t);
template void run_backward<__half>(const AttentionBackwardParams&, int, int, int, void*, BwdMainFn, cudaStream_t);
template void run_backward<__nv_bfloat16>(const AttentionBackwardParams&, int, int, int, void*, BwdMainFn, cudaStream_t);

}  // namespace attn

size_t attention_backward_workspace_bytes(const AttentionBackwardParams& p) {
  const AttentionParams& f = p.fwd;
  if (attn::writes_nothing(p) || f.nq < 0 || f.nk < 0 || f.head_dim < 0 || f.head_dim > kMaxAttentionHeadDim || !is_float(f.dtype)) {
    return 0;
  }
  size_t bytes = 0;
  attn::dispatch_attention(f.dtype, f.head_dim, [&](auto tag, auto bucket) {
    constexpr int kD = decltype(bucket)::value;
    using Tr = attn::BwdTraits<decltype(tag), kD>;
    bytes = attn::backward_workspace_bytes(p, Tr::kBM, Tr::kBN, kD);
  });
  return bytes;
}

void launch_attention_backward(const AttentionBackwardParams& p, void* workspace, cudaStream_t stream) {
  if (attn::writes_nothing(p)) return;
  attn::dispatch_attention(p.fwd.dtype, p.fwd.head_dim, [&](auto tag, auto bucket) {
    using T = decltype(tag);
    constexpr int kD = decltype(bucket)::value;
    using Tr = attn::BwdTraits<T, kD>;
    attn::run_backward<T>(p, Tr::kBM, Tr::kBN, kD, workspace, &attn::run_attention_bwd<T, kD>, stream);
  });
}

}  // namespace nf::cuda
