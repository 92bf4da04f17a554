// Host-side element access for the CPU backend: read or write one element of any dtype
// as float (or double), and walk the elements of strided views in row-major order.
#pragma once
#include <cmath>
#include <cstdint>

#include "../core/half.h"
#include "../core/tensor.h"

namespace nf::cpu {

inline double load(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::Float32: return static_cast<const float*>(base)[i];
    case DType::Float16: return half_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::BFloat16: return bf16_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::Int32: return static_cast<const int32_t*>(base)[i];
    case DType::UInt8: return static_cast<const uint8_t*>(base)[i];
  }
  return 0;
}

inline void store(void* base, DType t, int64_t i, double v) {
  switch (t) {
    case DType::Float32: static_cast<float*>(base)[i] = static_cast<float>(v); return;
    case DType::Float16: static_cast<uint16_t*>(base)[i] = float_to_half(static_cast<float>(v)); return;
    case DType::BFloat16: static_cast<uint16_t*>(base)[i] = float_to_bf16(static_cast<float>(v)); return;
    case DType::Int32:
      static_cast<int32_t*>(base)[i] = std::isnan(v) ? 0 : static_cast<int32_t>(std::fmax(-2147483648.0, std::fmin(2147483647.0, v)));
      return;
    case DType::UInt8:
      static_cast<uint8_t*>(base)[i] = std::isnan(v) ? 0 : static_cast<uint8_t>(std::fmax(0.0, std::fmin(255.0, v)));
      return;
  }
}

// Calls fn(offset_0, ..., offset_{K-1}) for every index of `shape`, in row-major order,
// where offset_j is the element offset of that index in views[j] (their strides).
template <int K, typename Fn>
void for_each_offset(const TensorView& shape_of, const TensorView* const (&views)[K], Fn fn) {
  const int nd = shape_of.ndim;
  const int64_t total = shape_of.numel();
  if (total == 0) return;
  int64_t index[kMaxDims] = {};
  int64_t offset[K] = {};
  for (int64_t n = 0; n < total; ++n) {
    if constexpr (K == 1) fn(offset[0]);
    if constexpr (K == 2) fn(offset[0], offset[1]);
    if constexpr (K == 3) fn(offset[0], offset[1], offset[2]);
    for (int d = nd - 1; d >= 0; --d) {
      ++index[d];
      for (int j = 0; j < K; ++j) offset[j] += views[j]->strides[d];
      if (index[d] < shape_of.shape[d]) break;
      for (int j = 0; j < K; ++j) offset[j] -= views[j]->strides[d] * shape_of.shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace nf::cpu
