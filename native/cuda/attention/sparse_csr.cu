// Fused attention over a CSR mask (the `sparse` mechanism); the exact semantics are
// SparseAttentionParams' comment in ../core/ops.h. One pass per query row: the scores of the
// row's nonzero keys, the online softmax and the V accumulation, nothing written to memory
// but the output.
//
// sparse_attention_kernel: one warp per work unit = (schedule item, batch b, head group).
// An item is a run of one mask row's CSR entries (a whole row, or a piece of a long row: the
// schedule cuts rows longer than a segment into pieces so that a dense row does not leave
// one warp running long after the others, and puts the items much longer than the mean
// first, as lead items that start for every batch and head group in the first wave). The
// warp's 32 lanes are laid out as
//   lane = (slot * kHeads + head) * kDimLanes + dim_lane,
// kDimLanes lanes sharing one head's D (kDimChunk dims each: a score is their partial dot
// products summed with shuffles), `heads` heads of the group side by side, and the rest as
// `slots` that take every slots-th entry of the run. When one mask serves every head, the
// heads of a group read the same column indices and their K and V rows sit side by side in
// memory ([B, N, H, D]), so one column index brings in one contiguous run of H * D values:
// the mask is read once per (row, batch), not once per head. With per-head masks each unit
// is one head. Each lane keeps its own running max, sum and output over the entries it
// sees, kChunk entries a step (their loads in flight together, with the next step's column
// indices); at the end the slots of a head are merged with shuffles. A unit writes out, or
// (a piece of a split row) its partial max/sum/output to the workspace, which
// sparse_merge_kernel combines, one warp per (split row, batch, head).
//
// Every index read from the mask and the schedule is clamped or skipped when out of range,
// so forged lists cannot make a kernel read outside q, k, v or the lists themselves.
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
#include "kernel_params.h"
#include "online_softmax.cuh"
#include "sparse_lanes.cuh"

namespace nf::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kWarpsPerBlock = 4;

struct SparseKernelParams {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int batch, heads, nq, nk, d;
  int64_t q_s[3], k_s[3], v_s[3], o_s[3];  // along B, N, H, in elements
  int k_row, v_row;                        // k_s[1], v_s[1] (under 2^31: the host checks)
  float scale_log2;                        // scale * log2(e)
  int mask_heads;
  int mask_rows;  // mask_heads * nq
  const int32_t* row_offsets;
  const int32_t* col_indices;
  const int32_t* items;
  int num_items;
  int units;            // num_items * batch * head_groups
  int lead_items;       // items [0, lead_items) start first, for every (batch, head group)
  int nnz;              // entries of col_indices (placed here so that the 4-byte fields pair up)
  int heads_per_group;  // heads in one unit: a power of two, 1 for per-head masks
  int head_groups;      // ceil(heads / heads_per_group); 1 for per-head masks
  int slots;            // 32 / (heads_per_group * kDimLanes)
  int num_slots;        // partial slots in the workspace
  float* ws_o;          // [num_slots][batch][heads][d]
  float* ws_ml;         // [num_slots][batch][heads][2]: row max (log2 units), row sum
  float* lse;           // [batch][heads][nq], or null: SparseAttentionParams' lse
};

struct MergeParams {
  void* out;
  int batch, heads, nq, d;
  int64_t o_s[3];
  int mask_heads, mask_rows;
  const int32_t* merges;
  int num_merges, num_slots;
  const float* ws_o;
  const float* ws_ml;
  float* lse;
};

// 2^x; ex2.approx of -inf is +0.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// A lane's kDims query values (this lane's chunk of D), scaled by scale * log2(e).
template <typename T, int kVec, int kDims>
__device__ __forceinline__ void load_query(const T* q, int valid, float scale_log2, float (&qx)[kDims]) {
  T raw[kDims];
  load_chunk<T, kVec, kDims>(q, valid, raw);
#pragma unroll
  for (int c = 0; c < kDims; ++c) qx[c] = to_float(raw[c]) * scale_log2;
}

// A lane's part of one run of CSR entries [begin, end): it takes entries first + u * stride
// of each step of kChunk * stride entries (u < kChunk), scores them against its kDims of the
// query (the kLanes lanes of a head sum their partial dots with shuffles), and keeps the
// online softmax of what it saw: running max m (log2 units), sum l and unnormalized output
// acc. The column indices of the next step are loaded while this step's K and V rows are,
// so that a step waits on one round trip to memory, not on an index load and then the rows
// it names. The trip count is the same for every lane, so the shuffles see the whole warp.
// The loop is branch-free: an entry past `end` re-reads entry end - 1, and an entry past the
// end or with a column outside [0, nk) reads key row 0 and scores -inf.
template <int kChunk>
__device__ __forceinline__ void load_columns(const SparseKernelParams& p, int base, int end, int first, int stride, int (&col)[kChunk]) {
#pragma unroll
  for (int u = 0; u < kChunk; ++u) {
    const int e = base + first + u * stride;
    const int c = p.col_indices[min(e, end - 1)];
    col[u] = e < end && c >= 0 && c < p.nk ? c : -1;
  }
}

template <typename T, int kVec, int kDims, int kChunk, int kLanes>
__device__ __forceinline__ void attend_run(const SparseKernelParams& p, int begin, int end, int first, int stride, const T* gk,
                                           const T* gv, int k_row, int v_row, int valid, const float (&qx)[kDims], float& m,
                                           float& l, float (&acc)[kDims]) {
  if (begin >= end || p.nk <= 0) return;  // the same for the whole warp
  const int step = kChunk * stride;
  int next[kChunk];
  load_columns<kChunk>(p, begin, end, first, stride, next);
  for (int base = begin; base < end; base += step) {
    int col[kChunk];
#pragma unroll
    for (int u = 0; u < kChunk; ++u) col[u] = next[u];
    if (base + step < end) load_columns<kChunk>(p, base + step, end, first, stride, next);
    T kx[kChunk][kDims], vx[kChunk][kDims];
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      const int n = max(col[u], 0);
      load_chunk<T, kVec, kDims>(gk + static_cast<int64_t>(n) * k_row, valid, kx[u]);
      load_chunk<T, kVec, kDims>(gv + static_cast<int64_t>(n) * v_row, valid, vx[u]);
    }
    float s[kChunk];
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      float dot = 0.f;
#pragma unroll
      for (int c = 0; c < kDims; ++c) dot = fmaf(qx[c], to_float(kx[u][c]), dot);
#pragma unroll
      for (int o = 1; o < kLanes; o <<= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
      s[u] = col[u] >= 0 ? dot : -INFINITY;
    }
    float mx = m;
#pragma unroll
    for (int u = 0; u < kChunk; ++u) mx = fmaxf(mx, s[u]);
    const float m_sub = mx == -INFINITY ? 0.f : mx;  // nothing allowed yet: exp2(-inf) = 0
    const float alpha = fast_exp2(m - m_sub);
    m = mx;
    l *= alpha;
#pragma unroll
    for (int c = 0; c < kDims; ++c) acc[c] *= alpha;
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      const float pu = fast_exp2(s[u] - m_sub);
      l += pu;
#pragma unroll
      for (int c = 0; c < kDims; ++c) acc[c] = fmaf(pu, to_float(vx[u][c]), acc[c]);
    }
  }
}

// A lane's part of row i of (b, h) when done: acc / l into out (slot_out < 0), or, for a
// piece of a split row, the unnormalized acc, with m and l (from `writes_ml` lanes), into
// the workspace's slot_out. Only lanes with dims inside D (valid > 0) call it.
template <typename T, int kVec, int kDims>
__device__ __forceinline__ void write_row(const SparseKernelParams& p, int slot_out, int b, int i, int h, int d0, int valid,
                                          float m, float l, float (&acc)[kDims], bool writes_ml) {
  if (slot_out < 0) {
    if (p.lse != nullptr && writes_ml) p.lse[(static_cast<int64_t>(b) * p.heads + h) * p.nq + i] = attn::row_lse(m, l);
    const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
    for (int c = 0; c < kDims; ++c) acc[c] *= inv;
    store_chunk<T, kVec, kDims>(static_cast<T*>(p.out) + b * p.o_s[0] + i * p.o_s[1] + h * p.o_s[2] + d0, valid, acc);
    return;
  }
  const int64_t row = (static_cast<int64_t>(slot_out) * p.batch + b) * p.heads + h;
  float* o = p.ws_o + row * p.d + d0;
#pragma unroll
  for (int c = 0; c < kDims; ++c) {
    if (c < valid) o[c] = acc[c];
  }
  if (writes_ml) {
    p.ws_ml[row * 2] = m;
    p.ws_ml[row * 2 + 1] = l;
  }
}

// kExact: D == kDimLanes * kDimChunk, so every lane's chunk lies inside D and the loads in
// the key loop need no predicates (D = 8, 12, 16, 32, 64, 128, 256).
template <typename T, int kDimLanes, int kDimChunk, int kVec, int kChunk, bool kExact>
__global__ void __launch_bounds__(32 * kWarpsPerBlock) sparse_attention_kernel(const __grid_constant__ SparseKernelParams p) {
  static_assert(kDimChunk % kVec == 0, "whole vector accesses per chunk");
  // Units (under 2^31: the host checks) in launch order: first the lead items (the long
  // ones) of every (batch, head group), so that no long row starts in the grid's last wave
  // and runs on alone; then the other items, items fastest, so that the warps of a block
  // take neighbouring rows of one (batch, head group), whose keys overlap in local patterns.
  const int unit = static_cast<int>(blockIdx.x) * kWarpsPerBlock + static_cast<int>(threadIdx.x >> 5);
  if (unit >= p.units) return;
  const int groups_all = p.batch * p.head_groups;
  const int lead_units = p.lead_items * groups_all;  // <= units: the host clamps lead_items
  const int rest_items = p.num_items - p.lead_items;
  int item, bg;
  if (unit < lead_units) {
    item = unit / groups_all;
    bg = unit - item * groups_all;
  } else {
    const int u = unit - lead_units;
    bg = u / rest_items;
    item = p.lead_items + (u - bg * rest_items);
  }
  const int b = bg / p.head_groups, group = bg - b * p.head_groups;
  // K and V: base pointers and row strides read here, before the unit's early exits, and
  // passed on as values (reading them at their uses changes the registers of some instances).
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const int k_row = p.k_row, v_row = p.v_row;
  const int lane = threadIdx.x & 31;

  const int r = p.items[4 * item];
  if (r < 0 || r >= p.mask_rows) return;
  const int begin = min(max(p.items[4 * item + 1], 0), p.nnz);
  const int end = min(max(p.items[4 * item + 2], begin), p.nnz);
  const int slot_out = p.items[4 * item + 3];
  if (slot_out >= p.num_slots) return;
  const int hm = r / p.nq, i = r - hm * p.nq;

  const int dim_lane = lane % kDimLanes;
  const int head_in_group = (lane / kDimLanes) % p.heads_per_group;
  const int slot = lane / (kDimLanes * p.heads_per_group);
  const int h = p.mask_heads == 1 ? group * p.heads_per_group + head_in_group : hm;
  const bool active = h < p.heads;  // the last group of a shared mask may be short
  const int hh = active ? h : 0;   // lanes past the last head compute on head 0 and never store
  const int d0 = dim_lane * kDimChunk;
  const int valid = kExact ? kDimChunk : min(kDimChunk, p.d - d0);  // dims of this lane's chunk inside D (may be <= 0)

  const T* gk = k + b * p.k_s[0] + hh * p.k_s[2] + d0;
  const T* gv = v + b * p.v_s[0] + hh * p.v_s[2] + d0;

  float qx[kDimChunk];
  load_query<T, kVec, kDimChunk>(static_cast<const T*>(p.q) + b * p.q_s[0] + i * p.q_s[1] + hh * p.q_s[2] + d0, valid, p.scale_log2, qx);
  float acc[kDimChunk];
#pragma unroll
  for (int c = 0; c < kDimChunk; ++c) acc[c] = 0.f;
  float m = -INFINITY, l = 0.f;
  // kChunk * slots entries a step: this lane's are base + slot + u * slots.
  attend_run<T, kVec, kDimChunk, kChunk, kDimLanes>(p, begin, end, slot, p.slots, gk, gv, k_row, v_row, valid, qx, m, l, acc);

  // Merge the slots of each head: lanes kDimLanes * heads_per_group * 2^k apart.
  for (int o = kDimLanes * p.heads_per_group; o < 32; o <<= 1) {
    const float m_o = __shfl_xor_sync(0xffffffffu, m, o);
    const float l_o = __shfl_xor_sync(0xffffffffu, l, o);
    const float mx = fmaxf(m, m_o);
    const float m_sub = mx == -INFINITY ? 0.f : mx;
    const float a = fast_exp2(m - m_sub), a_o = fast_exp2(m_o - m_sub);
    l = l * a + l_o * a_o;
#pragma unroll
    for (int c = 0; c < kDimChunk; ++c) acc[c] = acc[c] * a + __shfl_xor_sync(0xffffffffu, acc[c], o) * a_o;
    m = mx;
  }
  if (slot != 0 || !active || valid <= 0) return;
  write_row<T, kVec, kDimChunk>(p, slot_out, b, i, h, d0, valid, m, l, acc, dim_lane == 0);
}

// out = sum_s 2^(m_s - M) O_s / sum_s 2^(m_s - M) l_s over a split row's slots, M = max m_s:
// one warp per (merge record, batch, head), lanes along D.
template <typename T>
__global__ void __launch_bounds__(128) sparse_merge_kernel(const __grid_constant__ MergeParams p) {
  const int64_t unit = static_cast<int64_t>(blockIdx.x) * 4 + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  const int64_t per_record = static_cast<int64_t>(p.batch) * p.heads;
  if (unit >= per_record * p.num_merges) return;
  const int rec = static_cast<int>(unit / per_record);
  const int bh = static_cast<int>(unit - rec * per_record);
  const int b = bh / p.heads, h = bh - b * p.heads;
  const int r = p.merges[3 * rec];
  const int first = p.merges[3 * rec + 1], count = p.merges[3 * rec + 2];
  if (r < 0 || r >= p.mask_rows || first < 0 || count < 0 || first > p.num_slots - count) return;
  const int hm = r / p.nq, i = r - hm * p.nq;
  if (p.mask_heads != 1 && h != hm) return;  // a per-head mask row belongs to one head
  float m_max = -INFINITY;
  for (int s = first; s < first + count; ++s) m_max = fmaxf(m_max, p.ws_ml[((static_cast<int64_t>(s) * p.batch + b) * p.heads + h) * 2]);
  const float m_sub = m_max == -INFINITY ? 0.f : m_max;
  float l_sum = 0.f;
  for (int s = first; s < first + count; ++s) {
    const int64_t row = (static_cast<int64_t>(s) * p.batch + b) * p.heads + h;
    l_sum += exp2f(p.ws_ml[row * 2] - m_sub) * p.ws_ml[row * 2 + 1];
  }
  const float inv = l_sum > 0.f ? 1.f / l_sum : 0.f;
  if (p.lse != nullptr && lane == 0) p.lse[(static_cast<int64_t>(b) * p.heads + h) * p.nq + i] = attn::row_lse(m_max, l_sum);
  T* o = static_cast<T*>(p.out) + b * p.o_s[0] + i * p.o_s[1] + h * p.o_s[2];
  for (int c = lane; c < p.d; c += 32) {
    float acc = 0.f;
    for (int s = first; s < first + count; ++s) {
      const int64_t row = (static_cast<int64_t>(s) * p.batch + b) * p.heads + h;
      acc = fmaf(exp2f(p.ws_ml[row * 2] - m_sub), p.ws_o[row * p.d + c], acc);
    }
    o[c] = from_float<T>(acc * inv);
  }
}

// ---- host side ------------------------------------------------------------------------------

// Entries a lane has in flight per step: 2 with one lane per head (4 slots of 8 heads then
// cover 8 entries a step, little waste on rows of ~40; faster than 4 on the notebook case),
// 4 when a head spans lanes.
//
// Blocks of 4 warps: on the notebook case (B64 N197 H8 D12) faster than blocks of 16 warps,
// than a warp's lanes along one K row of 8 heads, and than a kernel staging K and V in shared
// memory (BENCHMARKS.md, sparse attention; commits 14fd1e6 and e8ed279).

// launch_blocks: one launch of kWarpsPerBlock-warp blocks over all units, exact or
// predicated by D.
template <typename T, int kDimLanes, int kDimChunk, int kVec>
void launch_blocks(const SparseKernelParams& kp, cudaStream_t stream) {
  constexpr int kChunk = kDimLanes == 1 ? 2 : 4;
  const unsigned blocks = static_cast<unsigned>((static_cast<int64_t>(kp.units) + kWarpsPerBlock - 1) / kWarpsPerBlock);
  if (kp.d == kDimLanes * kDimChunk) {
    sparse_attention_kernel<T, kDimLanes, kDimChunk, kVec, kChunk, true><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(kp);
  } else {
    sparse_attention_kernel<T, kDimLanes, kDimChunk, kVec, kChunk, false><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(kp);
  }
  NF_CHECK_LAUNCH("sparse_attention_kernel");
}

// Picks the kernel for (dtype, lanes per head, dims per lane, vector width): the widest
// access every view allows, else 8 bytes (D = 12 in 16-bit), else one element.
template <typename T, int kDimLanes, int kDimChunk>
void launch_by_vec(const SparseKernelParams& kp, int vec, cudaStream_t stream) {
  constexpr int kFull = 16 / sizeof(T), kHalf = 8 / sizeof(T);
  if constexpr (kDimChunk % kFull == 0) {
    if (vec >= kFull) return launch_blocks<T, kDimLanes, kDimChunk, kFull>(kp, stream);
  }
  if constexpr (kDimChunk % kHalf == 0) {
    if (vec >= kHalf) return launch_blocks<T, kDimLanes, kDimChunk, kHalf>(kp, stream);
  }
  launch_blocks<T, kDimLanes, kDimChunk, 1>(kp, stream);
}

template <typename T>
void launch_typed(const SparseAttentionParams& p, SparseKernelParams kp, int dim_lanes, int vec, void* workspace,
                  cudaStream_t stream) {
  const int64_t units = static_cast<int64_t>(kp.num_items) * kp.batch * kp.head_groups;
  if (units > 0) {
    if (units > INT_MAX - kWarpsPerBlock) throw_invalid("sparseAttention: too many work units (items * batch * head groups) for one grid");
    kp.units = static_cast<int>(units);
    if (dim_lanes == 1) {
      if (kp.d <= 8) launch_by_vec<T, 1, 8>(kp, vec, stream);
      else if (kp.d <= 12) launch_by_vec<T, 1, 12>(kp, vec, stream);
      else launch_by_vec<T, 1, 16>(kp, vec, stream);
    } else {
      switch (dim_lanes) {
        case 2: launch_by_vec<T, 2, kWideChunk>(kp, vec, stream); break;
        case 4: launch_by_vec<T, 4, kWideChunk>(kp, vec, stream); break;
        case 8: launch_by_vec<T, 8, kWideChunk>(kp, vec, stream); break;
        case 16: launch_by_vec<T, 16, kWideChunk>(kp, vec, stream); break;
        default: launch_by_vec<T, 32, kWideChunk>(kp, vec, stream); break;
      }
    }
  }
  if (p.num_merges > 0 && workspace != nullptr) {
    MergeParams mp{};
    mp.out = p.out;
    mp.batch = kp.batch;
    mp.heads = kp.heads;
    mp.nq = kp.nq;
    mp.d = kp.d;
    for (int i = 0; i < 3; ++i) mp.o_s[i] = p.out_strides[i];
    mp.mask_heads = kp.mask_heads;
    mp.mask_rows = kp.mask_rows;
    mp.merges = p.merges;
    mp.num_merges = static_cast<int>(p.num_merges);
    mp.num_slots = kp.num_slots;
    mp.ws_o = kp.ws_o;
    mp.ws_ml = kp.ws_ml;
    mp.lse = p.lse;
    const int64_t merge_units = p.num_merges * p.batch * p.heads;
    sparse_merge_kernel<T><<<static_cast<unsigned>((merge_units + 3) / 4), 128, 0, stream>>>(mp);
    NF_CHECK_LAUNCH("sparse_merge_kernel");
  }
}

}  // namespace

size_t sparse_attention_workspace_bytes(const SparseAttentionParams& p) {
  if (p.num_slots <= 0 || p.num_merges <= 0 || p.batch <= 0 || p.heads <= 0 || p.head_dim <= 0) return 0;
  return static_cast<size_t>(p.num_slots) * p.batch * p.heads * (static_cast<size_t>(p.head_dim) + 2) * 4;
}

void launch_sparse_attention(const SparseAttentionParams& p, void* workspace, cudaStream_t stream) {
  if (p.batch <= 0 || p.heads <= 0 || p.nq <= 0 || p.head_dim == 0) return;  // nothing to write
  if (p.head_dim < 0 || p.head_dim > kMaxAttentionHeadDim) {
    throw_invalid("sparseAttention: head dim " + std::to_string(p.head_dim) + " is not supported (1 to " +
                  std::to_string(kMaxAttentionHeadDim) + ")");
  }
  if (p.nq > INT_MAX || p.nk > INT_MAX || p.nk < 0 || p.batch > INT_MAX || p.heads > INT_MAX || p.nnz > INT_MAX ||
      p.num_items > INT_MAX || p.num_merges > INT_MAX || p.num_slots > INT_MAX || p.mask_heads * p.nq > INT_MAX) {
    throw_invalid("sparseAttention: sizes must each be under 2^31");
  }
  if (p.mask_heads != 1 && p.mask_heads != p.heads) throw_invalid("sparseAttention: mask heads must be 1 or H");
  const size_t elem = dtype_size(p.dtype);
  const int64_t d = p.head_dim;
  static_assert(32 * kWideChunk >= kMaxAttentionHeadDim, "a warp's lanes cover the max head dim");
  const LaneLayout lanes = lane_layout(d, p.heads, p.mask_heads);
  const int dim_lanes = lanes.dim_lanes;

  SparseKernelParams kp{};
  attn::fill_qkv(kp, p);
  kp.batch = static_cast<int>(p.batch);
  if (p.k_strides[1] > INT_MAX || p.v_strides[1] > INT_MAX) throw_invalid("sparseAttention: k and v row strides must be under 2^31 elements");
  kp.k_row = static_cast<int>(p.k_strides[1]);
  kp.v_row = static_cast<int>(p.v_strides[1]);
  kp.scale_log2 = p.scale * kLog2e;
  kp.lse = p.lse;
  kp.mask_heads = static_cast<int>(p.mask_heads);
  kp.mask_rows = static_cast<int>(p.mask_heads * p.nq);
  kp.row_offsets = p.row_offsets;
  kp.col_indices = p.col_indices;
  kp.nnz = static_cast<int>(p.nnz);
  kp.items = p.items;
  kp.num_items = static_cast<int>(p.num_items);
  kp.lead_items = static_cast<int>(std::min(std::max<int64_t>(p.lead_items, 0), p.num_items));
  kp.heads_per_group = lanes.heads_per_group;
  kp.head_groups = lanes.head_groups;  // a per-head mask: one unit per (item, batch), not H of them
  kp.slots = lanes.slots;
  kp.num_slots = workspace != nullptr ? static_cast<int>(p.num_slots) : 0;
  if (workspace != nullptr) {
    const size_t rows = static_cast<size_t>(p.num_slots) * p.batch * p.heads;
    kp.ws_o = static_cast<float*>(workspace);
    kp.ws_ml = kp.ws_o + rows * static_cast<size_t>(d);
  }
  int vec = vec_elems(p.q, p.q_strides, p.batch, p.nq, p.heads, d, elem);
  vec = std::min(vec, vec_elems(p.k, p.k_strides, p.batch, p.nk, p.heads, d, elem));
  vec = std::min(vec, vec_elems(p.v, p.v_strides, p.batch, p.nk, p.heads, d, elem));
  vec = std::min(vec, vec_elems(p.out, p.out_strides, p.batch, p.nq, p.heads, d, elem));
  dispatch_float(p.dtype, "sparseAttention", [&](auto tag) {
    using T = decltype(tag);
    launch_typed<T>(p, kp, dim_lanes, vec, workspace, stream);
  });
}

}  // namespace nf::cuda
