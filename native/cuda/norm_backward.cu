// The gradients of layer norm and RMS norm (NormBackwardParams in core/ops.h): dx for every
// row, and dweight = sum_r dy * xhat, dbias = sum_r dy by a two-stage column reduction.
//
// norm_backward_kernel: a 256-thread block walks rows blockIdx.x, blockIdx.x + gridDim.x, ...
// (the grid is at most 2 blocks an SM and at most `rows`), thread t owning columns t, t + 256,
// ... of each row. Per row, four passes over it (the re-reads hit L1/L2): the mean (layer
// norm), the squared deviations (rstd), the sums of g = dy * weight and g * xhat, then dx and
// this block's running column sums of dy * xhat and dy, kept in the block's own row of a
// float32 workspace ([blocks, cols] each; written by the owning thread only, so no atomics).
// Statistics and sums are float32; block sums go through shared memory.
// Stage 2 (column_sum.cu's column_finish_kernel) adds the blocks' rows into dweight and dbias.
#include <cstdint>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;

// Sums a and b over the block; every thread gets both. `buf` holds 2 * 32 floats and is free
// again when this returns (the trailing barrier orders its reuse by the next call).
__device__ __forceinline__ float2 block_sum2(float a, float b, float* buf) {
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_xor_sync(0xffffffffu, a, o);
    b += __shfl_xor_sync(0xffffffffu, b, o);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    buf[warp] = a;
    buf[32 + warp] = b;
  }
  __syncthreads();
  float2 s = make_float2(0.f, 0.f);
  for (int w = 0; w < kThreads / 32; ++w) {
    s.x += buf[w];
    s.y += buf[32 + w];
  }
  __syncthreads();
  return s;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
norm_backward_kernel(T* dx, const T* dy, const T* x, const T* __restrict__ weight, float* __restrict__ part_dw,
                     float* __restrict__ part_db, int64_t rows, int64_t cols, float eps, bool rms) {
  __shared__ float buf[64];
  const float inv_cols = 1.f / static_cast<float>(cols);
  float* pdw = part_dw != nullptr ? part_dw + blockIdx.x * cols : nullptr;
  float* pdb = part_db != nullptr ? part_db + blockIdx.x * cols : nullptr;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const bool first = r == blockIdx.x;
    const T* xr = x + r * cols;
    const T* dyr = dy + r * cols;
    float mean = 0.f;
    if (!rms) {
      float s = 0.f;
      for (int64_t c = threadIdx.x; c < cols; c += kThreads) s += to_float(xr[c]);
      mean = block_sum2(s, 0.f, buf).x * inv_cols;
    }
    float sq = 0.f;
    for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
      const float d = to_float(xr[c]) - mean;
      sq += d * d;
    }
    const float rstd = rsqrtf(block_sum2(sq, 0.f, buf).x * inv_cols + eps);
    float sg = 0.f, sgx = 0.f;
    for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
      const float g = to_float(dyr[c]) * (weight != nullptr ? to_float(weight[c]) : 1.f);
      sg += g;
      sgx += g * (to_float(xr[c]) - mean) * rstd;
    }
    const float2 sums = block_sum2(sg, sgx, buf);
    const float mean_g = rms ? 0.f : sums.x * inv_cols, mean_gx = sums.y * inv_cols;
    for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
      const float d = to_float(dyr[c]);  // read before dx is written: dx may be dy or x itself
      const float xhat = (to_float(xr[c]) - mean) * rstd;
      const float g = d * (weight != nullptr ? to_float(weight[c]) : 1.f);
      if (pdw != nullptr) pdw[c] = (first ? 0.f : pdw[c]) + d * xhat;
      if (pdb != nullptr) pdb[c] = (first ? 0.f : pdb[c]) + d;
      dx[r * cols + c] = from_float<T>(rstd * (g - mean_g - xhat * mean_gx));
    }
  }
}

int64_t blocks_for(int64_t rows, int sm_count) {
  const int64_t most = 2 * static_cast<int64_t>(sm_count > 0 ? sm_count : 1);
  return rows < most ? rows : most;
}

}  // namespace

size_t norm_backward_workspace_bytes(const NormBackwardParams& p, int sm_count) {
  const int64_t vectors = (p.dweight != nullptr ? 1 : 0) + (p.dbias != nullptr ? 1 : 0);
  return static_cast<size_t>(vectors * blocks_for(p.x.rows(), sm_count) * p.x.cols()) * sizeof(float);
}

void launch_norm_backward(const NormBackwardParams& p, float* workspace, int sm_count, cudaStream_t stream) {
  const int64_t rows = p.x.rows(), cols = p.x.cols();
  if (rows == 0 || cols == 0) return;
  const int64_t blocks = blocks_for(rows, sm_count);
  float* part_dw = p.dweight != nullptr ? workspace : nullptr;
  float* part_db = p.dbias != nullptr ? workspace + (part_dw != nullptr ? blocks * cols : 0) : nullptr;
  dispatch_float(p.x.dtype, "norm_backward", [&](auto tag) {
    using T = decltype(tag);
    norm_backward_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        static_cast<T*>(p.dx.data), static_cast<const T*>(p.dy.data), static_cast<const T*>(p.x.data),
        static_cast<const T*>(p.weight), part_dw, part_db, rows, cols, p.eps, p.rms);
  });
  NF_CHECK_LAUNCH("norm_backward_kernel");
  if (part_dw != nullptr) launch_finish_column_sums(p.x.dtype, part_dw, blocks, cols, p.dweight, stream);
  if (part_db != nullptr) launch_finish_column_sums(p.x.dtype, part_db, blocks, cols, p.dbias, stream);
}

}  // namespace nf::cuda
