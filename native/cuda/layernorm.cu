// Layer norm and RMS norm over the last dim of a contiguous [rows, cols] tensor:
//   layer: out = (x - mean) / sqrt(var + eps) * weight + bias
//   rms:   out = x / sqrt(mean(x^2) + eps) * weight + bias
// weight and bias are [cols] in x's dtype, either may be null. Statistics are float32 for
// every storage dtype and two-pass (the mean, then the sum of squared deviations from it),
// so there is no E[x^2] - E[x]^2 cancellation; the layer norm's sums also see x - x[0]
// (shifted by the row's first element), so a large common offset costs the mean no
// precision.
//
// Every row is read as a head of scalars up to the first 16-byte boundary, a body of
// aligned 16-byte vectors (kVec elements) and a tail of scalars, so odd row lengths (97,
// 4099) still move almost all their bytes in vectors. The scalar head and tail elements
// (fewer than kVec each) belong to the first threads of the row's team. x and out must
// share their misalignment modulo 16 bytes (else kVec = 1: all scalar, still coalesced).
// weight and bias are read as vectors in rows whose body starts on a column multiple of
// kVec, else as scalars (they stay in L1/L2).
//
// The host picks one of three kernels by the row length:
//  - norm_group_kernel (cols <= 1024): a group of kWidth lanes of one warp owns a row,
//    each lane keeping kChunks body vectors in registers (lane l: vectors l, l + kWidth,
//    ...); statistics by warp shuffles only. kWidth is the power of two >= vectors / 4
//    (at least kVec, at most 32), so a lane has about four 16-byte loads in flight even on
//    short rows and a warp holds 32 / kWidth rows. 128-thread blocks.
//  - norm_block_kernel (cols <= 16384 with vectors): one block (<= 512 threads) per row,
//    each thread keeping kChunks vectors (at least 4 where the type allows, at most 32
//    elements; 16 with scalar loads) in registers; block reductions through shared
//    memory, double-buffered so each costs one __syncthreads.
//  - norm_long_kernel (longer rows): one 512-thread block per row and three passes over
//    the row in global memory (sum, squared deviations, write); the re-reads hit L2.
#include <cstdint>
#include <type_traits>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"
#include "rows.cuh"
#include "vector.cuh"

namespace nf::cuda {
namespace {

using namespace rows;  // RowSplit, split_row, group_sum, visit_row, the launch shapes (rows.cuh)


// Sum over the block. `buf` (32 floats) must not be the buffer of the previous call: the
// caller alternates two, so the __syncthreads of the call in between orders the reuse.
__device__ __forceinline__ float block_sum(float v, float* buf) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = group_sum<32>(v);
  if (lane == 0) buf[warp] = v;
  __syncthreads();
  const float t = lane < warps ? buf[lane] : 0.f;
  return group_sum<32>(t);
}

// The affine part for kVec consecutive columns from col: o = o * weight + bias, read as a
// vector when `wvec` (col % kVec == 0 and both pointers 16-byte aligned), else as scalars.
template <int kVec, typename T>
__device__ __forceinline__ void affine(float (&o)[kVec], const T* __restrict__ weight, const T* __restrict__ bias,
                                       int64_t col, bool wvec) {
  if (weight != nullptr) {
    float w[kVec];
    if (wvec) {
      load_vec<kVec>(weight + col, w);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j) w[j] = to_float(weight[col + j]);
    }
#pragma unroll
    for (int j = 0; j < kVec; ++j) o[j] *= w[j];
  }
  if (bias != nullptr) {
    float b[kVec];
    if (wvec) {
      load_vec<kVec>(bias + col, b);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j) b[j] = to_float(bias[col + j]);
    }
#pragma unroll
    for (int j = 0; j < kVec; ++j) o[j] += b[j];
  }
}

// Normalizes one row held in registers by a team of `team` threads, this one `member`:
// body vectors member, member + team, ... (at most kChunks) and, when member < head or
// member < tail, one head and one tail element. `reduce` sums over the team. Threads of
// a dead row (live false) load nothing but take part in the reductions.
template <int kVec, int kChunks, typename T, typename Reduce>
__device__ __forceinline__ void norm_row(T* out, const T* x, const T* __restrict__ weight, const T* __restrict__ bias,
                                         bool wvec_ok, int64_t offset, bool live, int cols, int team, int member,
                                         float eps, bool rms, Reduce&& reduce) {
  const T* xr = x + offset;
  const RowSplit rs = split_row<kVec>(xr, cols);
  const int head = static_cast<int>(rs.head), body = static_cast<int>(rs.body), tail = static_cast<int>(rs.tail);
  const int tail0 = head + body * kVec;
  const bool has_h = kVec > 1 && live && member < head, has_t = kVec > 1 && live && member < tail;
  float v[kChunks][kVec];
  float h = 0.f, t = 0.f;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int vi = i * team + member;
    if (live && vi < body) {
      load_vec<kVec>(xr + head + vi * kVec, v[i]);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[i][j] = 0.f;
    }
  }
  if (has_h) h = to_float(xr[member]);
  if (has_t) t = to_float(xr[tail0 + member]);
  const float inv_cols = 1.f / static_cast<float>(cols);

  float mean = 0.f;  // of the values held, x - shift
  if (!rms) {
    const float shift = live ? to_float(xr[0]) : 0.f;
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
      if (i * team + member < body) {
#pragma unroll
        for (int j = 0; j < kVec; ++j) {
          v[i][j] -= shift;
          s += v[i][j];
        }
      }
    }
    if (has_h) {
      h -= shift;
      s += h;
    }
    if (has_t) {
      t -= shift;
      s += t;
    }
    mean = reduce(s) * inv_cols;
  }
  float sq = 0.f;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    if (i * team + member < body) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        const float d = v[i][j] - mean;
        sq += d * d;
      }
    }
  }
  if (has_h) sq += (h - mean) * (h - mean);
  if (has_t) sq += (t - mean) * (t - mean);
  const float inv = rsqrtf(reduce(sq) * inv_cols + eps);
  if (!live) return;

  T* outr = out + offset;
  const bool wvec = wvec_ok && head == 0;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int vi = i * team + member;
    if (vi < body) {
      const int col = head + vi * kVec;
      float o[kVec];
#pragma unroll
      for (int j = 0; j < kVec; ++j) o[j] = (v[i][j] - mean) * inv;
      affine<kVec>(o, weight, bias, col, wvec);
      store_vec<kVec>(outr + col, o);
    }
  }
  if (has_h) {
    float o[1] = {(h - mean) * inv};
    affine<1>(o, weight, bias, member, false);
    outr[member] = from_float<T>(o[0]);
  }
  if (has_t) {
    float o[1] = {(t - mean) * inv};
    affine<1>(o, weight, bias, tail0 + member, false);
    outr[tail0 + member] = from_float<T>(o[0]);
  }
}

// Rows of up to kChunks * kWidth body vectors: a group of kWidth (>= kVec) lanes per row.
template <typename T, int kVec, int kChunks, int kWidth>
__global__ void __launch_bounds__(kGroupThreads)
norm_group_kernel(T* out, const T* x, const T* __restrict__ weight, const T* __restrict__ bias, bool wvec_ok,
                  int64_t rows, int cols, float eps, bool rms) {
  constexpr int kRowsPerBlock = kGroupThreads / kWidth;
  const int lane = threadIdx.x % kWidth;
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock; first < rows;
       first += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const int64_t row = first + threadIdx.x / kWidth;
    const bool live = row < rows;
    norm_row<kVec, kChunks>(out, x, weight, bias, wvec_ok, (live ? row : 0) * cols, live, cols, kWidth, lane, eps, rms,
                            [](float v) { return group_sum<kWidth>(v); });
  }
}

// Rows of up to kChunks * blockDim.x body vectors: one block per row.
template <typename T, int kVec, int kChunks>
__global__ void __launch_bounds__(kBlockMaxThreads)
norm_block_kernel(T* out, const T* x, const T* __restrict__ weight, const T* __restrict__ bias, bool wvec_ok,
                  int64_t rows, int cols, float eps, bool rms) {
  __shared__ float red[2][32];
  int phase = 0;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    norm_row<kVec, kChunks>(out, x, weight, bias, wvec_ok, row * cols, true, cols, static_cast<int>(blockDim.x),
                            static_cast<int>(threadIdx.x), eps, rms, [&](float v) {
                              const float r = block_sum(v, red[phase]);
                              phase ^= 1;
                              return r;
                            });
  }
}

// Any row length: one block per row, three passes over global memory (in vectors, as
// above). In place is safe: each element's last read precedes its write, by one thread.
template <typename T, int kVec>
__global__ void __launch_bounds__(kBlockMaxThreads)
norm_long_kernel(T* out, const T* x, const T* __restrict__ weight, const T* __restrict__ bias, bool wvec_ok,
                 int64_t rows, int64_t cols, float eps, bool rms) {
  __shared__ float red[2][32];
  int phase = 0;
  const float inv_cols = 1.f / static_cast<float>(cols);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * cols;
    T* outr = out + row * cols;
    const RowSplit rs = split_row<kVec>(xr, cols);
    const float shift = rms ? 0.f : to_float(xr[0]);
    float mean = 0.f;  // of x - shift
    if (!rms) {
      float s = 0.f;
      visit_row<kVec>(xr, rs, [&](int64_t, float v) { s += v - shift; },
                      [&](int64_t, const float(&v)[kVec]) {
#pragma unroll
                        for (int j = 0; j < kVec; ++j) s += v[j] - shift;
                      });
      mean = block_sum(s, red[phase]) * inv_cols;
      phase ^= 1;
    }
    float sq = 0.f;
    visit_row<kVec>(xr, rs, [&](int64_t, float v) { sq += (v - shift - mean) * (v - shift - mean); },
                    [&](int64_t, const float(&v)[kVec]) {
#pragma unroll
                      for (int j = 0; j < kVec; ++j) sq += (v[j] - shift - mean) * (v[j] - shift - mean);
                    });
    const float inv = rsqrtf(block_sum(sq, red[phase]) * inv_cols + eps);
    phase ^= 1;
    const bool wvec = wvec_ok && rs.head == 0;
    visit_row<kVec>(
        xr, rs,
        [&](int64_t col, float v) {
          float o[1] = {(v - shift - mean) * inv};
          affine<1>(o, weight, bias, col, false);
          outr[col] = from_float<T>(o[0]);
        },
        [&](int64_t col, const float(&v)[kVec]) {
          float o[kVec];
#pragma unroll
          for (int j = 0; j < kVec; ++j) o[j] = (v[j] - shift - mean) * inv;
          affine<kVec>(o, weight, bias, col, wvec);
          store_vec<kVec>(outr + col, o);
        });
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <typename T, int kVec>
void launch_rows(const NormParams& p, int64_t rows, int64_t cols, cudaStream_t stream) {
  T* out = static_cast<T*>(p.out.data);
  const T* x = static_cast<const T*>(p.x.data);
  const T* w = static_cast<const T*>(p.weight);
  const T* b = static_cast<const T*>(p.bias);
  const bool wvec_ok = kVec > 1 && aligned16(w) && aligned16(b);
  launch_row_kernel<kVec>(
      "norm", cols,
      [&](auto wd, auto ch) {
        constexpr int kWidth = decltype(wd)::value, kChunks = decltype(ch)::value;
        constexpr int64_t kRowsPerBlock = kGroupThreads / kWidth;
        norm_group_kernel<T, kVec, kChunks, kWidth><<<grid_for((rows + kRowsPerBlock - 1) / kRowsPerBlock), kGroupThreads, 0,
                                                      stream>>>(out, x, w, b, wvec_ok, rows, static_cast<int>(cols), p.eps, p.rms);
      },
      [&](auto ch, int threads) {
        constexpr int kChunks = decltype(ch)::value;
        norm_block_kernel<T, kVec, kChunks><<<grid_for(rows), threads, 0, stream>>>(out, x, w, b, wvec_ok, rows,
                                                                                    static_cast<int>(cols), p.eps, p.rms);
      },
      [&] {
        norm_long_kernel<T, kVec><<<grid_for(rows), kBlockMaxThreads, 0, stream>>>(out, x, w, b, wvec_ok, rows, cols, p.eps,
                                                                                   p.rms);
      });
}

}  // namespace

void launch_norm(const NormParams& p, cudaStream_t stream) {
  if (p.x.numel() == 0) return;
  if (p.out.dtype != p.x.dtype) throw_invalid("norm: out and x must share one dtype");
  const int64_t rows = p.x.rows(), cols = p.x.cols();
  dispatch_float(p.x.dtype, "norm", [&](auto tag) {
    using T = decltype(tag);
    constexpr int kVec = 16 / sizeof(T);
    // Vectors need x and out to share their offset from a 16-byte boundary (rows then
    // split alike); weight and bias alignment is checked separately.
    const uintptr_t xa = reinterpret_cast<uintptr_t>(p.x.data), oa = reinterpret_cast<uintptr_t>(p.out.data);
    const bool vec = (xa & 15u) == (oa & 15u) && xa % sizeof(T) == 0;
    if (vec) launch_rows<T, kVec>(p, rows, cols, stream);
    else launch_rows<T, 1>(p, rows, cols, stream);
  });
}

}  // namespace nf::cuda
