// cuFFT plans for the Fourier mix (FourierMixParams): the real-to-complex transform of
// FftShape's `batch` float32 [rows, len] slices (rank 2, or rank 1 when rows is 1), cached by
// shape, their work areas from the backend's stream-ordered allocator (auto-allocation off,
// so cuFFT's memory is counted and pooled like every other workspace). cufft.h stays in
// fft_plans.cc.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "../core/backend.h"
#include "kernels.h"

namespace nf::cuda {

class FftPlans {
 public:
  FftPlans() = default;
  ~FftPlans();
  FftPlans(const FftPlans&) = delete;
  FftPlans& operator=(const FftPlans&) = delete;

  // spectrum (float2 [batch, rows, len / 2 + 1]) = the half spectrum of real (float32
  // [batch, rows, len]), enqueued on `stream`, in chunks of batch that keep cuFFT's int sizes
  // in range. Making a plan allocates, which a CUDA graph capture cannot record: a shape not
  // yet planned is refused while `capturing`.
  void real_to_complex(const std::shared_ptr<Backend>& backend, const FftShape& s, float* real, void* spectrum, cudaStream_t stream,
                       bool capturing);

 private:
  struct Plan {
    int64_t rows, len, batch;
    int handle;  // a cufftHandle
    size_t work_bytes;
  };
  const Plan& plan_for(int64_t rows, int64_t len, int64_t batch, cudaStream_t stream, bool capturing);

  std::mutex mutex_;
  std::vector<Plan> plans_;  // the most recently used last
};

}  // namespace nf::cuda
