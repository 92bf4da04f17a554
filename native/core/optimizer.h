// The optimizers' update of one element (OptimizerStepParams in ops.h), written once and
// compiled for host and device alike, so that the CPU and CUDA backends cannot drift apart;
// and the float32 scalars both derive from a step's params, in double as torch derives them.
// Every multiply-add is an explicit fmaf: the same rounding on both sides, whatever the
// compiler would contract.
#pragma once
#include <cmath>

#include "ops.h"

#if defined(__CUDACC__)
#define NF_OPTIM_FN __host__ __device__ __forceinline__
#else
#define NF_OPTIM_FN inline
#endif

namespace nf {

// A step's hyperparameters as its kernels read them.
struct OptimizerConstants {
  float beta1 = 0, one_minus_beta1 = 0, beta2 = 0, one_minus_beta2 = 0, eps = 0;
  float momentum = 0, one_minus_dampening = 0;
  bool nesterov = false, amsgrad = false, has_momentum = false;
};

// One parameter's factors for this step.
struct TensorFactors {
  float lr = 0, weight_decay = 0;
  float decay = 1;                  // AdamW: 1 - lr * weight_decay
  float step_size = 0;              // AdamW: lr / (1 - beta1^step)
  float bias_correction2_sqrt = 1;  // AdamW: sqrt(1 - beta2^step)
  bool first = false;               // SGD: the momentum buffer starts as the gradient
};

inline OptimizerConstants optimizer_constants(const OptimizerStepParams& p) {
  OptimizerConstants c;
  c.beta1 = static_cast<float>(p.beta1);
  c.one_minus_beta1 = static_cast<float>(1.0 - p.beta1);
  c.beta2 = static_cast<float>(p.beta2);
  c.one_minus_beta2 = static_cast<float>(1.0 - p.beta2);
  c.eps = static_cast<float>(p.eps);
  c.momentum = static_cast<float>(p.momentum);
  c.one_minus_dampening = static_cast<float>(1.0 - p.dampening);
  c.nesterov = p.nesterov;
  c.amsgrad = p.amsgrad;
  c.has_momentum = p.momentum != 0.0;
  return c;
}

inline TensorFactors tensor_factors(const OptimizerStepParams& p, const OptimizerTensor& t) {
  TensorFactors f;
  f.lr = static_cast<float>(t.lr);
  f.weight_decay = static_cast<float>(t.weight_decay);
  f.decay = static_cast<float>(1.0 - t.lr * t.weight_decay);
  const double step = static_cast<double>(t.step);
  f.step_size = static_cast<float>(t.lr / (1.0 - std::pow(p.beta1, step)));
  f.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(p.beta2, step)));
  f.first = t.step == 1;
  return f;
}

// SGD: the new weight from weight w and gradient g; buf is the element's momentum buffer
// (read and written only with momentum).
NF_OPTIM_FN float sgd_update(float w, float g, float* buf, const OptimizerConstants& c, const TensorFactors& f) {
  float d = f.weight_decay != 0.f ? fmaf(f.weight_decay, w, g) : g;
  if (c.has_momentum) {
    const float b = f.first ? d : fmaf(c.momentum, *buf, c.one_minus_dampening * d);
    *buf = b;
    d = c.nesterov ? fmaf(c.momentum, b, d) : b;
  }
  return fmaf(-f.lr, d, w);
}

// AdamW: the new weight; m, v (and vmax under amsgrad) are the element's moments.
NF_OPTIM_FN float adamw_update(float w, float g, float* m, float* v, float* vmax, const OptimizerConstants& c, const TensorFactors& f) {
  w *= f.decay;
  const float m1 = fmaf(c.beta1, *m, c.one_minus_beta1 * g);
  const float v1 = fmaf(c.beta2, *v, c.one_minus_beta2 * g * g);
  *m = m1;
  *v = v1;
  float second = v1;
  if (c.amsgrad) {
    second = fmaxf(*vmax, v1);
    *vmax = second;
  }
  const float denom = sqrtf(second) / f.bias_correction2_sqrt + c.eps;
  return fmaf(-f.step_size, m1 / denom, w);
}

}  // namespace nf
