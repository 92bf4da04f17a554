// Column sums out[c] = sum_r x[r, c] of a contiguous [rows, cols] tensor in two stages, float32
// throughout (sumRows, the bias gradients of activationBackward, and the last stage of
// normBackward's weight and bias gradients): no atomics, so hot columns do not serialize and
// the result does not depend on the schedule.
//   stage 1, column_partials_kernel: a (32, 8) block owns 32 columns of one band of rows;
//     each warp reads 32 consecutive columns of a row (coalesced), rows ty, ty + 8, ...; the
//     8 per-thread sums meet in shared memory and one float per column goes to
//     partial[band, c]. Bands are sized so that the grid has about 4 blocks an SM.
//   stage 2, column_finish_kernel: one thread per column sums its `parts` partials (threads
//     of a warp read consecutive columns) and rounds once to the output's dtype.
#include <cstdint>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kCols = 32, kRowThreads = 8, kMaxBands = 1024, kFinishThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kCols * kRowThreads)
column_partials_kernel(const T* __restrict__ x, float* __restrict__ partial, int64_t rows, int64_t cols, int64_t band_rows) {
  __shared__ float sums[kRowThreads][kCols + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kCols + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * band_rows;
  const int64_t r1 = r0 + band_rows < rows ? r0 + band_rows : rows;
  float s = 0.f;
  if (c < cols) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowThreads) s += to_float(x[r * cols + c]);
  }
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.f;
#pragma unroll
    for (int i = 0; i < kRowThreads; ++i) t += sums[i][threadIdx.x];
    partial[blockIdx.y * cols + c] = t;
  }
}

template <typename T>
__global__ void __launch_bounds__(kFinishThreads)
column_finish_kernel(const float* __restrict__ partial, int64_t parts, int64_t cols, T* __restrict__ out) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kFinishThreads + threadIdx.x;
  if (c >= cols) return;
  float s = 0.f;
  for (int64_t i = 0; i < parts; ++i) s += partial[i * cols + c];
  out[c] = from_float<T>(s);
}

// The number of row bands stage 1 uses, and the rows in each.
void bands_for(int64_t rows, int64_t cols, int sm_count, int64_t* bands, int64_t* band_rows) {
  const int64_t col_blocks = (cols + kCols - 1) / kCols;
  int64_t want = (4 * static_cast<int64_t>(sm_count > 0 ? sm_count : 1) + col_blocks - 1) / col_blocks;
  const int64_t most = (rows + kRowThreads - 1) / kRowThreads;  // at least a row per thread row
  want = want < 1 ? 1 : want > most ? most : want;
  want = want > kMaxBands ? kMaxBands : want;
  *band_rows = (rows + want - 1) / want;
  *bands = (rows + *band_rows - 1) / *band_rows;
}

}  // namespace

size_t sum_rows_workspace_bytes(int64_t rows, int64_t cols, int sm_count) {
  if (rows <= 0 || cols <= 0) return 0;
  int64_t bands = 0, band_rows = 0;
  bands_for(rows, cols, sm_count, &bands, &band_rows);
  return static_cast<size_t>(bands * cols) * sizeof(float);
}

void launch_finish_column_sums(DType dtype, const float* partial, int64_t parts, int64_t cols, void* out, cudaStream_t stream) {
  if (cols <= 0) return;
  const auto blocks = static_cast<unsigned>((cols + kFinishThreads - 1) / kFinishThreads);
  dispatch_float(dtype, "sum_rows", [&](auto tag) {
    using T = decltype(tag);
    column_finish_kernel<T><<<blocks, kFinishThreads, 0, stream>>>(partial, parts, cols, static_cast<T*>(out));
  });
  NF_CHECK_LAUNCH("column_finish_kernel");
}

void launch_sum_rows(DType dtype, const void* x, int64_t rows, int64_t cols, void* out, float* workspace, int sm_count,
                     cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  int64_t bands = 0, band_rows = 0;
  bands_for(rows, cols, sm_count, &bands, &band_rows);
  const dim3 grid(static_cast<unsigned>((cols + kCols - 1) / kCols), static_cast<unsigned>(bands));
  const dim3 block(kCols, kRowThreads);
  dispatch_float(dtype, "sum_rows", [&](auto tag) {
    using T = decltype(tag);
    column_partials_kernel<T><<<grid, block, 0, stream>>>(static_cast<const T*>(x), workspace, rows, cols, band_rows);
  });
  NF_CHECK_LAUNCH("column_partials_kernel");
  launch_finish_column_sums(dtype, workspace, bands, cols, out, stream);
}

}  // namespace nf::cuda
