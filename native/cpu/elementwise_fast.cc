// elementwise_fast.h's paths.
#include "elementwise_fast.h"

#include <algorithm>
#include <cstring>

#include "elementwise.h"
#include "thread_pool.h"

namespace nf::cpu {
namespace {

// Rows of this many elements or more are worth the pool for a pass.
constexpr int64_t kThreadedElements = int64_t{1} << 15;

// The view without its last dimension (its rows), for for_each_offset.
TensorView rows_of(const TensorView& v) {
  TensorView r = v;
  r.ndim = v.ndim - 1;
  return r;
}

bool last_contiguous(const TensorView& v) { return v.ndim > 0 && (v.strides[v.ndim - 1] == 1 || v.shape[v.ndim - 1] == 1); }

// The number of trailing elements of b that are contiguous while every leading stride is 0:
// b repeats one block of that many elements over the rest; 0 when b is not so.
int64_t broadcast_block(const TensorView& b) {
  int64_t expected = 1, block = 1;
  int d = b.ndim - 1;
  for (; d >= 0; --d) {
    if (b.shape[d] != 1 && b.strides[d] != expected) break;
    expected *= b.shape[d];
    block = expected;
  }
  for (; d >= 0; --d)
    if (b.shape[d] != 1 && b.strides[d] != 0) return 0;
  return block;
}

template <BinaryOp Op>
void binary_span(float* out, const float* a, const float* b, int64_t n, double alpha) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i] * alpha;
    double v;
    if constexpr (Op == BinaryOp::Add) v = x + y;
    if constexpr (Op == BinaryOp::Sub) v = x - y;
    if constexpr (Op == BinaryOp::Mul) v = x * y;
    if constexpr (Op == BinaryOp::Div) v = x / y;
    out[i] = static_cast<float>(v);
  }
}

template <BinaryOp Op>
void binary_blocks(const BinaryParams& p, int64_t block) {
  float* out = static_cast<float*>(p.out.data);
  const float* a = static_cast<const float*>(p.a.data);
  const float* b = static_cast<const float*>(p.b.data);
  const int64_t total = p.out.numel(), blocks = total / block;
  const double alpha = p.alpha;
  parallel_range(blocks, std::max<int64_t>(1, kThreadedElements / block), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) binary_span<Op>(out + r * block, a + r * block, b, block, alpha);
  });
}

}  // namespace

bool copy_rows(const TensorView& dst, const TensorView& src) {
  if (dst.dtype != src.dtype || !last_contiguous(dst) || !last_contiguous(src)) return false;
  const size_t row = static_cast<size_t>(dst.cols()) * dtype_size(dst.dtype);
  char* d = static_cast<char*>(dst.data);
  const char* s = static_cast<const char*>(src.data);
  if (dst.is_contiguous() && src.is_contiguous()) {
    std::memmove(d, s, row * static_cast<size_t>(dst.rows()));  // memmove: a copy onto itself is allowed
    return true;
  }
  const TensorView dr = rows_of(dst), sr = rows_of(src);
  const TensorView* views[2] = {&dr, &sr};
  const size_t size = dtype_size(dst.dtype);
  for_each_offset<2>(dr, views, [&](int64_t od, int64_t os) { std::memmove(d + od * size, s + os * size, row); });
  return true;
}

bool fill_contiguous(const TensorView& dst, double value) {
  if (dst.dtype != DType::Float32 || !dst.is_contiguous()) return false;
  float* d = static_cast<float*>(dst.data);
  std::fill(d, d + dst.numel(), static_cast<float>(value));
  return true;
}

bool binary_rows(const BinaryParams& p) {
  if (p.out.dtype != DType::Float32 || p.a.dtype != DType::Float32 || p.b.dtype != DType::Float32) return false;
  if (!p.out.is_contiguous() || !p.a.is_contiguous()) return false;
  const int64_t total = p.out.numel();
  const int64_t block = p.b.is_contiguous() && p.b.numel() == total ? total : broadcast_block(p.b);
  if (block <= 0 || total % block != 0) return false;
  switch (p.op) {
    case BinaryOp::Add: binary_blocks<BinaryOp::Add>(p, block); break;
    case BinaryOp::Sub: binary_blocks<BinaryOp::Sub>(p, block); break;
    case BinaryOp::Mul: binary_blocks<BinaryOp::Mul>(p, block); break;
    case BinaryOp::Div: binary_blocks<BinaryOp::Div>(p, block); break;
  }
  return true;
}

}  // namespace nf::cpu
