// Strided copy with dtype conversion, and fill.
//
// copy: dst[i] = convert(src[i]) for every index i of dst's shape, both views strided (a
// broadcast source has stride 0). One thread per element, grid-stride; the linear index is
// unravelled over the shape to two offsets. Contiguous same-dtype copies skip the kernel
// and go to cudaMemcpyAsync. This one kernel is cast, contiguous, permute, slice and concat.
#include <cstdint>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

struct StridedShape {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t dst_strides[kMaxDims];
  int64_t src_strides[kMaxDims];
};

template <typename Dst, typename Src>
__global__ void copy_kernel(Dst* __restrict__ dst, const Src* __restrict__ src, int64_t total, StridedShape s) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t rem = i, od = 0, os = 0;
    for (int d = s.ndim - 1; d >= 0; --d) {
      const int64_t idx = rem % s.shape[d];
      rem /= s.shape[d];
      od += idx * s.dst_strides[d];
      os += idx * s.src_strides[d];
    }
    if constexpr (std::is_same_v<Dst, Src>) {
      dst[od] = src[os];
    } else {
      dst[od] = from_float<Dst>(to_float(src[os]));
    }
  }
}

template <typename T>
__global__ void fill_kernel(T* __restrict__ dst, int64_t total, StridedShape s, T value) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t rem = i, od = 0;
    for (int d = s.ndim - 1; d >= 0; --d) {
      od += (rem % s.shape[d]) * s.dst_strides[d];
      rem /= s.shape[d];
    }
    dst[od] = value;
  }
}

StridedShape describe(const TensorView& dst, const TensorView* src) {
  StridedShape s{};
  s.ndim = dst.ndim;
  for (int d = 0; d < dst.ndim; ++d) {
    s.shape[d] = dst.shape[d];
    s.dst_strides[d] = dst.strides[d];
    s.src_strides[d] = src ? src->strides[d] : 0;
  }
  return s;
}

unsigned grid_for(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65536 * 8 ? blocks : 65536 * 8);
}

}  // namespace

void launch_copy(const TensorView& dst, const TensorView& src, cudaStream_t stream) {
  const int64_t total = dst.numel();
  if (total == 0) return;
  if (dst.dtype == src.dtype && dst.is_contiguous() && src.is_contiguous()) {
    NF_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, total * dtype_size(dst.dtype), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  const StridedShape s = describe(dst, &src);
  constexpr int kThreads = 256;
  dispatch_any(dst.dtype, [&](auto dst_tag) {
    using Dst = decltype(dst_tag);
    dispatch_any(src.dtype, [&](auto src_tag) {
      using Src = decltype(src_tag);
      copy_kernel<Dst, Src><<<grid_for(total, kThreads), kThreads, 0, stream>>>(
          static_cast<Dst*>(dst.data), static_cast<const Src*>(src.data), total, s);
    });
  });
  NF_CHECK_LAUNCH("copy_kernel");
}

void launch_fill(const TensorView& dst, double value, cudaStream_t stream) {
  const int64_t total = dst.numel();
  if (total == 0) return;
  const StridedShape s = describe(dst, nullptr);
  constexpr int kThreads = 256;
  dispatch_any(dst.dtype, [&](auto tag) {
    using T = decltype(tag);
    T v;
    if constexpr (std::is_same_v<T, float>) v = static_cast<float>(value);
    else if constexpr (std::is_same_v<T, __half>) v = __double2half(value);
    else if constexpr (std::is_same_v<T, __nv_bfloat16>) v = __double2bfloat16(value);
    else if constexpr (std::is_same_v<T, int32_t>) v = static_cast<int32_t>(value);
    else v = static_cast<uint8_t>(value);
    fill_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream>>>(static_cast<T*>(dst.data), total, s, v);
  });
  NF_CHECK_LAUNCH("fill_kernel");
}

}  // namespace nf::cuda
