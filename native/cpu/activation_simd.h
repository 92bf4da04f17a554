// Activations over a row of float32 values in place (the GEMM's epilogue), and GELU's backward:
// GELU (erf) vectorized with AVX2/FMA where the CPU has them, every other activation, and
// every CPU without them, through apply_activation (core/activation.h).
#pragma once
#include <cstdint>

#include "../core/ops.h"

namespace nf::cpu {

void activate_row(float* x, int64_t n, const ActivationSpec& a);

// dx = dy * GELU'(x + bias) over a float32 row (bias: [n] or null; dx may be dy), vectorized:
// only where cpu_has_avx2_fma() (simd_math.h).
void gelu_backward_row(const float* x, const float* bias, const float* dy, float* dx, int64_t n);

}  // namespace nf::cpu
