// The CPU backend's random ops (core/random_ops.h says what each computes): the reference the
// CUDA kernels must match bit for bit, since both read one Philox stream (core/philox.h).
#pragma once
#include "../core/random_ops.h"

namespace nf::cpu {

void dropout(const DropoutParams& p);
void philox(const PhiloxParams& p);

}  // namespace nf::cpu
