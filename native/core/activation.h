// The activations of xFormers, one formula each, compiled for host and device alike so the
// CPU and CUDA backends cannot drift apart.
#pragma once
#include <cmath>

#include "ops.h"

#if defined(__CUDACC__)
#define NF_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NF_HOST_DEVICE inline
#endif

namespace nf {

NF_HOST_DEVICE float apply_activation(float x, Activation kind, float param, float param2) {
  switch (kind) {
    case Activation::None: return x;
    case Activation::ReLU: return x > 0.f ? x : 0.f;
    case Activation::GELU: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case Activation::GELUTanh: {
      const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.f + tanhf(inner));
    }
    case Activation::LeakyReLU: return x > 0.f ? x : x * param;
    case Activation::SquaredReLU: { const float r = x > 0.f ? x : 0.f; return r * r; }
    case Activation::SmeLU: {
      const float beta = param;
      if (x >= beta) return x;
      if (x <= -beta) return 0.f;
      return (x + beta) * (x + beta) / (4.f * beta);
    }
    case Activation::StarReLU: { const float r = x > 0.f ? x : 0.f; return param * r * r + param2; }
  }
  return x;
}

NF_HOST_DEVICE float apply_activation(float x, const ActivationSpec& a) {
  return apply_activation(x, a.kind, a.param, a.param2);
}

}  // namespace nf
