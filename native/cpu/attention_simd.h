// The CPU's vectorized attention forward (attention_simd.cc): float32, any mask, bias, key
// ranges and kv grouping; no block layout. cpu_backend.cc's plain kernel serves the rest, and
// everything while the reference GEMM is chosen (cpu.gemmKernel('reference')).
#pragma once
#include "../core/ops.h"

namespace nf::cpu {

// True when attention_simd computes `p`: float32, no block layout, and the ISA is there.
bool attention_simd_serves(const AttentionParams& p);
void attention_simd(const AttentionParams& p);

}  // namespace nf::cpu
