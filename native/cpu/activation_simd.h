// Activations over a row of float32 values in place (the GEMM's epilogue, bias_activation):
// GELU (erf) vectorized with AVX2/FMA where the CPU has them, every other activation, and
// every CPU without them, through apply_activation (core/activation.h).
#pragma once
#include <cstdint>

#include "../core/ops.h"

namespace nf::cpu {

void activate_row(float* x, int64_t n, const ActivationSpec& a);

}  // namespace nf::cpu
