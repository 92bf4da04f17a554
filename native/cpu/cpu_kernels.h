// The CPU kernels as a Backend (cpu_backend.cc), running each op on the calling thread. The
// addon never uses it directly: make_cpu_backend() puts it behind a CpuStream
// (queued_backend.cc).
#pragma once
#include <memory>

#include "../core/backend.h"

namespace nf::cpu {

std::unique_ptr<Backend> make_cpu_kernels();

}  // namespace nf::cpu
