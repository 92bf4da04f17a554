// Broadcasting binary ops, and the mean over one dim.
//
// binary: out = a (op) b * alpha over out's shape (out contiguous, may alias a; a and b
// views of any strides, 0 where broadcast). The host first drops size-1 dims and merges
// dims that are contiguous in all three views, then picks:
//  - binary_flat_kernel: a contiguous and b either contiguous too, "periodic" (b's
//    trailing dims contiguous and its leading dims broadcast, e.g. a bias [cols] or a
//    position table [N, E] over a batch: b's index is the flat index modulo the period)
//    or a single broadcast element. Vectors of kVec elements (16 bytes when the sizes
//    and pointers allow), grid-stride, kUnroll vectors in flight per thread; b's column
//    is tracked incrementally rather than divided.
//  - binary_strided_kernel: anything else. One element per thread, grid-stride; the flat
//    index is unravelled over the merged shape into a's and b's offsets.
//
// mean: out[o, i] = mean_j x[o, j, i], x contiguous [outer, n, inner], float32 sums, NaN
// for n == 0 (as the CPU backend).
//  - mean_rows_kernel (inner == 1): a warp per row (8 rows to a 256-thread block), or a
//    512-thread block per row when rows are long; coalesced (vector when aligned) loads.
//  - mean_cols_kernel (inner > 1): a block of kTile x ny threads owns kTile adjacent
//    columns i of one o; the ny rows of threads split the j range (coalesced reads of
//    each x[o, j, i0 : i0 + kTile]) and combine their partial sums through shared memory.
//    Blocks grid-stride over (o, column tile). Many tiles: kTile = 32, ny <= 8; few tiles
//    (a long mean over few columns): kTile = 32 bytes of columns and ny up to 1024 / kTile,
//    so that more SMs share the work.
#include <cstdint>
#include <type_traits>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"
#include "vector.cuh"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;


__device__ __forceinline__ float binop(float a, float b, BinaryOp op, float alpha) {
  b *= alpha;
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Div: return a / b;
  }
  return a + b;
}

// ---- binary -------------------------------------------------------------------------

// b's addressing in binary_flat_kernel.
enum class BMode : int { Periodic = 0, Scalar = 1 };

// a contiguous (flat), out contiguous; b[vector v] = b[(v % period_vecs) * kVec] (Periodic)
// or b[0] (Scalar). nvec vectors of kVec elements. out may alias a.
template <typename T, int kVec, BMode kMode>
__global__ void __launch_bounds__(kThreads)
binary_flat_kernel(T* out, const T* a, const T* b, int64_t nvec, int64_t period_vecs, BinaryOp op, float alpha) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t step = stride % period_vecs;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t col = i % period_vecs;
  float bs = 0.f;
  if constexpr (kMode == BMode::Scalar) bs = to_float(b[0]);
  for (; i < nvec; i += kUnroll * stride) {
    Pack<Bits<T>, kVec> ra[kUnroll], rb[kUnroll];  // raw, converted at use: half the registers
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t idx = i + u * stride;
      if (idx < nvec) {
        ra[u] = reinterpret_cast<const Pack<Bits<T>, kVec>*>(a)[idx];
        if constexpr (kMode == BMode::Periodic) rb[u] = reinterpret_cast<const Pack<Bits<T>, kVec>*>(b)[col];
      }
      col += step;
      if (col >= period_vecs) col -= period_vecs;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t idx = i + u * stride;
      if (idx < nvec) {
        float o[kVec];
#pragma unroll
        for (int j = 0; j < kVec; ++j)
          o[j] = binop(to_float(from_bits<T>(ra[u].v[j])), kMode == BMode::Scalar ? bs : to_float(from_bits<T>(rb[u].v[j])),
                       op, alpha);
        store_vec<kVec>(out + idx * kVec, o);
      }
    }
  }
}

// The merged shape and a's and b's strides (out is contiguous over it).
struct BinaryShape {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t a_strides[kMaxDims];
  int64_t b_strides[kMaxDims];
};

template <typename T>
__global__ void __launch_bounds__(kThreads)
binary_strided_kernel(T* out, const T* a, const T* b, int64_t total, BinaryShape s, BinaryOp op, float alpha) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rem = i, oa = 0, ob = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d) {
      if (d < s.ndim) {
        const int64_t idx = rem % s.shape[d];
        rem /= s.shape[d];
        oa += idx * s.a_strides[d];
        ob += idx * s.b_strides[d];
      }
    }
    out[i] = from_float<T>(binop(to_float(a[oa]), to_float(b[ob]), op, alpha));
  }
}

// ---- mean ---------------------------------------------------------------------------

constexpr int kRowWarps = 8;             // rows per block of mean_rows_kernel in warp mode
constexpr int kLongRow = 8192;           // from this n on, a block per row
constexpr int kLongRowThreads = 512;

// inner == 1: out[o] = mean of the contiguous row x[o, 0 : n]. kBlock: a block per row,
// else a warp per row. Vector loads of kVec elements (n % kVec == 0 and x aligned).
template <typename T, int kVec, bool kBlock>
__global__ void __launch_bounds__(kBlock ? kLongRowThreads : kRowWarps * 32)
mean_rows_kernel(T* out, const T* x, int64_t rows, int64_t n) {
  __shared__ float red[32];
  const int lane = threadIdx.x & 31;
  const int64_t team = kBlock ? blockDim.x : 32;
  const int64_t rows_per_block = kBlock ? 1 : kRowWarps;
  const int64_t member = kBlock ? threadIdx.x : lane;
  const int64_t nvec = n / kVec;
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * rows_per_block; first < rows;
       first += static_cast<int64_t>(gridDim.x) * rows_per_block) {
    const int64_t row = first + (kBlock ? 0 : threadIdx.x / 32);
    float s = 0.f;
    if (row < rows) {
      const T* xr = x + row * n;
      float acc[kUnroll] = {};
      int64_t v = member;
      for (; v + (kUnroll - 1) * team < nvec; v += kUnroll * team) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          float t[kVec];
          load_vec<kVec>(xr + (v + u * team) * kVec, t);
#pragma unroll
          for (int j = 0; j < kVec; ++j) acc[u] += t[j];
        }
      }
      for (; v < nvec; v += team) {
        float t[kVec];
        load_vec<kVec>(xr + v * kVec, t);
#pragma unroll
        for (int j = 0; j < kVec; ++j) acc[0] += t[j];
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) s += acc[u];
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if constexpr (kBlock) {
      const int warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
      if (lane == 0) red[warp] = s;
      __syncthreads();
      s = lane < warps ? red[lane] : 0.f;
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      __syncthreads();  // red is read; the next row may write it
      if (threadIdx.x == 0) out[row] = from_float<T>(n > 0 ? s / static_cast<float>(n) : NAN);
    } else {
      if (lane == 0 && row < rows) out[row] = from_float<T>(n > 0 ? s / static_cast<float>(n) : NAN);
    }
  }
}

constexpr int kColThreads = 1024;  // most threads of a mean_cols_kernel block
constexpr int kColPart = 1152;     // shared floats: ny * (kTile + 1) for every shape used

// inner > 1: a block of (kTile, ny) threads per (o, tile of kTile columns), grid-stride;
// thread (tx, ty) sums j = ty, ty + ny, ... of column i0 + tx (four independent
// accumulators), then the ny partial sums of each column meet in shared memory (ny is a
// power of two: a tree).
template <typename T, int kTile>
__global__ void __launch_bounds__(kColThreads)
mean_cols_kernel(T* out, const T* x, int64_t outer, int64_t n, int64_t inner) {
  __shared__ float part[kColPart];
  const int tx = threadIdx.x, ty = threadIdx.y, ny = blockDim.y;
  const int64_t tiles = (inner + kTile - 1) / kTile;
  for (int64_t tile = blockIdx.x; tile < outer * tiles; tile += gridDim.x) {
    const int64_t o = tile / tiles, i = (tile % tiles) * kTile + tx;
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    if (i < inner) {
      const T* xc = x + o * n * inner + i;
      int64_t j = ty;
      for (; j + 3 * ny < n; j += 4 * ny) {
        s0 += to_float(xc[j * inner]);
        s1 += to_float(xc[(j + ny) * inner]);
        s2 += to_float(xc[(j + 2 * ny) * inner]);
        s3 += to_float(xc[(j + 3 * ny) * inner]);
      }
      for (; j < n; j += ny) s0 += to_float(xc[j * inner]);
    }
    part[ty * (kTile + 1) + tx] = (s0 + s1) + (s2 + s3);
    __syncthreads();
    for (int half = ny / 2; half > 0; half /= 2) {
      if (ty < half) part[ty * (kTile + 1) + tx] += part[(ty + half) * (kTile + 1) + tx];
      __syncthreads();
    }
    if (ty == 0 && i < inner) {
      const float sum = part[tx];
      out[o * inner + i] = from_float<T>(n > 0 ? sum / static_cast<float>(n) : NAN);
    }
    __syncthreads();  // part is read; the next tile may write it
  }
}

unsigned grid_for(int64_t blocks) {
  return static_cast<unsigned>(blocks < (int64_t{1} << 20) ? blocks : (int64_t{1} << 20));
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Drops size-1 dims of out's shape and merges neighbours contiguous in a and b alike (out
// is contiguous, so it always merges).
BinaryShape merge_dims(const BinaryParams& p) {
  BinaryShape s{};
  for (int d = 0; d < p.out.ndim; ++d) {
    const int64_t size = p.out.shape[d], sa = p.a.strides[d], sb = p.b.strides[d];
    if (size == 1) continue;
    if (s.ndim > 0 && s.a_strides[s.ndim - 1] == sa * size && s.b_strides[s.ndim - 1] == sb * size) {
      s.shape[s.ndim - 1] *= size;
      s.a_strides[s.ndim - 1] = sa;
      s.b_strides[s.ndim - 1] = sb;
      continue;
    }
    s.shape[s.ndim] = size;
    s.a_strides[s.ndim] = sa;
    s.b_strides[s.ndim] = sb;
    ++s.ndim;
  }
  return s;
}

template <typename T, int kVec, BMode kMode>
void launch_flat(const BinaryParams& p, int64_t total, int64_t period, cudaStream_t stream) {
  const int64_t nvec = total / kVec, per_block = int64_t{kThreads} * kUnroll;
  binary_flat_kernel<T, kVec, kMode><<<grid_for((nvec + per_block - 1) / per_block), kThreads, 0, stream>>>(
      static_cast<T*>(p.out.data), static_cast<const T*>(p.a.data), static_cast<const T*>(p.b.data), nvec,
      period / kVec, p.op, p.alpha);
}

template <typename T>
void launch_binary_typed(const BinaryParams& p, int64_t total, cudaStream_t stream) {
  const BinaryShape s = merge_dims(p);
  // a contiguous over the merged shape?
  bool a_flat = true;
  int64_t expected = 1;
  for (int d = s.ndim - 1; d >= 0; --d) {
    if (s.a_strides[d] != expected) a_flat = false;
    expected *= s.shape[d];
  }
  // b: trailing dims contiguous (the period), leading dims broadcast.
  int64_t period = 1;
  int d = s.ndim - 1;
  for (; d >= 0 && s.b_strides[d] == period; --d) period *= s.shape[d];
  bool b_periodic = true;
  for (; d >= 0; --d)
    if (s.b_strides[d] != 0) b_periodic = false;

  if (a_flat && b_periodic) {
    constexpr int kVec = 16 / sizeof(T);
    const bool ptrs = aligned16(p.out.data) && aligned16(p.a.data) && total % kVec == 0;
    if (period == 1) {
      if (ptrs) launch_flat<T, kVec, BMode::Scalar>(p, total, kVec, stream);
      else launch_flat<T, 1, BMode::Scalar>(p, total, 1, stream);
    } else {
      if (ptrs && aligned16(p.b.data) && period % kVec == 0) launch_flat<T, kVec, BMode::Periodic>(p, total, period, stream);
      else launch_flat<T, 1, BMode::Periodic>(p, total, period, stream);
    }
    NF_CHECK_LAUNCH("binary_flat_kernel");
    return;
  }
  binary_strided_kernel<T><<<grid_for((total + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      static_cast<T*>(p.out.data), static_cast<const T*>(p.a.data), static_cast<const T*>(p.b.data), total, s, p.op,
      p.alpha);
  NF_CHECK_LAUNCH("binary_strided_kernel");
}

}  // namespace

void launch_binary(const BinaryParams& p, cudaStream_t stream) {
  const int64_t total = p.out.numel();
  if (total == 0) return;
  if (p.a.dtype != p.out.dtype || p.b.dtype != p.out.dtype) throw_invalid("binary: out, a and b must share one dtype");
  if (p.a.ndim != p.out.ndim || p.b.ndim != p.out.ndim) throw_invalid("binary: a and b must be views of out's rank");
  dispatch_float(p.out.dtype, "binary", [&](auto tag) { launch_binary_typed<decltype(tag)>(p, total, stream); });
}

void launch_mean(const MeanParams& p, cudaStream_t stream) {
  if (p.outer * p.inner == 0) return;
  if (p.out.dtype != p.x.dtype) throw_invalid("mean: out and x must share one dtype");
  dispatch_float(p.x.dtype, "mean", [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(p.out.data);
    const T* x = static_cast<const T*>(p.x.data);
    if (p.inner == 1) {
      constexpr int kVec = 16 / sizeof(T);
      const bool vec = p.n % kVec == 0 && aligned16(x);
      const bool block = p.n >= kLongRow;
      const unsigned grid = grid_for(block ? p.outer : (p.outer + kRowWarps - 1) / kRowWarps);
      const int threads = block ? kLongRowThreads : kRowWarps * 32;
      if (block) {
        if (vec) mean_rows_kernel<T, kVec, true><<<grid, threads, 0, stream>>>(out, x, p.outer, p.n);
        else mean_rows_kernel<T, 1, true><<<grid, threads, 0, stream>>>(out, x, p.outer, p.n);
      } else {
        if (vec) mean_rows_kernel<T, kVec, false><<<grid, threads, 0, stream>>>(out, x, p.outer, p.n);
        else mean_rows_kernel<T, 1, false><<<grid, threads, 0, stream>>>(out, x, p.outer, p.n);
      }
      NF_CHECK_LAUNCH("mean_rows_kernel");
      return;
    }
    // Enough (o, 32-column) tiles to fill the GPU: 32-wide tiles, 8 thread rows at most.
    // Else narrow tiles (32 bytes of columns, still whole sectors) and up to 1024 threads,
    // to spread a long reduction over more SMs.
    auto ny_for = [&](int most) {
      int ny = 1;
      while (ny * 2 <= most && ny * 2 * 4 <= p.n) ny *= 2;  // at least ~4 terms a thread
      return ny;
    };
    const int64_t wide_tiles = p.outer * ((p.inner + 31) / 32);
    if (wide_tiles >= 1024) {
      mean_cols_kernel<T, 32><<<grid_for(wide_tiles), dim3(32, ny_for(8)), 0, stream>>>(out, x, p.outer, p.n, p.inner);
    } else {
      constexpr int kTile = 32 / sizeof(T);
      const int64_t tiles = p.outer * ((p.inner + kTile - 1) / kTile);
      mean_cols_kernel<T, kTile><<<grid_for(tiles), dim3(kTile, ny_for(kColThreads / kTile)), 0, stream>>>(
          out, x, p.outer, p.n, p.inner);
    }
    NF_CHECK_LAUNCH("mean_cols_kernel");
  });
}

}  // namespace nf::cuda
