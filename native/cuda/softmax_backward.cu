// The gradient of the scaled, masked softmax (SoftmaxBackwardParams in core/ops.h) from its
// output y: dx = scale * y * (dy - sum_c dy * y), 0 where the mask drops an entry.
//
// softmax_backward_kernel: one warp a row, 4 rows a 128-thread block, the grid striding over
// rows. Lane l reads columns l, l + 32, ... (consecutive lanes, consecutive columns): one pass
// for the row's float32 dot product (warp shuffles), one to write dx. A masked entry counts
// as y = 0 (the forward wrote 0 there), so a fully masked row gives zeros.
#include <cstdint>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kWarps = 4;

// The mask view's leading dims (those of the rows), for the offset of a row's first element.
struct MaskRows {
  const uint8_t* data = nullptr;
  int lead = 0;                   // dims before the last
  int64_t shape[kMaxDims] = {};   // y's leading sizes
  int64_t strides[kMaxDims] = {}; // the mask's strides along them
  int64_t col_stride = 0;
};

// (mask is __grid_constant__: read in place through its address, no copy to local memory)
__device__ __forceinline__ const uint8_t* mask_row(const MaskRows& m, int64_t r) {
  // 32-bit division (the launcher refuses a mask over 2^32 rows): the 64-bit one is a call
  // with a stack frame.
  int64_t offset = 0;
  auto q = static_cast<uint32_t>(r);
  for (int d = m.lead - 1; d >= 0; --d) {
    const auto n = static_cast<uint32_t>(m.shape[d]);
    offset += static_cast<int64_t>(q % n) * m.strides[d];
    q /= n;
  }
  return m.data + offset;
}

template <typename T>
__global__ void __launch_bounds__(kWarps * 32)
softmax_backward_kernel(T* dx, const T* dy, const T* y, const __grid_constant__ MaskRows mask, int64_t rows, int64_t cols, float scale) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < rows; r += warps) {
    const T* yr = y + r * cols;
    const T* dyr = dy + r * cols;
    const uint8_t* m = mask.data != nullptr ? mask_row(mask, r) : nullptr;
    float dot = 0.f;
    for (int64_t c = lane; c < cols; c += 32) {
      if (m == nullptr || m[c * mask.col_stride] != 0) dot += to_float(dyr[c]) * to_float(yr[c]);
    }
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    for (int64_t c = lane; c < cols; c += 32) {
      const bool keep = m == nullptr || m[c * mask.col_stride] != 0;
      const float v = keep ? scale * to_float(yr[c]) * (to_float(dyr[c]) - dot) : 0.f;
      dx[r * cols + c] = from_float<T>(v);
    }
  }
}

}  // namespace

void launch_softmax_backward(const SoftmaxBackwardParams& p, cudaStream_t stream) {
  const int64_t rows = p.y.rows(), cols = p.y.cols();
  if (rows == 0 || cols == 0) return;
  MaskRows mask;
  if (p.has_mask) {
    mask.data = static_cast<const uint8_t*>(p.mask.data);
    mask.lead = p.y.ndim - 1;
    for (int d = 0; d < mask.lead; ++d) {
      mask.shape[d] = p.y.shape[d];
      mask.strides[d] = p.mask.strides[d];
    }
    mask.col_stride = p.mask.strides[p.mask.ndim - 1];
    if (rows >= (int64_t{1} << 32)) throw_invalid("softmax_backward: a mask over 2^32 rows or more");
  }
  int64_t blocks = (rows + kWarps - 1) / kWarps;
  if (blocks > (int64_t{1} << 20)) blocks = int64_t{1} << 20;
  dispatch_float(p.y.dtype, "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    softmax_backward_kernel<T><<<static_cast<unsigned>(blocks), kWarps * 32, 0, stream>>>(
        static_cast<T*>(p.dx.data), static_cast<const T*>(p.dy.data), static_cast<const T*>(p.y.data), mask, rows, cols, p.scale);
  });
  NF_CHECK_LAUNCH("softmax_backward_kernel");
}

}  // namespace nf::cuda
