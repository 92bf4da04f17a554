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

// GELU (the erf form) as x * Phi(x) with Phi from the complementary error function
// erfc(z) ~ t * exp(-z^2 - 1.26551223 + t * P(t)), t = 1 / (1 + z / 2), z >= 0 (Numerical
// Recipes' erfcc: relative error under 1.2e-7 for every z): Phi(x) = erfc(|x| / sqrt 2) / 2
// for x < 0 and 1 - that for x >= 0, so the negative tail keeps its relative accuracy.
// Branch-free, one reciprocal and one exp: about 20 instructions where erff takes about 45
// with its ranges. The CUDA backend uses it for float16 and bfloat16, whose rounding (2^-11
// and 2^-8 relative) is far coarser than its error; float32 keeps erff, exact to 2 ulp.
NF_HOST_DEVICE float gelu_erfc_form(float x) {
  const float z = fabsf(x) * 0.70710678118654752f;
  const float t = 1.f / (1.f + 0.5f * z);
  float p = 0.17087277f;
  p = fmaf(p, t, -0.82215223f);
  p = fmaf(p, t, 1.48851587f);
  p = fmaf(p, t, -1.13520398f);
  p = fmaf(p, t, 0.27886807f);
  p = fmaf(p, t, -0.18628806f);
  p = fmaf(p, t, 0.09678418f);
  p = fmaf(p, t, 0.37409196f);
  p = fmaf(p, t, 1.00002368f);
  p = fmaf(p, t, -1.26551223f);
#if defined(__CUDA_ARCH__)
  const float half_erfc = 0.5f * t * __expf(fmaf(-z, z, p));
#else
  const float half_erfc = 0.5f * t * expf(fmaf(-z, z, p));
#endif
  return x * (x < 0.f ? half_erfc : 1.f - half_erfc);
}

NF_HOST_DEVICE float apply_activation(float x, const ActivationSpec& a) {
  return apply_activation(x, a.kind, a.param, a.param2);
}

}  // namespace nf
