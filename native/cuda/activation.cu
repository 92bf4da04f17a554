// Fused bias + activation: out[r, c] = act(x[r, c] + bias[c]) over a contiguous [rows, cols]
// tensor; bias ([cols], x's dtype) may be null, and out may be x itself (in place).
//
// bias_act_kernel: the tensor is a flat run of vectors of kVec elements (16 bytes when
// cols and every pointer allow, else single elements). Grid-stride over vectors: each
// thread loads kUnroll vectors spaced one grid apart before computing any, so several
// 16-byte loads are in flight per thread. The column of each vector is tracked
// incrementally (plus the grid stride modulo the row, wrapped once) rather than divided.
// The activation is a template parameter, so each kernel holds one formula. GELU for float16
// and bfloat16 is gelu_as7126 (core/activation.h): erff's arithmetic shows once the elements
// per byte double (BENCHMARKS.md, fused ops; the forms tried: `git log -- native/cuda/activation.cu`).
#include <cstdint>
#include <type_traits>

#include "../core/activation.h"
#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"
#include "vector.cuh"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// The formula as a type: one of the library's activations for outputs of type T (GELU has
// its own formula for 16-bit outputs; bench/micro/gelu16.cu times other formulas through
// the same kernel).
template <Activation kAct, typename T>
struct ActivationFn {
  __device__ __forceinline__ float operator()(float x, float param, float param2) const {
    if constexpr (kAct == Activation::GELU && !std::is_same_v<T, float>) return gelu_as7126(x);
    else return apply_activation(x, kAct, param, param2);
  }
};

// nvec vectors of kVec elements, row_vecs of them to a row. x and out may alias.
template <typename T, int kVec, typename Fn>
__global__ void __launch_bounds__(kThreads)
bias_act_kernel(T* out, const T* x, const T* __restrict__ bias, int64_t nvec, int64_t row_vecs, float param,
                float param2) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t step = stride % row_vecs;  // the column's advance per grid stride
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t col = bias != nullptr ? i % row_vecs : 0;
  for (; i < nvec; i += kUnroll * stride) {
    Pack<Bits<T>, kVec> raw[kUnroll];  // converted at use: half the registers of floats
    int64_t cols[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t idx = i + u * stride;
      cols[u] = col;
      col += step;
      if (col >= row_vecs) col -= row_vecs;
      if (idx < nvec) raw[u] = reinterpret_cast<const Pack<Bits<T>, kVec>*>(x)[idx];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t idx = i + u * stride;
      if (idx < nvec) {
        float v[kVec];
#pragma unroll
        for (int j = 0; j < kVec; ++j) v[j] = to_float(from_bits<T>(raw[u].v[j]));
        if (bias != nullptr) {
          float b[kVec];
          load_vec<kVec>(bias + cols[u] * kVec, b);
#pragma unroll
          for (int j = 0; j < kVec; ++j) v[j] += b[j];
        }
#pragma unroll
        for (int j = 0; j < kVec; ++j) v[j] = Fn{}(v[j], param, param2);
        store_vec<kVec>(out + idx * kVec, v);
      }
    }
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <typename T, int kVec, typename Fn>
void launch_typed(const BiasActivationParams& p, int64_t numel, int64_t cols, cudaStream_t stream) {
  const int64_t nvec = numel / kVec;
  const int64_t per_block = int64_t{kThreads} * kUnroll;
  int64_t blocks = (nvec + per_block - 1) / per_block;
  if (blocks > (int64_t{1} << 20)) blocks = int64_t{1} << 20;
  bias_act_kernel<T, kVec, Fn><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<T*>(p.out.data), static_cast<const T*>(p.x.data), static_cast<const T*>(p.bias), nvec, cols / kVec,
      p.activation.param, p.activation.param2);
}

template <typename T, typename Fn>
void launch_act(const BiasActivationParams& p, int64_t numel, int64_t cols, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  const bool vec = cols % kVec == 0 && aligned16(p.x.data) && aligned16(p.out.data) && aligned16(p.bias);
  if (vec) launch_typed<T, kVec, Fn>(p, numel, cols, stream);
  else launch_typed<T, 1, Fn>(p, numel, cols, stream);
}

}  // namespace

void launch_bias_activation(const BiasActivationParams& p, cudaStream_t stream) {
  const int64_t numel = p.x.numel();
  if (numel == 0) return;
  if (p.out.dtype != p.x.dtype) throw_invalid("bias_activation: out and x must share one dtype");
  if (p.bias == nullptr && p.activation.kind == Activation::None && p.out.data == p.x.data) return;  // identity
  const int64_t cols = p.x.cols();
  dispatch_float(p.x.dtype, "bias_activation", [&](auto tag) {
    using T = decltype(tag);
    switch (p.activation.kind) {
      case Activation::None: launch_act<T, ActivationFn<Activation::None, T>>(p, numel, cols, stream); break;
      case Activation::ReLU: launch_act<T, ActivationFn<Activation::ReLU, T>>(p, numel, cols, stream); break;
      case Activation::GELU: launch_act<T, ActivationFn<Activation::GELU, T>>(p, numel, cols, stream); break;
      case Activation::GELUTanh: launch_act<T, ActivationFn<Activation::GELUTanh, T>>(p, numel, cols, stream); break;
      case Activation::LeakyReLU: launch_act<T, ActivationFn<Activation::LeakyReLU, T>>(p, numel, cols, stream); break;
      case Activation::SquaredReLU: launch_act<T, ActivationFn<Activation::SquaredReLU, T>>(p, numel, cols, stream); break;
      case Activation::SmeLU: launch_act<T, ActivationFn<Activation::SmeLU, T>>(p, numel, cols, stream); break;
      case Activation::StarReLU: launch_act<T, ActivationFn<Activation::StarReLU, T>>(p, numel, cols, stream); break;
      default: throw_invalid("bias_activation: unknown activation");
    }
  });
  NF_CHECK_LAUNCH("bias_act_kernel");
}

}  // namespace nf::cuda
