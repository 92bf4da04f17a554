// backward.h: the backward ops on the host, one row at a time, rows split over the thread pool
// in fixed chunks; a column sum (dweight, dbias) adds each chunk's partial sums in chunk order,
// so results do not depend on the number of threads.
#include "backward.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/activation.h"
#include "activation_simd.h"
#include "elementwise.h"
#include "gemm.h"
#include "simd_math.h"
#include "thread_pool.h"

namespace nf::cpu {
namespace {

constexpr int64_t kChunkRows = 32;

// Runs fn(r0, r1, sums) over chunks of kChunkRows rows on the pool, each chunk with `count`
// zeroed partial-sum rows of `cols` doubles (sums[s * cols + c]); returns the `count` column
// sums, the chunks' partials added in chunk order.
template <typename Fn>
std::vector<double> chunked_rows(int64_t rows, int64_t cols, int count, Fn&& fn) {
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  std::vector<double> partial(static_cast<size_t>(chunks * count * cols), 0.0);
  parallel_for(chunks, [&](int64_t chunk, int) {
    const int64_t r0 = chunk * kChunkRows;
    fn(r0, std::min(rows, r0 + kChunkRows), partial.data() + chunk * count * cols);  // data(): count may be 0
  });
  std::vector<double> total(static_cast<size_t>(count * cols), 0.0);
  for (int64_t chunk = 0; chunk < chunks; ++chunk)
    for (int64_t i = 0; i < count * cols; ++i) total[i] += partial[chunk * count * cols + i];
  return total;
}

// The first `cols` doubles of v from `at` as a vector (one of chunked_rows' sums).
std::vector<double> part(const std::vector<double>& v, int64_t at, int64_t cols) { return {v.begin() + at, v.begin() + at + cols}; }

// Adds row r of a contiguous [rows, cols] tensor x, times f(c, value), into sums[c].
template <typename Fn>
void add_row(double* sums, const void* x, DType t, int64_t r, int64_t cols, Fn&& f) {
  for (int64_t c = 0; c < cols; ++c) sums[c] += f(c, load(x, t, r * cols + c));
}

void store_vector(void* out, DType t, const std::vector<double>& v) {
  for (size_t c = 0; c < v.size(); ++c) store(out, t, static_cast<int64_t>(c), v[c]);
}

// The offset of row r's first element in a mask view broadcast to `shape` (rows over the leading dims).
int64_t mask_row_offset(const TensorView& shape, const TensorView& mask, int64_t r) {
  int64_t offset = 0;
  for (int d = shape.ndim - 2; d >= 0; --d) {
    offset += (r % shape.shape[d]) * mask.strides[d];
    r /= shape.shape[d];
  }
  return offset;
}

}  // namespace

void norm_backward(const NormBackwardParams& p) {
  const int64_t rows = p.x.rows(), cols = p.x.cols();
  const DType t = p.x.dtype;
  // Sums: dweight's at 0, dbias's at cols.
  const std::vector<double> sums = chunked_rows(rows, cols, 2, [&](int64_t r0, int64_t r1, double* partial) {
    std::vector<double> xhat(static_cast<size_t>(cols)), g(static_cast<size_t>(cols));
    double* dweight = partial;
    double* dbias = partial + cols;
    for (int64_t r = r0; r < r1; ++r) {
      double mean = 0, sq = 0;
      for (int64_t c = 0; c < cols; ++c) mean += load(p.x.data, t, r * cols + c);
      mean = p.rms ? 0.0 : mean / cols;
      for (int64_t c = 0; c < cols; ++c) {
        const double d = load(p.x.data, t, r * cols + c) - mean;
        sq += d * d;
      }
      const double rstd = 1.0 / std::sqrt(sq / cols + p.eps);
      double mean_g = 0, mean_gx = 0;
      for (int64_t c = 0; c < cols; ++c) {
        xhat[c] = (load(p.x.data, t, r * cols + c) - mean) * rstd;
        g[c] = load(p.dy.data, t, r * cols + c) * (p.weight ? load(p.weight, t, c) : 1.0);
        mean_g += g[c];
        mean_gx += g[c] * xhat[c];
      }
      mean_g = p.rms ? 0.0 : mean_g / cols;
      mean_gx /= cols;
      // dy is read before dx is written (dx may be dy itself).
      if (p.dweight) add_row(dweight, p.dy.data, t, r, cols, [&](int64_t c, double dy) { return dy * xhat[c]; });
      if (p.dbias) add_row(dbias, p.dy.data, t, r, cols, [](int64_t, double dy) { return dy; });
      for (int64_t c = 0; c < cols; ++c) store(p.dx.data, t, r * cols + c, rstd * (g[c] - mean_g - xhat[c] * mean_gx));
    }
  });
  if (p.dweight) store_vector(p.dweight, t, part(sums, 0, cols));
  if (p.dbias) store_vector(p.dbias, t, part(sums, cols, cols));
}

void softmax_backward(const SoftmaxBackwardParams& p) {
  const int64_t rows = p.y.rows(), cols = p.y.cols();
  const DType t = p.y.dtype;
  chunked_rows(rows, 0, 0, [&](int64_t r0, int64_t r1, double*) {
    std::vector<double> y(static_cast<size_t>(cols)), dy(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* m = p.has_mask ? static_cast<const uint8_t*>(p.mask.data) + mask_row_offset(p.y, p.mask, r) : nullptr;
      const int64_t mask_stride = p.has_mask ? p.mask.strides[p.mask.ndim - 1] : 0;
      double dot = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const bool keep = m == nullptr || m[c * mask_stride] != 0;
        y[c] = keep ? load(p.y.data, t, r * cols + c) : 0.0;
        dy[c] = load(p.dy.data, t, r * cols + c);
        dot += dy[c] * y[c];
      }
      for (int64_t c = 0; c < cols; ++c) {
        const bool keep = m == nullptr || m[c * mask_stride] != 0;
        store(p.dx.data, t, r * cols + c, keep ? p.scale * y[c] * (dy[c] - dot) : 0.0);  // +0 where dropped
      }
    }
  });
}

void activation_backward(const ActivationBackwardParams& p) {
  const int64_t rows = p.x.rows(), cols = p.x.cols();
  const DType t = p.x.dtype;
  // float32 GELU with the reference GEMM not chosen: vectorized rows (activation_simd.h).
  const bool gelu32 = t == DType::Float32 && p.activation.kind == Activation::GELU && active_gemm_kernel() != nullptr && cpu_has_avx2_fma();
  const std::vector<double> dbias = chunked_rows(rows, cols, 1, [&](int64_t r0, int64_t r1, double* partial) {
    if (gelu32) {
      const float* x = static_cast<const float*>(p.x.data);
      const float* dy = static_cast<const float*>(p.dy.data);
      float* dx = static_cast<float*>(p.dx.data);
      for (int64_t r = r0; r < r1; ++r) {
        gelu_backward_row(x + r * cols, static_cast<const float*>(p.bias), dy + r * cols, dx + r * cols, cols);
        for (int64_t c = 0; c < cols; ++c) partial[c] += dx[r * cols + c];
      }
      return;
    }
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        float v = static_cast<float>(load(p.x.data, t, r * cols + c));
        if (p.bias) v += static_cast<float>(load(p.bias, t, c));
        const double dx = load(p.dy.data, t, r * cols + c) * activation_grad(v, p.activation);
        store(p.dx.data, t, r * cols + c, dx);
        partial[c] += dx;
      }
  });
  if (p.dbias) store_vector(p.dbias, t, dbias);
}

void sum_rows(const SumRowsParams& p) {
  const int64_t rows = p.x.rows(), cols = p.x.cols();
  const std::vector<double> sums = chunked_rows(rows, cols, 1, [&](int64_t r0, int64_t r1, double* partial) {
    for (int64_t r = r0; r < r1; ++r) add_row(partial, p.x.data, p.x.dtype, r, cols, [](int64_t, double v) { return v; });
  });
  store_vector(p.out.data, p.out.dtype, sums);
}

}  // namespace nf::cpu
