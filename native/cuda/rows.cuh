// What the row-wise kernel families (layernorm.cu, softmax.cu) share: how a row splits into
// head scalars, aligned body vectors and tail scalars; lane-group sums; a thread's walk over
// a row; and the host's choice among the three kernels of a family by the row length —
//   group (cols <= kGroupMaxCols): kWidth lanes of a warp own a row, kChunks vectors a lane;
//   block: one block a row, the row in registers (kChunks vectors a thread);
//   long:  one kBlockMaxThreads block a row, in passes over global memory.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "check.h"
#include "dtype_traits.cuh"
#include "vector.cuh"

namespace nf::cuda::rows {

inline constexpr int kGroupThreads = 128;    // block size of the group kernels
inline constexpr int kGroupMaxCols = 1024;   // longest row a group kernel takes
inline constexpr int kBlockMaxThreads = 512;
inline constexpr int kMaxPerThread = 32;     // register-resident elements per thread (block kernels)
inline constexpr int kMaxScalarChunks = 16;  // scalar loads cost more registers (an address each)

// A row as head scalars, body vectors of kVec (16-byte aligned) and tail scalars.
struct RowSplit {
  int64_t head, body, tail;
};

template <int kVec, typename T>
__device__ __forceinline__ RowSplit split_row(const T* row, int64_t cols) {
  if constexpr (kVec == 1) {
    return {0, cols, 0};
  } else {
    const int64_t mis = static_cast<int64_t>((reinterpret_cast<uintptr_t>(row) & 15u) / sizeof(T));
    const int64_t head = mis == 0 ? 0 : (kVec - mis < cols ? kVec - mis : cols);
    const int64_t body = (cols - head) / kVec;
    return {head, body, cols - head - body * kVec};
  }
}

// Sum over the kWidth lanes of an aligned lane group (kWidth a power of two <= 32). Every
// lane of the warp must call it.
template <int kWidth>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int o = kWidth / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Calls fn(col, value) for the head and tail scalars of this thread and fn_vec(col, vector)
// for its body vectors (thread t of n: vectors t, t + n, ...).
template <int kVec, typename T, typename Fn, typename FnVec>
__device__ __forceinline__ void visit_row(const T* xr, const RowSplit& rs, Fn&& fn, FnVec&& fn_vec) {
  const int64_t tid = threadIdx.x, n = blockDim.x;
  if (tid < rs.head) fn(tid, to_float(xr[tid]));
#pragma unroll 4
  for (int64_t vi = tid; vi < rs.body; vi += n) {
    float t[kVec];
    load_vec<kVec>(xr + rs.head + vi * kVec, t);
    fn_vec(rs.head + vi * kVec, t);
  }
  const int64_t tail0 = rs.head + rs.body * kVec;
  if (tid < rs.tail) fn(tail0 + tid, to_float(xr[tail0 + tid]));
}

// ---- host side ------------------------------------------------------------------------------

// Calls fn(std::integral_constant<int, N>{}) for the N == n among First, next(First), ...
// up to Max, where next doubles (kDouble) or adds one. Returns false when none matched.
template <int N, int Max, bool kDouble, typename Fn>
bool dispatch_int(int n, Fn&& fn) {
  if constexpr (N <= Max) {
    if (n == N) {
      fn(std::integral_constant<int, N>{});
      return true;
    }
    return dispatch_int<kDouble ? N * 2 : N + 1, Max, kDouble>(n, std::forward<Fn>(fn));
  } else {
    return false;
  }
}

inline int next_pow2(int64_t n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

inline unsigned grid_for(int64_t blocks) {
  return static_cast<unsigned>(blocks < (int64_t{1} << 30) ? blocks : (int64_t{1} << 30));
}

// Launches one kernel of the family `op` ("norm": norm_group_kernel, ...) for rows of
// `cols` elements moved kVec at a time: group(width, chunks) when the row fits a lane
// group, else block(chunks, threads) when it fits a block's registers, else long_row();
// width and chunks come as std::integral_constant.
template <int kVec, typename Group, typename Block, typename Long>
void launch_row_kernel(const char* op, int64_t cols, Group&& group, Block&& block, Long&& long_row) {
  const int64_t vecs = cols / kVec;  // most body vectors of any row
  bool launched = false;
  if (cols <= kGroupMaxCols) {
    if constexpr (kVec > 1) {
      // About four vectors a lane, so that a warp has several 16-byte loads in flight per
      // lane even on short rows: the group is the power of two >= vecs / 4, at least kVec
      // lanes (owners for the head and tail scalars) and at most a warp.
      int width = next_pow2((vecs + 3) / 4);
      width = width < kVec ? kVec : width > 32 ? 32 : width;
      const int chunks = vecs == 0 ? 1 : static_cast<int>((vecs + width - 1) / width);
      const bool width_ok = dispatch_int<kVec, 32, true>(width, [&](auto wd) {
        constexpr int kMax = decltype(wd)::value < 32 ? 4 : kGroupMaxCols / (32 * kVec);
        launched = dispatch_int<1, kMax, false>(chunks, [&](auto ch) { group(wd, ch); });
      });
      launched = launched && width_ok;
    } else {
      // Scalar rows (only when x and out are misaligned differently): one element a lane up
      // to 32, then a power of two chunks, to bound the number of instantiations.
      if (vecs <= 32) {
        launched = dispatch_int<1, 32, true>(next_pow2(vecs), [&](auto wd) { group(wd, std::integral_constant<int, 1>{}); });
      } else {
        launched = dispatch_int<2, kGroupMaxCols / 32, true>(next_pow2((vecs + 31) / 32), [&](auto ch) {
          group(std::integral_constant<int, 32>{}, ch);
        });
      }
    }
    if (!launched) throw Error(ErrorCode::Internal, std::string(op) + ": no group kernel for cols " + std::to_string(cols));
    check_launch((std::string(op) + "_group_kernel").c_str(), __FILE__, __LINE__);
    return;
  }

  // One block per row, the row in registers: at least four chunks a thread where possible
  // (64 bytes in flight), the fewest beyond that which fit 256 threads, else 512.
  constexpr int kMaxChunks = kVec == 1 ? kMaxScalarChunks : kMaxPerThread / kVec;
  constexpr int kFirstChunks = kMaxChunks < 4 ? kMaxChunks : 4;
  int chunks = 0, threads = 0;
  for (int limit : {256, kBlockMaxThreads}) {
    for (int ch = kFirstChunks; ch <= kMaxChunks && chunks == 0; ch *= 2) {
      const int64_t t = ((vecs + ch - 1) / ch + 31) / 32 * 32;
      if (t <= limit) {
        chunks = ch;
        threads = static_cast<int>(t);
      }
    }
  }
  if (chunks != 0) {
    launched = dispatch_int<kFirstChunks, kMaxChunks, true>(chunks, [&](auto ch) { block(ch, threads); });
    if (!launched) throw Error(ErrorCode::Internal, std::string(op) + ": no block kernel for cols " + std::to_string(cols));
    check_launch((std::string(op) + "_block_kernel").c_str(), __FILE__, __LINE__);
    return;
  }
  long_row();
  check_launch((std::string(op) + "_long_kernel").c_str(), __FILE__, __LINE__);
}

}  // namespace nf::cuda::rows
