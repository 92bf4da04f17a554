// backward.h: the backward ops on the host, one row at a time.
#include "backward.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/activation.h"
#include "elementwise.h"

namespace nf::cpu {
namespace {

// Adds row r of a contiguous [rows, cols] tensor x, times f(c, value), into sums[c].
template <typename Fn>
void add_row(std::vector<double>& sums, const void* x, DType t, int64_t r, int64_t cols, Fn&& f) {
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
  std::vector<double> xhat(static_cast<size_t>(cols)), g(static_cast<size_t>(cols));
  std::vector<double> dweight(static_cast<size_t>(cols), 0.0), dbias(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
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
  if (p.dweight) store_vector(p.dweight, t, dweight);
  if (p.dbias) store_vector(p.dbias, t, dbias);
}

void softmax_backward(const SoftmaxBackwardParams& p) {
  const int64_t rows = p.y.rows(), cols = p.y.cols();
  const DType t = p.y.dtype;
  std::vector<double> y(static_cast<size_t>(cols)), dy(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
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
}

void activation_backward(const ActivationBackwardParams& p) {
  const int64_t rows = p.x.rows(), cols = p.x.cols();
  const DType t = p.x.dtype;
  std::vector<double> dbias(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float v = static_cast<float>(load(p.x.data, t, r * cols + c));
      if (p.bias) v += static_cast<float>(load(p.bias, t, c));
      const double dx = load(p.dy.data, t, r * cols + c) * activation_grad(v, p.activation);
      store(p.dx.data, t, r * cols + c, dx);
      dbias[c] += dx;
    }
  if (p.dbias) store_vector(p.dbias, t, dbias);
}

void sum_rows(const SumRowsParams& p) {
  const int64_t rows = p.x.rows(), cols = p.x.cols();
  std::vector<double> sums(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r) add_row(sums, p.x.data, p.x.dtype, r, cols, [](int64_t, double v) { return v; });
  store_vector(p.out.data, p.out.dtype, sums);
}

}  // namespace nf::cpu
