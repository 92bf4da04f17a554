// The one file that talks to cuBLASLt. LtContext owns the handle, a workspace and a cache
// of matmul plans (descriptors and the algorithm picked) keyed by everything that shapes
// the plan, so repeated GEMMs of one shape pay for the heuristic and the timing of its
// candidates once.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>

#include "../core/allocator.h"
#include "../core/ops.h"

namespace nf::cuda {

class LtContext {
 public:
  // `memory` gives the workspace and the trials' scratch outputs; every GEMM runs on `stream`.
  LtContext(Allocator& memory, cudaStream_t stream);
  ~LtContext();
  // Runs the GEMM (k > 0) with its bias fused as an epilogue, and the activation too where
  // cuBLASLt has an epilogue for it. Returns whether the activation was applied; when not,
  // the caller applies it alone to the output.
  bool gemm(const GemmParams& p);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

size_t lt_version();

}  // namespace nf::cuda
