// LayerNorm and RMSNorm over float32 rows, vectorized with AVX2/FMA (norm_simd.cc): what
// cpu_backend.cc's norm runs where the CPU has them and the GEMM is not the reference.
#pragma once
#include <cstdint>

#include "../core/ops.h"

namespace nf::cpu {

// True when norm_rows_simd computes `p`: float32 x, out, weight and bias, and AVX2 + FMA.
bool norm_simd_serves(const NormParams& p);
// Rows [r0, r1) of p.
void norm_rows_simd(const NormParams& p, int64_t r0, int64_t r1);

}  // namespace nf::cpu
