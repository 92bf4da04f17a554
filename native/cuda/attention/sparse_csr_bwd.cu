// The backward of attention over a CSR mask (SparseAttentionBackwardParams, ../../core/ops.h):
// gradients flow only through the mask's entries, and nothing is stored per entry. After the
// dense backward's prep kernel (bwd_prep.cu: delta = sum_d dO O and lse2 per query row),
//   row pass    one unit per (mask row i, batch, head group) over the row's CSR entries j:
//               p = 2^(scale log2(e) q_i . k_j - lse2_i), ds = p (dO_i . v_j - delta_i),
//               dQ_i = scale sum_j ds k_j;
//   column pass one unit per (mask column j, batch, head group) over the column's CSC entries
//               i (col_offsets, row_indices: built once with the mask), p and ds recomputed,
//               dK_j = scale sum_i ds q_i, dV_j = sum_i p dO_i.
// A unit is a warp, its lanes laid out as the forward's (sparse_csr.cu):
//   lane = (slot * kHeads + head) * kDimLanes + dim_lane,
// kDimLanes lanes sharing a head's D (kDimChunk dims each, partial dots summed by shuffles),
// the heads of a group side by side when one mask serves every head (their rows of one
// token are contiguous in [B, N, H, D]), and `slots` lanes groups taking every slots-th
// entry; the slots' sums are added by shuffles at the end. Every unit writes its row of dQ
// (or its column of dK and dV), zeros when it has no entries. Indices read from the lists
// are skipped when out of range.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "../../core/attention_limits.h"
#include "../check.h"
#include "../dtype_traits.cuh"
#include "../kernels.h"
#include "bwd.h"
#include "kernel_params.h"
#include "ptx.cuh"
#include "sparse_lanes.cuh"

namespace nf::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

struct SparseBwdParams {
  const void* q;
  const void* k;
  const void* v;
  const void* d_out;
  void* dq;
  void* dk;
  void* dv;
  int batch, heads, nq, nk, d;
  int64_t q_s[3], k_s[3], v_s[3], do_s[3], dq_s[3], dk_s[3], dv_s[3];  // along B, N, H
  float scale, scale_log2;
  int mask_heads;
  const int32_t* offsets;  // row pass: row_offsets [mask_heads * nq + 1]; columns: col_offsets [mask_heads * nk + 1]
  const int32_t* indices;  // col_indices or row_indices
  int nnz;
  int n_fixed;             // nq (row pass) or nk (column pass)
  int units;               // mask_heads * n_fixed * batch * head_groups
  int heads_per_group, head_groups, slots;
  const float* lse2;       // [batch * heads][nq]
  const float* delta;      // [batch * heads][nq]
};

// One unit's pass (the file's comment). kColumns: the column pass (fixed k_j, v_j; gathered
// q_i, dO_i), else the row pass (fixed q_i, dO_i; gathered k_j, v_j).
template <typename T, int kDimLanes, int kDimChunk, int kVec, int kChunk, bool kColumns>
__global__ void __launch_bounds__(32 * kWarpsPerBlock, 1) sparse_attention_bwd_kernel(const __grid_constant__ SparseBwdParams p) {
  const int unit = static_cast<int>(blockIdx.x) * kWarpsPerBlock + static_cast<int>(threadIdx.x >> 5);
  if (unit >= p.units) return;
  const int lists = p.mask_heads * p.n_fixed;
  const int r = unit % lists, bg = unit / lists;  // mask rows (columns) fastest: neighbours share gathered rows
  const int b = bg / p.head_groups, group = bg - b * p.head_groups;
  const int hm = r / p.n_fixed, x = r - hm * p.n_fixed;  // x: query i (row pass) or key j (column pass)
  const int lane = threadIdx.x & 31;
  const int dim_lane = lane % kDimLanes;
  const int head_in_group = (lane / kDimLanes) % p.heads_per_group;
  const int slot = lane / (kDimLanes * p.heads_per_group);
  const int h = p.mask_heads == 1 ? group * p.heads_per_group + head_in_group : hm;
  const bool active = h < p.heads;
  const int hh = active ? h : 0;
  const int d0 = dim_lane * kDimChunk;
  const int valid = min(kDimChunk, p.d - d0);
  const int64_t stat_row = (static_cast<int64_t>(b) * p.heads + hh) * p.nq;  // lse2 and delta of (b, hh)

  // The fixed pair (a: q_i or k_j, scaled by scale log2(e); c: dO_i or v_j) and the gathered
  // tensors' bases (ga: k or q, gc: v or dO) with their row strides.
  const T* fa = static_cast<const T*>(kColumns ? p.k : p.q);
  const T* fc = static_cast<const T*>(kColumns ? p.v : p.d_out);
  const int64_t* fa_s = kColumns ? p.k_s : p.q_s;
  const int64_t* fc_s = kColumns ? p.v_s : p.do_s;
  const T* ga = static_cast<const T*>(kColumns ? p.q : p.k) + b * (kColumns ? p.q_s[0] : p.k_s[0]) + hh * (kColumns ? p.q_s[2] : p.k_s[2]) + d0;
  const T* gc = static_cast<const T*>(kColumns ? p.d_out : p.v) + b * (kColumns ? p.do_s[0] : p.v_s[0]) + hh * (kColumns ? p.do_s[2] : p.v_s[2]) + d0;
  const int64_t ga_row = kColumns ? p.q_s[1] : p.k_s[1], gc_row = kColumns ? p.do_s[1] : p.v_s[1];
  const int n_gathered = kColumns ? p.nq : p.nk;

  float fa_x[kDimChunk], fc_x[kDimChunk];
  {
    T raw_a[kDimChunk], raw_c[kDimChunk];
    load_chunk<T, kVec, kDimChunk>(fa + b * fa_s[0] + x * fa_s[1] + hh * fa_s[2] + d0, valid, raw_a);
    load_chunk<T, kVec, kDimChunk>(fc + b * fc_s[0] + x * fc_s[1] + hh * fc_s[2] + d0, valid, raw_c);
#pragma unroll
    for (int c = 0; c < kDimChunk; ++c) {
      fa_x[c] = to_float(raw_a[c]) * p.scale_log2;
      fc_x[c] = to_float(raw_c[c]);
    }
  }
  float row_lse2 = 0.f, row_delta = 0.f;
  if (!kColumns) {
    row_lse2 = p.lse2[stat_row + x];
    row_delta = p.delta[stat_row + x];
  }

  float acc1[kDimChunk], acc2[kDimChunk];  // dQ (row pass); dK and dV (column pass)
#pragma unroll
  for (int c = 0; c < kDimChunk; ++c) acc1[c] = acc2[c] = 0.f;

  const int begin = min(max(p.offsets[r], 0), p.nnz);
  const int end = min(max(p.offsets[r + 1], begin), p.nnz);
  const int step = kChunk * p.slots;
  for (int base = begin; base < end; base += step) {  // the same trip count for every lane
    int idx[kChunk];
    T ga_raw[kChunk][kDimChunk], gc_raw[kChunk][kDimChunk];
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      const int e = base + slot + u * p.slots;
      const int n = p.indices[min(e, end - 1)];
      idx[u] = e < end && n >= 0 && n < n_gathered ? n : -1;
      const int64_t at = max(idx[u], 0);
      load_chunk<T, kVec, kDimChunk>(ga + at * ga_row, valid, ga_raw[u]);
      load_chunk<T, kVec, kDimChunk>(gc + at * gc_row, valid, gc_raw[u]);
    }
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      float s = 0.f, dp = 0.f;
#pragma unroll
      for (int c = 0; c < kDimChunk; ++c) {
        s = fmaf(fa_x[c], to_float(ga_raw[u][c]), s);
        dp = fmaf(fc_x[c], to_float(gc_raw[u][c]), dp);
      }
#pragma unroll
      for (int o = 1; o < kDimLanes; o <<= 1) {
        s += __shfl_xor_sync(0xffffffffu, s, o);
        dp += __shfl_xor_sync(0xffffffffu, dp, o);
      }
      float l2 = row_lse2, dl = row_delta;
      if (kColumns) {
        const int64_t i = max(idx[u], 0);
        l2 = p.lse2[stat_row + i];
        dl = p.delta[stat_row + i];
      }
      const float pe = idx[u] >= 0 ? attn::fast_exp2(s - l2) : 0.f;
      const float ds = pe * (dp - dl);
#pragma unroll
      for (int c = 0; c < kDimChunk; ++c) {
        const float a = to_float(ga_raw[u][c]);
        acc1[c] = fmaf(ds, a, acc1[c]);
        if (kColumns) acc2[c] = fmaf(pe, to_float(gc_raw[u][c]), acc2[c]);
      }
    }
  }

  // The slots of each head: lanes kDimLanes * heads_per_group * 2^k apart.
  for (int o = kDimLanes * p.heads_per_group; o < 32; o <<= 1) {
#pragma unroll
    for (int c = 0; c < kDimChunk; ++c) {
      acc1[c] += __shfl_xor_sync(0xffffffffu, acc1[c], o);
      if (kColumns) acc2[c] += __shfl_xor_sync(0xffffffffu, acc2[c], o);
    }
  }
  if (slot != 0 || !active || valid <= 0) return;
#pragma unroll
  for (int c = 0; c < kDimChunk; ++c) acc1[c] *= p.scale;
  if (kColumns) {
    store_chunk<T, kVec, kDimChunk>(static_cast<T*>(p.dk) + b * p.dk_s[0] + x * p.dk_s[1] + h * p.dk_s[2] + d0, valid, acc1);
    store_chunk<T, kVec, kDimChunk>(static_cast<T*>(p.dv) + b * p.dv_s[0] + x * p.dv_s[1] + h * p.dv_s[2] + d0, valid, acc2);
  } else {
    store_chunk<T, kVec, kDimChunk>(static_cast<T*>(p.dq) + b * p.dq_s[0] + x * p.dq_s[1] + h * p.dq_s[2] + d0, valid, acc1);
  }
}

// One launch of a pass over all units, at the widest access the views allow.
template <typename T, int kDimLanes, int kDimChunk, bool kColumns>
void launch_pass(const SparseBwdParams& kp, int vec, cudaStream_t stream) {
  constexpr int kChunk = kDimLanes == 1 ? 2 : 4;  // entries a lane has in flight, as the forward's
  constexpr int kFull = 16 / sizeof(T), kHalf = 8 / sizeof(T);
  const unsigned blocks = static_cast<unsigned>((static_cast<int64_t>(kp.units) + kWarpsPerBlock - 1) / kWarpsPerBlock);
  if constexpr (kDimChunk % kFull == 0) {
    if (vec >= kFull) {
      sparse_attention_bwd_kernel<T, kDimLanes, kDimChunk, kFull, kChunk, kColumns><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(kp);
      NF_CHECK_LAUNCH("sparse_attention_bwd_kernel");
      return;
    }
  }
  if constexpr (kDimChunk % kHalf == 0) {
    if (vec >= kHalf) {
      sparse_attention_bwd_kernel<T, kDimLanes, kDimChunk, kHalf, kChunk, kColumns><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(kp);
      NF_CHECK_LAUNCH("sparse_attention_bwd_kernel");
      return;
    }
  }
  sparse_attention_bwd_kernel<T, kDimLanes, kDimChunk, 1, kChunk, kColumns><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(kp);
  NF_CHECK_LAUNCH("sparse_attention_bwd_kernel");
}

template <typename T, bool kColumns>
void launch_by_lanes(const SparseBwdParams& kp, int dim_lanes, int vec, cudaStream_t stream) {
  if (kp.units <= 0) return;
  if (dim_lanes == 1) {
    if (kp.d <= 8) launch_pass<T, 1, 8, kColumns>(kp, vec, stream);
    else if (kp.d <= 12) launch_pass<T, 1, 12, kColumns>(kp, vec, stream);
    else launch_pass<T, 1, 16, kColumns>(kp, vec, stream);
    return;
  }
  switch (dim_lanes) {
    case 2: launch_pass<T, 2, kWideChunk, kColumns>(kp, vec, stream); break;
    case 4: launch_pass<T, 4, kWideChunk, kColumns>(kp, vec, stream); break;
    case 8: launch_pass<T, 8, kWideChunk, kColumns>(kp, vec, stream); break;
    case 16: launch_pass<T, 16, kWideChunk, kColumns>(kp, vec, stream); break;
    default: launch_pass<T, 32, kWideChunk, kColumns>(kp, vec, stream); break;
  }
}

bool writes_nothing(const SparseAttentionBackwardParams& p) {
  return p.fwd.batch <= 0 || p.fwd.heads <= 0 || p.fwd.head_dim == 0 || (p.fwd.nq <= 0 && p.fwd.nk <= 0);
}

}  // namespace

size_t sparse_attention_backward_workspace_bytes(const SparseAttentionBackwardParams& p) {
  if (writes_nothing(p) || p.fwd.nq <= 0) return 0;
  return static_cast<size_t>(p.fwd.batch) * p.fwd.heads * p.fwd.nq * 2 * 4;  // lse2, delta
}

void launch_sparse_attention_backward(const SparseAttentionBackwardParams& p, void* workspace, cudaStream_t stream) {
  const SparseAttentionParams& f = p.fwd;
  if (writes_nothing(p)) return;
  if (f.head_dim < 0 || f.head_dim > kMaxAttentionHeadDim) {
    throw_invalid("sparse attention backward: head dim " + std::to_string(f.head_dim) + " is not supported (1 to " +
                  std::to_string(kMaxAttentionHeadDim) + ")");
  }
  if (f.nq < 0 || f.nk < 0 || f.nq > INT_MAX || f.nk > INT_MAX || f.nnz > INT_MAX || f.mask_heads * f.nq > INT_MAX ||
      f.mask_heads * f.nk > INT_MAX || f.batch * f.heads > INT_MAX) {
    throw_invalid("sparse attention backward: sizes must each be under 2^31");
  }
  if (f.mask_heads != 1 && f.mask_heads != f.heads) throw_invalid("sparse attention backward: mask heads must be 1 or H");
  if (f.lse == nullptr) throw_invalid("sparse attention backward: the forward's lse is required");
  if (p.d_out == nullptr || p.dq == nullptr || p.dk == nullptr || p.dv == nullptr) {
    throw_invalid("sparse attention backward: d_out, dq, dk and dv are required");
  }
  if (f.row_offsets == nullptr || p.col_offsets == nullptr || (f.nnz > 0 && (f.col_indices == nullptr || p.row_indices == nullptr))) {
    throw_invalid("sparse attention backward: the mask's CSR and CSC lists are required");
  }
  if (workspace == nullptr && sparse_attention_backward_workspace_bytes(p) > 0) throw_invalid("sparse attention backward: no workspace");
  const size_t elem = dtype_size(f.dtype);
  const int64_t d = f.head_dim;
  const LaneLayout lanes = lane_layout(d, f.heads, f.mask_heads);
  const int dim_lanes = lanes.dim_lanes;

  SparseBwdParams kp{};
  kp.q = f.q;
  kp.k = f.k;
  kp.v = f.v;
  kp.d_out = p.d_out;
  kp.dq = p.dq;
  kp.dk = p.dk;
  kp.dv = p.dv;
  kp.batch = static_cast<int>(f.batch);
  kp.heads = static_cast<int>(f.heads);
  kp.nq = static_cast<int>(f.nq);
  kp.nk = static_cast<int>(f.nk);
  kp.d = static_cast<int>(d);
  for (int i = 0; i < 3; ++i) {
    kp.q_s[i] = f.q_strides[i];
    kp.k_s[i] = f.k_strides[i];
    kp.v_s[i] = f.v_strides[i];
    kp.do_s[i] = p.d_out_strides[i];
    kp.dq_s[i] = p.dq_strides[i];
    kp.dk_s[i] = p.dk_strides[i];
    kp.dv_s[i] = p.dv_strides[i];
  }
  kp.scale = f.scale;
  kp.scale_log2 = f.scale * attn::kLog2e;
  kp.mask_heads = static_cast<int>(f.mask_heads);
  kp.nnz = static_cast<int>(f.nnz);
  kp.heads_per_group = lanes.heads_per_group;
  kp.head_groups = lanes.head_groups;  // a per-head mask: one unit per (row, batch)
  kp.slots = lanes.slots;
  float* ws = static_cast<float*>(workspace);
  const size_t rows = static_cast<size_t>(f.batch) * f.heads * f.nq;
  kp.lse2 = ws;
  kp.delta = ws + rows;

  int vec = vec_elems(f.q, f.q_strides, f.batch, f.nq, f.heads, d, elem);
  vec = std::min(vec, vec_elems(f.k, f.k_strides, f.batch, f.nk, f.heads, d, elem));
  vec = std::min(vec, vec_elems(f.v, f.v_strides, f.batch, f.nk, f.heads, d, elem));
  vec = std::min(vec, vec_elems(p.d_out, p.d_out_strides, f.batch, f.nq, f.heads, d, elem));
  vec = std::min(vec, vec_elems(p.dq, p.dq_strides, f.batch, f.nq, f.heads, d, elem));
  vec = std::min(vec, vec_elems(p.dk, p.dk_strides, f.batch, f.nk, f.heads, d, elem));
  vec = std::min(vec, vec_elems(p.dv, p.dv_strides, f.batch, f.nk, f.heads, d, elem));
  const int wide = static_cast<int>(16 / elem);
  const bool wide_o = std::min(vec_elems(f.out, f.out_strides, f.batch, f.nq, f.heads, d, elem),
                               vec_elems(p.d_out, p.d_out_strides, f.batch, f.nq, f.heads, d, elem)) == wide;

  dispatch_float(f.dtype, "sparse attention backward", [&](auto tag) {
    using T = decltype(tag);
    attn::run_bwd_prep<T>(attn::prep_params(f, p.d_out, p.d_out_strides, kp.nq, wide_o ? wide : 1, const_cast<float*>(kp.delta),
                                            const_cast<float*>(kp.lse2)),
                          stream);

    // The row pass (dQ over the CSR lists), then the column pass (dK, dV over the CSC lists).
    auto pass = [&](auto columns, const int32_t* offsets, const int32_t* indices, int64_t n_fixed) {
      SparseBwdParams pp = kp;
      pp.offsets = offsets;
      pp.indices = indices;
      pp.n_fixed = static_cast<int>(n_fixed);
      const int64_t units = f.mask_heads * n_fixed * f.batch * kp.head_groups;
      if (units > INT_MAX - kWarpsPerBlock) throw_invalid("sparse attention backward: too many work units for one grid");
      pp.units = static_cast<int>(units);
      launch_by_lanes<T, decltype(columns)::value>(pp, dim_lanes, vec, stream);
    };
    pass(std::false_type{}, f.row_offsets, f.col_indices, f.nq);
    pass(std::true_type{}, p.col_offsets, p.row_indices, f.nk);
  });
}

}  // namespace nf::cuda
