// What the CSR attention kernels (sparse_csr.cu, sparse_csr_bwd.cu) share: a lane's chunk of
// a head's D, loaded and stored kVec elements per access, and the host's pick of kVec.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../dtype_traits.cuh"

namespace nf::cuda {

template <int kBytes> struct VecType;  // an unsigned type of kBytes bytes
template <> struct VecType<16> { using type = uint4; };
template <> struct VecType<8> { using type = uint2; };
template <> struct VecType<4> { using type = uint32_t; };
template <> struct VecType<2> { using type = uint16_t; };

// x[c] = p[c] for c < valid, 0 beyond, kVec elements per access. The host picks kVec so
// that it divides d and keeps every access aligned; valid is then a multiple of kVec.
// Dims per lane: D itself when D <= 16 (one lane per head: no shuffles in the dot product,
// no idle dims for D = 12), else chunks of 8 (16 bytes of a 16-bit row) over 2 to 32 lanes.
constexpr int kWideChunk = 8;

// How both CSR kernels spread a warp's 32 lanes: dim_lanes lanes a head (1 when D <= 16, else
// 2 to 32 lanes of kWideChunk dims); with one mask for every head, heads_per_group heads (a
// power of two, at most 32 / dim_lanes) side by side in one unit of work; slots, the groups
// of lanes that remain. A per-head mask's rows each belong to one head: one head group.
struct LaneLayout {
  int dim_lanes = 1, heads_per_group = 1, head_groups = 1, slots = 32;
};

inline LaneLayout lane_layout(int64_t head_dim, int64_t heads, int64_t mask_heads) {
  LaneLayout l;
  if (head_dim > 16) while (l.dim_lanes * kWideChunk < head_dim) l.dim_lanes *= 2;
  if (mask_heads == 1) {
    while (l.heads_per_group * 2 <= 32 / l.dim_lanes && l.heads_per_group < heads) l.heads_per_group *= 2;
    l.head_groups = static_cast<int>((heads + l.heads_per_group - 1) / l.heads_per_group);
  }
  l.slots = 32 / (l.dim_lanes * l.heads_per_group);
  return l;
}

// x[c] = p[c] for c < valid, 0 beyond, kVec elements per access, kept in storage precision
// (two 16-bit values a register) until used. The host picks kVec so that it divides d and
// keeps every access aligned; valid is then a multiple of kVec (or <= 0).
template <typename T, int kVec, int kDimChunk>
__device__ __forceinline__ void load_chunk(const T* p, int valid, T (&x)[kDimChunk]) {
  using V = typename VecType<kVec * sizeof(T)>::type;
#pragma unroll
  for (int c = 0; c < kDimChunk; c += kVec) {
    if (c < valid) {  // always true when valid == kDimChunk is known at compile time
      *reinterpret_cast<V*>(x + c) = *reinterpret_cast<const V*>(p + c);
    } else {
#pragma unroll
      for (int i = 0; i < kVec; ++i) x[c + i] = from_float<T>(0.f);
    }
  }
}

template <typename T, int kVec, int kDimChunk>
__device__ __forceinline__ void store_chunk(T* p, int valid, const float (&x)[kDimChunk]) {
  using V = typename VecType<kVec * sizeof(T)>::type;
#pragma unroll
  for (int c = 0; c < kDimChunk; c += kVec) {
    if (c < valid) {
      T e[kVec];
#pragma unroll
      for (int i = 0; i < kVec; ++i) e[i] = from_float<T>(x[c + i]);
      *reinterpret_cast<V*>(p + c) = *reinterpret_cast<const V*>(e);
    }
  }
}

// The most elements (up to 16 bytes) per access that keep every access of a [batch, n,
// heads, d] view aligned: divides d, the base address and each stride of a dim longer than 1.
inline int vec_elems(const void* ptr, const int64_t* strides, int64_t batch, int64_t n, int64_t heads, int64_t d, size_t elem) {
  const int64_t extents[3] = {batch, n, heads};
  for (int64_t v = static_cast<int64_t>(16 / elem); v > 1; v /= 2) {
    bool ok = d % v == 0 && reinterpret_cast<uintptr_t>(ptr) % (v * elem) == 0;
    for (int i = 0; i < 3; ++i) ok = ok && (extents[i] <= 1 || strides[i] % v == 0);
    if (ok) return static_cast<int>(v);
  }
  return 1;
}

}  // namespace nf::cuda
