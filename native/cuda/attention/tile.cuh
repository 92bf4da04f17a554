// Shared-memory tiles of the dense attention kernels: the swizzled (16-bit, for ldmatrix) and
// padded (float32) layouts, and the copies of a [rows, D] tile between global and shared memory.
#pragma once
#include <cstdint>

#include "../dtype_traits.cuh"
#include "kernel_params.h"
#include "ptx.cuh"

namespace nf::cuda::attn {

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

}  // namespace nf::cuda::attn
