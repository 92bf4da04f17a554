// Scaled, masked softmax over the last dim of a contiguous [rows, cols] tensor:
//   out[r, c] = keep[r, c] ? exp(s[r, c] - m[r]) / sum_k keep[r, k] exp(s[r, k] - m[r]) : 0
// with s = x * scale and m[r] the max of s over the kept entries of row r. The mask is an
// optional uint8 view broadcast to x's shape (1 = keep; stride 0 along broadcast dims,
// any stride along the last); a row with nothing kept gives zeros. float32 arithmetic.
//
// Every row is read as a head of scalars up to the first 16-byte boundary, a body of
// aligned 16-byte vectors (kVec elements) and a tail of scalars, so odd row lengths (197,
// 4099) still move almost all their bytes in vectors; the head and tail scalars (fewer
// than kVec each) belong to the first threads of the row's team. x and out must share
// their misalignment modulo 16 bytes (else kVec = 1: all scalar, still coalesced). The
// mask row of each row is found by unravelling the row index over x's leading dims
// (merged on the host where the mask allows), and is read kVec bytes at a time where its
// last stride is 1 and that row's body is aligned, else byte by byte. exp is expf for
// float32 storage and the hardware __expf for 16-bit storage.
//
// The host picks one of three kernels by the row length:
//  - softmax_group_kernel (cols <= 1024): a group of kWidth lanes of one warp owns a row,
//    kept in registers as kChunks body vectors per lane (lane l: vectors l, l + kWidth,
//    ...); max and sum by warp shuffles. kWidth is the power of two >= vectors / 4 (at
//    least kVec, at most 32), so a lane has about four 16-byte loads in flight even on
//    short rows (197) and a warp holds 32 / kWidth rows. 128-thread blocks.
//  - softmax_block_kernel (cols <= 16384 with vectors): one block (<= 512 threads) per
//    row, the row in registers (at least 4 vectors a thread where the type allows, at
//    most 32 elements, 16 with scalar loads); block reductions through double-buffered
//    shared memory.
//  - softmax_long_kernel (longer rows): one 512-thread block per row; a first pass keeps a
//    running (max, sum of exp) per thread, rescaled once per vector and merged over the
//    block, and a second pass re-reads the row (from L2) and writes it.
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

// The mask as the kernels see it: the row offset is sum_d ((row / inner_d) % shape[d]) *
// strides[d] over the leading dims (outermost first), the column offset col * col_stride.
struct MaskDesc {
  const uint8_t* data = nullptr;  // null: no mask
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  int64_t col_stride = 0;
};


__device__ __forceinline__ const uint8_t* mask_row(const MaskDesc& m, int64_t row) {
  int64_t offset = 0;
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d < m.ndim) {
      const int64_t size = m.shape[d];
      offset += (row % size) * m.strides[d];
      row /= size;
    }
  }
  return m.data + offset;
}

// s[j] = keep ? s[j] : -inf for the N mask entries of columns col .. col + N - 1; `vec`:
// the last stride is 1 and m + col is N-byte aligned.
template <int N>
__device__ __forceinline__ void apply_mask(const uint8_t* m, int64_t col, int64_t stride, bool vec, float (&s)[N]) {
  uint8_t k[N];
  if constexpr (N == 8) {
    if (vec) {
      const uint2 w = *reinterpret_cast<const uint2*>(m + col);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        k[j] = static_cast<uint8_t>(w.x >> (8 * j));
        k[j + 4] = static_cast<uint8_t>(w.y >> (8 * j));
      }
    }
  } else if constexpr (N == 4) {
    if (vec) {
      const uint32_t w = *reinterpret_cast<const uint32_t*>(m + col);
#pragma unroll
      for (int j = 0; j < 4; ++j) k[j] = static_cast<uint8_t>(w >> (8 * j));
    }
  }
  if (!((N == 4 || N == 8) && vec)) {
#pragma unroll
    for (int j = 0; j < N; ++j) k[j] = m[(col + j) * stride];
  }
#pragma unroll
  for (int j = 0; j < N; ++j) s[j] = k[j] != 0 ? s[j] : -INFINITY;
}

template <int kWidth>
__device__ __forceinline__ float group_max(float v) {
#pragma unroll
  for (int o = kWidth / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum or max. `buf` (32 floats) must not be the buffer of the previous call:
// callers alternate two, so the __syncthreads of the call in between orders the reuse.
template <bool kMax>
__device__ __forceinline__ float block_reduce(float v, float* buf) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = kMax ? group_max<32>(v) : group_sum<32>(v);
  if (lane == 0) buf[warp] = v;
  __syncthreads();
  const float t = lane < warps ? buf[lane] : (kMax ? -INFINITY : 0.f);
  return kMax ? group_max<32>(t) : group_sum<32>(t);
}

// exp for the values of a row: full precision for float32 storage; the fast hardware
// exp2 for 16-bit storage, whose own rounding (2^-8 or 2^-11) dwarfs its error.
template <typename T>
__device__ __forceinline__ float row_exp(float x) {
  if constexpr (std::is_same_v<T, float>) return expf(x);
  else return __expf(x);
}

// Softmax of one row held in registers by a team of `team` threads, this one `member`:
// body vectors member, member + team, ... (at most kChunks) and, when member < head or
// member < tail, one head and one tail element. `reduce_max` and `reduce_sum` reduce over
// the team. Threads of a dead row (live false) load nothing but join the reductions.
template <int kVec, int kChunks, typename T, typename RMax, typename RSum>
__device__ __forceinline__ void softmax_row(T* out, const T* x, int64_t row, bool live, int cols, float scale,
                                            const MaskDesc& mask, int team, int member, RMax&& reduce_max,
                                            RSum&& reduce_sum) {
  const int64_t offset = (live ? row : 0) * cols;
  const T* xr = x + offset;
  const RowSplit rs = split_row<kVec>(xr, cols);
  const int head = static_cast<int>(rs.head), body = static_cast<int>(rs.body), tail = static_cast<int>(rs.tail);
  const int tail0 = head + body * kVec;
  const bool has_h = kVec > 1 && live && member < head, has_t = kVec > 1 && live && member < tail;
  const uint8_t* mrow = nullptr;
  bool mvec = false;
  if (mask.data != nullptr && live) {
    mrow = mask_row(mask, row);
    mvec = mask.col_stride == 1 && (reinterpret_cast<uintptr_t>(mrow + head) % kVec) == 0;
  }
  float v[kChunks][kVec];
  float h = -INFINITY, t = -INFINITY;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int vi = i * team + member;
    if (live && vi < body) {
      load_vec<kVec>(xr + head + vi * kVec, v[i]);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[i][j] = -INFINITY;
    }
  }
  if (has_h) h = to_float(xr[member]);
  if (has_t) t = to_float(xr[tail0 + member]);

  float mx = -INFINITY;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int vi = i * team + member;
    if (live && vi < body) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[i][j] *= scale;
      if (mrow != nullptr) apply_mask<kVec>(mrow, head + vi * kVec, mask.col_stride, mvec, v[i]);
#pragma unroll
      for (int j = 0; j < kVec; ++j) mx = fmaxf(mx, v[i][j]);
    }
  }
  if (has_h) {
    h *= scale;
    if (mrow != nullptr && mrow[static_cast<int64_t>(member) * mask.col_stride] == 0) h = -INFINITY;
    mx = fmaxf(mx, h);
  }
  if (has_t) {
    t *= scale;
    if (mrow != nullptr && mrow[static_cast<int64_t>(tail0 + member) * mask.col_stride] == 0) t = -INFINITY;
    mx = fmaxf(mx, t);
  }
  mx = reduce_max(mx);

  // Entries masked out, and padding, hold -inf: exp gives 0 (unless nothing is kept).
  const bool any = mx != -INFINITY;
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < kChunks; ++i)
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      v[i][j] = any ? row_exp<T>(v[i][j] - mx) : 0.f;
      sum += v[i][j];
    }
  h = any && has_h ? row_exp<T>(h - mx) : 0.f;
  t = any && has_t ? row_exp<T>(t - mx) : 0.f;
  sum = reduce_sum(sum + h + t);
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  if (!live) return;

  T* outr = out + offset;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int vi = i * team + member;
    if (vi < body) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[i][j] *= inv;
      store_vec<kVec>(outr + head + vi * kVec, v[i]);
    }
  }
  if (has_h) outr[member] = from_float<T>(h * inv);
  if (has_t) outr[tail0 + member] = from_float<T>(t * inv);
}

// Rows of up to kChunks * kWidth body vectors: a group of kWidth (>= kVec) lanes per row.
template <typename T, int kVec, int kChunks, int kWidth>
__global__ void __launch_bounds__(kGroupThreads, 4)
softmax_group_kernel(T* out, const T* x, int64_t rows, int cols, float scale, MaskDesc mask) {
  constexpr int kRowsPerBlock = kGroupThreads / kWidth;
  const int lane = threadIdx.x % kWidth;
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock; first < rows;
       first += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const int64_t row = first + threadIdx.x / kWidth;
    softmax_row<kVec, kChunks>(out, x, row, row < rows, cols, scale, mask, kWidth, lane,
                               [](float v) { return group_max<kWidth>(v); },
                               [](float v) { return group_sum<kWidth>(v); });
  }
}

// Rows of up to kChunks * blockDim.x body vectors: one block per row.
template <typename T, int kVec, int kChunks>
__global__ void __launch_bounds__(kBlockMaxThreads)
softmax_block_kernel(T* out, const T* x, int64_t rows, int cols, float scale, MaskDesc mask) {
  __shared__ float red[2][32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    // Two reductions a row, alternating buffers: the one between orders each reuse.
    softmax_row<kVec, kChunks>(out, x, row, true, cols, scale, mask, static_cast<int>(blockDim.x),
                               static_cast<int>(threadIdx.x),
                               [&](float v) { return block_reduce<true>(v, red[0]); },
                               [&](float v) { return block_reduce<false>(v, red[1]); });
  }
}

// A running softmax state: the max m seen so far and the sum of exp(s - m).
struct MaxSum {
  float m, s;
};

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.f};
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

// Any row length: one block per row; pass 1 keeps (max, sum) online (rescaling once per
// vector), pass 2 re-reads the row and writes it. In place is safe: each element's last
// read precedes its write, by the same thread.
template <typename T, int kVec>
__global__ void __launch_bounds__(kBlockMaxThreads)
softmax_long_kernel(T* out, const T* x, int64_t rows, int64_t cols, float scale, MaskDesc mask) {
  __shared__ float red_m[32], red_s[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * cols;
    T* outr = out + row * cols;
    const RowSplit rs = split_row<kVec>(xr, cols);
    const uint8_t* mrow = mask.data != nullptr ? mask_row(mask, row) : nullptr;
    const bool mvec = mrow != nullptr && mask.col_stride == 1 && (reinterpret_cast<uintptr_t>(mrow + rs.head) % kVec) == 0;
    auto keep = [&](int64_t col) { return mrow == nullptr || mrow[col * mask.col_stride] != 0; };
    auto masked_vec = [&](int64_t col, const float(&v)[kVec], float(&s)[kVec]) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) s[j] = v[j] * scale;
      if (mrow != nullptr) apply_mask<kVec>(mrow, col, mask.col_stride, mvec, s);
    };
    MaxSum st{-INFINITY, 0.f};
    visit_row<kVec>(
        xr, rs,
        [&](int64_t col, float v) {
          const float s = keep(col) ? v * scale : -INFINITY;
          if (s == -INFINITY) return;
          const float m = fmaxf(st.m, s);
          st.s = st.s * expf(st.m - m) + expf(s - m);
          st.m = m;
        },
        [&](int64_t col, const float(&v)[kVec]) {
          float s[kVec];
          masked_vec(col, v, s);
          float m = st.m;
#pragma unroll
          for (int j = 0; j < kVec; ++j) m = fmaxf(m, s[j]);
          if (m == -INFINITY) return;
          float acc = st.s * expf(st.m - m);
#pragma unroll
          for (int j = 0; j < kVec; ++j) acc += row_exp<T>(s[j] - m);
          st = {m, acc};
        });
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      st = merge(st, MaxSum{__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o)});
    if (lane == 0) {
      red_m[warp] = st.m;
      red_s[warp] = st.s;
    }
    __syncthreads();
    st = lane < warps ? MaxSum{red_m[lane], red_s[lane]} : MaxSum{-INFINITY, 0.f};
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      st = merge(st, MaxSum{__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o)});
    __syncthreads();  // red_* are read; the next row may write them
    const bool any = st.m != -INFINITY;
    const float inv = st.s > 0.f ? 1.f / st.s : 0.f;
    visit_row<kVec>(
        xr, rs,
        [&](int64_t col, float v) {
          outr[col] = from_float<T>(keep(col) && any ? row_exp<T>(v * scale - st.m) * inv : 0.f);
        },
        [&](int64_t col, const float(&v)[kVec]) {
          float s[kVec];
          masked_vec(col, v, s);
#pragma unroll
          for (int j = 0; j < kVec; ++j) s[j] = any ? row_exp<T>(s[j] - st.m) * inv : 0.f;
          store_vec<kVec>(outr + col, s);
        });
  }
}

// The mask's leading dims with size-1 dims dropped and neighbours merged where the mask's
// strides allow, so the per-row unravel divides as little as possible.
MaskDesc describe_mask(const SoftmaxParams& p) {
  MaskDesc m;
  if (!p.has_mask) return m;
  const TensorView& x = p.x;
  m.data = static_cast<const uint8_t*>(p.mask.data);
  m.col_stride = p.mask.strides[p.mask.ndim - 1];
  for (int d = 0; d < x.ndim - 1; ++d) {
    const int64_t size = x.shape[d], stride = p.mask.strides[d];
    if (size == 1) continue;
    if (m.ndim > 0 && m.strides[m.ndim - 1] == stride * size) {
      m.shape[m.ndim - 1] *= size;
      m.strides[m.ndim - 1] = stride;
      continue;
    }
    m.shape[m.ndim] = size;
    m.strides[m.ndim] = stride;
    ++m.ndim;
  }
  return m;
}

template <typename T, int kVec>
void launch_rows(const SoftmaxParams& p, const MaskDesc& mask, int64_t rows, int64_t cols, cudaStream_t stream) {
  T* out = static_cast<T*>(p.out.data);
  const T* x = static_cast<const T*>(p.x.data);
  launch_row_kernel<kVec>(
      "softmax", cols,
      [&](auto wd, auto ch) {
        constexpr int kWidth = decltype(wd)::value, kChunks = decltype(ch)::value;
        constexpr int64_t kRowsPerBlock = kGroupThreads / kWidth;
        softmax_group_kernel<T, kVec, kChunks, kWidth><<<grid_for((rows + kRowsPerBlock - 1) / kRowsPerBlock), kGroupThreads,
                                                         0, stream>>>(out, x, rows, static_cast<int>(cols), p.scale, mask);
      },
      [&](auto ch, int threads) {
        constexpr int kChunks = decltype(ch)::value;
        softmax_block_kernel<T, kVec, kChunks><<<grid_for(rows), threads, 0, stream>>>(out, x, rows, static_cast<int>(cols),
                                                                                       p.scale, mask);
      },
      [&] {
        softmax_long_kernel<T, kVec><<<grid_for(rows), kBlockMaxThreads, 0, stream>>>(out, x, rows, cols, p.scale, mask);
      });
}

}  // namespace

void launch_softmax(const SoftmaxParams& p, cudaStream_t stream) {
  if (p.x.numel() == 0) return;
  if (p.out.dtype != p.x.dtype) throw_invalid("softmax: out and x must share one dtype");
  if (p.has_mask && (p.mask.dtype != DType::UInt8 || p.mask.ndim != p.x.ndim))
    throw_invalid("softmax: the mask must be a uint8 view of x's rank");
  const int64_t rows = p.x.rows(), cols = p.x.cols();
  const MaskDesc mask = describe_mask(p);
  dispatch_float(p.x.dtype, "softmax", [&](auto tag) {
    using T = decltype(tag);
    constexpr int kVec = 16 / sizeof(T);
    // Vectors need x and out to share their offset from a 16-byte boundary (rows then
    // split alike).
    const uintptr_t xa = reinterpret_cast<uintptr_t>(p.x.data), oa = reinterpret_cast<uintptr_t>(p.out.data);
    const bool vec = (xa & 15u) == (oa & 15u) && xa % sizeof(T) == 0;
    if (vec) launch_rows<T, kVec>(p, mask, rows, cols, stream);
    else launch_rows<T, 1>(p, mask, rows, cols, stream);
  });
}

}  // namespace nf::cuda
