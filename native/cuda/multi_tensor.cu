// clipGradNorm's two multi-tensor ops (MultiNormParams and MultiScaleParams in
// core/training_ops.h): the norm of many tensors as one vector, and their scaling in place by
// the clip coefficient read on the device (no host round trip between the two).
//
// The tensors go to the kernels in groups of kGroup (their pointers, sizes and dtypes in the
// kernel's parameters, __grid_constant__, as PyTorch's multi_tensor_apply does), one launch a
// group. Each tensor is cut into blocks of kBlockElems elements; block b of a launch finds its
// tensor by binary search over the group's first-block table.
//   multi_norm_partials_kernel: a 256-thread block sums |x|^p (or takes max |x|, NaN kept) over
//     its elements, threads striding by 256 (coalesced), then a fixed tree in shared memory;
//     one float32 partial per block into a workspace.
//   multi_norm_finish_kernel: one 1024-thread block reduces the partials (float64 sums) in a
//     fixed order and writes the norm: deterministic, no atomics.
//   multi_scale_kernel: the same block mapping; each thread reads the norm, forms the clamped
//     coefficient and scales its elements.
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kGroup = 48;  // tensors a launch: the group's table is ~1.4 KB of kernel parameters
constexpr int kThreads = 256;
constexpr int64_t kBlockElems = 8192;
constexpr int kFinishThreads = 1024;

enum NormMode { kSquares = 0, kAbs = 1, kPow = 2, kMax = 3 };

struct Group {
  const void* data[kGroup];
  int64_t numel[kGroup];
  int64_t first_block[kGroup + 1];  // blocks of the tensors before each, within this launch
  DType dtype[kGroup];
  int count;
};

// The tensor of this block and the [begin, end) of its elements the block owns.
__device__ __forceinline__ int block_tensor(const Group& g, int64_t* begin, int64_t* end) {
  int lo = 0, hi = g.count - 1;
  const int64_t b = blockIdx.x;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (g.first_block[mid] <= b) lo = mid;
    else hi = mid - 1;
  }
  *begin = (b - g.first_block[lo]) * kBlockElems;
  *end = *begin + kBlockElems < g.numel[lo] ? *begin + kBlockElems : g.numel[lo];
  return lo;
}

// Calls fn(pointer) with the tensor's data as its C++ type (float, __half, __nv_bfloat16).
template <typename Fn>
__device__ __forceinline__ void with_typed(const Group& g, int i, Fn&& fn) {
  switch (g.dtype[i]) {
    case DType::Float16: fn(static_cast<__half*>(const_cast<void*>(g.data[i]))); break;
    case DType::BFloat16: fn(static_cast<__nv_bfloat16*>(const_cast<void*>(g.data[i]))); break;
    default: fn(static_cast<float*>(const_cast<void*>(g.data[i]))); break;
  }
}

// max that keeps a NaN from either side (fmaxf would drop it).
__device__ __forceinline__ float nan_max(float a, float b) { return isnan(a) || a > b ? a : b; }

__device__ __forceinline__ float norm_term(float a, NormMode mode, float p) {
  switch (mode) {
    case kSquares: return a * a;
    case kPow: return powf(a, p);
    default: return a;  // kAbs, kMax
  }
}

__global__ void __launch_bounds__(kThreads)
multi_norm_partials_kernel(const __grid_constant__ Group g, float* __restrict__ partial, NormMode mode, float p) {
  __shared__ float buf[kThreads];
  int64_t begin = 0, end = 0;
  const int i = block_tensor(g, &begin, &end);
  float acc = 0.f;
  with_typed(g, i, [&](auto* x) {
    for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
      const float a = fabsf(to_float(x[e]));
      acc = mode == kMax ? nan_max(a, acc) : acc + norm_term(a, mode, p);
    }
  });
  buf[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) buf[threadIdx.x] = mode == kMax ? nan_max(buf[threadIdx.x], buf[threadIdx.x + half]) : buf[threadIdx.x] + buf[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = buf[0];
}

__global__ void __launch_bounds__(kFinishThreads)
multi_norm_finish_kernel(const float* __restrict__ partial, int64_t parts, float* __restrict__ out, NormMode mode, float p) {
  __shared__ double buf[kFinishThreads];
  double acc = 0;
  for (int64_t i = threadIdx.x; i < parts; i += kFinishThreads) {
    const double v = partial[i];
    acc = mode == kMax ? (isnan(v) || v > acc ? v : acc) : acc + v;
  }
  buf[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kFinishThreads / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) {
      const double a = buf[threadIdx.x], b = buf[threadIdx.x + half];
      buf[threadIdx.x] = mode == kMax ? (isnan(b) || b > a ? b : a) : a + b;
    }
    __syncthreads();
  }
  if (threadIdx.x != 0) return;
  const double total = buf[0];
  double norm = total;
  if (mode == kSquares) norm = sqrt(total);
  if (mode == kPow) norm = pow(total, 1.0 / p);
  out[0] = static_cast<float>(norm);
}

__global__ void __launch_bounds__(kThreads)
multi_scale_kernel(const __grid_constant__ Group g, const float* __restrict__ norm, float max_norm) {
  int64_t begin = 0, end = 0;
  const int i = block_tensor(g, &begin, &end);
  const float coef = max_norm / (norm[0] + 1e-6f);
  const float c = isnan(coef) ? coef : fminf(coef, 1.f);
  with_typed(g, i, [&](auto* x) {
    using T = std::remove_pointer_t<decltype(x)>;
    for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) x[e] = from_float<T>(to_float(x[e]) * c);
  });
}

int64_t blocks_of(const TensorView& t) { return (t.numel() + kBlockElems - 1) / kBlockElems; }

// Calls launch(group, blocks, first partial) for each group of kGroup tensors in order.
template <typename Launch>
void for_each_group(const std::vector<TensorView>& tensors, Launch&& launch) {
  int64_t done = 0;
  for (size_t first = 0; first < tensors.size(); first += kGroup) {
    Group g{};
    g.count = static_cast<int>(tensors.size() - first < static_cast<size_t>(kGroup) ? tensors.size() - first : kGroup);
    int64_t blocks = 0;
    for (int j = 0; j < g.count; ++j) {
      const TensorView& t = tensors[first + j];
      g.data[j] = t.data;
      g.numel[j] = t.numel();
      g.dtype[j] = t.dtype;
      g.first_block[j] = blocks;
      blocks += blocks_of(t);
    }
    g.first_block[g.count] = blocks;
    if (blocks > INT32_MAX) throw_invalid("multi_tensor: a group of tensors too large for one launch");
    launch(g, static_cast<unsigned>(blocks), done);
    done += blocks;
  }
}

NormMode mode_of(float p) {
  if (std::isinf(p)) return kMax;
  return p == 2.f ? kSquares : p == 1.f ? kAbs : kPow;
}

}  // namespace

size_t multi_norm_workspace_bytes(const MultiNormParams& p) {
  int64_t blocks = 0;
  for (const TensorView& t : p.tensors) blocks += blocks_of(t);
  return static_cast<size_t>(blocks) * sizeof(float);
}

void launch_multi_norm(const MultiNormParams& p, float* workspace, cudaStream_t stream) {
  const NormMode mode = mode_of(p.norm_type);
  int64_t parts = 0;
  for_each_group(p.tensors, [&](const Group& g, unsigned blocks, int64_t first) {
    multi_norm_partials_kernel<<<blocks, kThreads, 0, stream>>>(g, workspace + first, mode, p.norm_type);
    NF_CHECK_LAUNCH("multi_norm_partials_kernel");
    parts = first + blocks;
  });
  multi_norm_finish_kernel<<<1, kFinishThreads, 0, stream>>>(workspace, parts, static_cast<float*>(p.out.data), mode, p.norm_type);
  NF_CHECK_LAUNCH("multi_norm_finish_kernel");
}

void launch_multi_scale(const MultiScaleParams& p, cudaStream_t stream) {
  for_each_group(p.tensors, [&](const Group& g, unsigned blocks, int64_t) {
    multi_scale_kernel<<<blocks, kThreads, 0, stream>>>(g, static_cast<const float*>(p.norm.data), p.max_norm);
    NF_CHECK_LAUNCH("multi_scale_kernel");
  });
}

}  // namespace nf::cuda
