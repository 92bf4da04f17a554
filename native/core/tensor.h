// A view of a tensor as kernels see it: a typed pointer to element [0, ..., 0], a shape
// and strides in elements. Storage itself (who owns the bytes, on which device) lives in
// buffer.h; a view never owns memory.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace nf {

constexpr int kMaxDims = 8;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::Float32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // in elements

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  int64_t dim(int i) const { return shape[i < 0 ? ndim + i : i]; }
  int64_t stride(int i) const { return strides[i < 0 ? ndim + i : i]; }
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }
  // Rows of the last dimension when the view is contiguous.
  int64_t rows() const {
    if (ndim == 0) return 1;
    int64_t n = 1;
    for (int i = 0; i < ndim - 1; ++i) n *= shape[i];
    return n;
  }
  int64_t cols() const { return ndim == 0 ? 1 : shape[ndim - 1]; }
  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
};

}  // namespace nf
