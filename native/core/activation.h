// The activations of xFormers, one formula each, compiled for host and device alike so the
// CPU and CUDA backends cannot drift apart.
#pragma once
#include <cmath>

#include "host_device.h"
#include "ops.h"

namespace nf {

// GELU (erf) through Abramowitz and Stegun 7.1.26: erf(z) ~ 1 - t (a1 + t (a2 + t (a3 + t (a4
// + t a5)))) exp(-z^2), t = 1 / (1 + 0.3275911 z), z = |x| / sqrt 2, absolute error under
// 1.5e-7; gelu(x) = x (1 + sign(x) erf(z)) / 2 from the tail 1 - erf(z) directly, so the
// negative side loses nothing to 1 + erf. The CUDA kernels use it for float16 and bfloat16
// outputs: largest relative error 6.1e-4 where |gelu| >= 2^-14 (erff's form: 2.0e-3), and
// nearer the copy bandwidth in 16-bit than erff's (BENCHMARKS.md, fused ops). float32 keeps erff.
NF_HOST_DEVICE float gelu_as7126(float x) {
  const float z = fabsf(x) * 0.70710678118654752f;
#if defined(__CUDA_ARCH__)
  const float t = __fdividef(1.f, fmaf(0.3275911f, z, 1.f));  // MUFU.RCP: no IEEE division
  const float gauss = __expf(-z * z);
#else
  const float t = 1.f / std::fma(0.3275911f, z, 1.f);
  const float gauss = std::exp(-z * z);
#endif
  float p = 1.061405429f;
  p = fmaf(p, t, -1.453152027f);
  p = fmaf(p, t, 1.421413741f);
  p = fmaf(p, t, -0.284496736f);
  p = fmaf(p, t, 0.254829592f);
  const float tail = p * t * gauss;  // 1 - erf(z)
  return 0.5f * x * (x < 0.f ? tail : 2.f - tail);
}

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

// d act(x) / dx, the backward of apply_activation. At a kink the derivative of the side
// x <= 0 (ReLU's 0 at 0, as PyTorch's); GELU's from erff for every dtype (exact Phi + x phi).
NF_HOST_DEVICE float activation_grad(float x, Activation kind, float param, float param2) {
  (void)param2;  // StarReLU's bias shifts the value only
  switch (kind) {
    case Activation::None: return 1.f;
    case Activation::ReLU: return x > 0.f ? 1.f : 0.f;
    case Activation::GELU: {
      const float cdf = 0.5f * erfcf(-x * 0.70710678118654752f);  // 1 + erf would cancel in the negative tail
      const float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
      return cdf + x * pdf;
    }
    case Activation::GELUTanh: {
      // With s = sigmoid(2u) = (1 + tanh u) / 2: 1 + tanh u through s keeps the negative tail
      // exact (1.f + tanhf(u) cancels to a 1% error at x = -4.7); 1 - tanh^2 u = 4 s (1 - s).
      const float k = 0.79788456080286536f, c = 0.044715f;
      const float s = 1.f / (1.f + expf(-2.f * k * (x + c * x * x * x)));
      return s * (1.f + 2.f * x * (1.f - s) * k * (1.f + 3.f * c * x * x));
    }
    case Activation::LeakyReLU: return x > 0.f ? 1.f : param;
    case Activation::SquaredReLU: return x > 0.f ? 2.f * x : 0.f;
    case Activation::SmeLU: {
      const float beta = param;
      if (x >= beta) return 1.f;
      if (x <= -beta) return 0.f;
      return (x + beta) / (2.f * beta);
    }
    case Activation::StarReLU: return x > 0.f ? 2.f * param * x : 0.f;
  }
  return 1.f;
}

NF_HOST_DEVICE float activation_grad(float x, const ActivationSpec& a) { return activation_grad(x, a.kind, a.param, a.param2); }

}  // namespace nf
