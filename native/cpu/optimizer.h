// The CPU backend's optimizer ops (ops.h says what each computes): one loop over every
// element of every parameter, the formulas of core/optimizer.h.
#pragma once
#include "../core/ops.h"

namespace nf::cpu {

void optimizer_step(const OptimizerStepParams& p);
void unscale_grads(const UnscaleParams& p);

}  // namespace nf::cpu
