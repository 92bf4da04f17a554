// optimizer.h: the multi-tensor step and the unscale on the host, parameter by parameter.
#include "optimizer.h"

#include <cmath>
#include <cstdint>

#include "../core/optimizer.h"
#include "elementwise.h"

namespace nf::cpu {

void optimizer_step(const OptimizerStepParams& p) {
  const OptimizerConstants c = optimizer_constants(p);
  const bool adamw = p.kind == OptimizerKind::AdamW;
  for (int64_t t = 0; t < p.count; ++t) {
    const OptimizerTensor& e = p.tensors[t];
    const TensorFactors f = tensor_factors(p, e);
    const int64_t base = e.state_offset;
    for (int64_t i = 0; i < e.numel; ++i) {
      const float g = static_cast<float>(load(e.grad, p.dtype, i));
      const float w = p.master != nullptr ? p.master[base + i] : static_cast<float>(load(e.param, p.dtype, i));
      const float next = adamw ? adamw_update(w, g, &p.state1[base + i], &p.state2[base + i], p.state3 ? &p.state3[base + i] : nullptr, c, f)
                               : sgd_update(w, g, p.state1 ? &p.state1[base + i] : nullptr, c, f);
      if (p.master != nullptr) p.master[base + i] = next;
      store(e.param, p.dtype, i, next);
    }
  }
}

void unscale_grads(const UnscaleParams& p) {
  bool found = false;
  for (int64_t t = 0; t < p.count; ++t) {
    const UnscaleTensor& e = p.tensors[t];
    for (int64_t i = 0; i < e.numel; ++i) {
      const float g = static_cast<float>(load(e.grad, p.dtype, i));
      found = found || !std::isfinite(g);
      store(e.grad, p.dtype, i, g * p.inv_scale);
    }
  }
  if (found) *p.found_inf = 1.f;
}

}  // namespace nf::cpu
