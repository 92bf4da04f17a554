// The gradients of the fused bias + activation (ActivationBackwardParams in core/ops.h):
// dx = dy * act'(x + bias) elementwise, then dbias = sum_r dx by column_sum.cu's two stages.
//
// activation_backward_kernel: grid-stride over the flat [rows, cols] elements, 256 threads a
// block, one element a thread a step (consecutive threads, consecutive elements); the
// column of an element (for its bias) by one division. The activation is a template
// parameter, so each kernel holds one derivative.
#include <cstdint>

#include "../core/activation.h"
#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T, Activation kAct>
__global__ void __launch_bounds__(kThreads)
activation_backward_kernel(T* dx, const T* dy, const T* x, const T* __restrict__ bias, int64_t numel, int64_t cols,
                           float param, float param2) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < numel; i += stride) {
    float v = to_float(x[i]);
    if (bias != nullptr) v += to_float(bias[i % cols]);
    dx[i] = from_float<T>(to_float(dy[i]) * activation_grad(v, kAct, param, param2));
  }
}

template <typename T, Activation kAct>
void launch_typed(const ActivationBackwardParams& p, int64_t numel, cudaStream_t stream) {
  int64_t blocks = (numel + kThreads - 1) / kThreads;
  if (blocks > (int64_t{1} << 20)) blocks = int64_t{1} << 20;
  activation_backward_kernel<T, kAct><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<T*>(p.dx.data), static_cast<const T*>(p.dy.data), static_cast<const T*>(p.x.data),
      static_cast<const T*>(p.bias), numel, p.x.cols(), p.activation.param, p.activation.param2);
}

}  // namespace

void launch_activation_backward(const ActivationBackwardParams& p, float* workspace, int sm_count, cudaStream_t stream) {
  const int64_t numel = p.x.numel();
  if (numel == 0) return;
  dispatch_float(p.x.dtype, "activation_backward", [&](auto tag) {
    using T = decltype(tag);
    switch (p.activation.kind) {
      case Activation::None: launch_typed<T, Activation::None>(p, numel, stream); break;
      case Activation::ReLU: launch_typed<T, Activation::ReLU>(p, numel, stream); break;
      case Activation::GELU: launch_typed<T, Activation::GELU>(p, numel, stream); break;
      case Activation::GELUTanh: launch_typed<T, Activation::GELUTanh>(p, numel, stream); break;
      case Activation::LeakyReLU: launch_typed<T, Activation::LeakyReLU>(p, numel, stream); break;
      case Activation::SquaredReLU: launch_typed<T, Activation::SquaredReLU>(p, numel, stream); break;
      case Activation::SmeLU: launch_typed<T, Activation::SmeLU>(p, numel, stream); break;
      case Activation::StarReLU: launch_typed<T, Activation::StarReLU>(p, numel, stream); break;
      default: throw_invalid("activation_backward: unknown activation");
    }
  });
  NF_CHECK_LAUNCH("activation_backward_kernel");
  if (p.dbias != nullptr) launch_sum_rows(p.x.dtype, p.dx.data, p.x.rows(), p.x.cols(), p.dbias, workspace, sm_count, stream);
}

}  // namespace nf::cuda
