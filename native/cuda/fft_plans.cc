// fft_plans.h: cuFFT's plan, work area and execution calls, each checked.
#include "fft_plans.h"

#include <cufft.h>

#include <algorithm>
#include <climits>
#include <string>
#include <type_traits>

#include "check.h"

namespace nf::cuda {
namespace {

static_assert(std::is_same_v<cufftHandle, int>, "FftPlans keeps cufftHandle as an int");
static_assert(sizeof(cufftComplex) == 8, "the spectrum is read as float2");

// Enough for a model's few shapes (its batch and a last, smaller one) without growing.
constexpr size_t kMaxPlans = 8;

void check_cufft(cufftResult r, const char* call) {
  if (r == CUFFT_SUCCESS) return;
  cudaGetLastError();  // clear what a failed launch left
  const ErrorCode code = r == CUFFT_ALLOC_FAILED ? ErrorCode::CudaOom : ErrorCode::Cuda;
  throw Error(code, std::string("fourier_mix: ") + call + " failed with cuFFT status " + std::to_string(static_cast<int>(r)));
}

}  // namespace

FftPlans::~FftPlans() {
  for (const Plan& p : plans_) cufftDestroy(p.handle);
}

const FftPlans::Plan& FftPlans::plan_for(int64_t rows, int64_t len, int64_t batch, cudaStream_t stream, bool capturing) {
  auto hit = std::find_if(plans_.begin(), plans_.end(), [&](const Plan& p) { return p.rows == rows && p.len == len && p.batch == batch; });
  if (hit != plans_.end()) {
    std::rotate(hit, hit + 1, plans_.end());  // now the most recently used
    return plans_.back();
  }
  if (capturing) {
    throw_invalid("fourier_mix: its cuFFT plan for this shape is made on first use, which a CUDA graph capture cannot record; "
                  "run the op once on this shape before capturing");
  }
  if (plans_.size() == kMaxPlans) {
    NF_CUDA_CHECK(cudaStreamSynchronize(stream));  // the oldest plan may still be running
    cufftDestroy(plans_.front().handle);
    plans_.erase(plans_.begin());
  }
  Plan plan{rows, len, batch, 0, 0};
  check_cufft(cufftCreate(&plan.handle), "cufftCreate");
  int n[2] = {static_cast<int>(rows), static_cast<int>(len)};
  const int rank = rows == 1 ? 1 : 2;
  size_t work = 0;
  cufftResult r = cufftSetAutoAllocation(plan.handle, 0);
  if (r == CUFFT_SUCCESS) {
    r = cufftMakePlanMany(plan.handle, rank, rank == 1 ? n + 1 : n, nullptr, 1, 0, nullptr, 1, 0, CUFFT_R2C, static_cast<int>(batch), &work);
  }
  if (r != CUFFT_SUCCESS) {
    cufftDestroy(plan.handle);
    check_cufft(r, "cufftMakePlanMany");
  }
  plan.work_bytes = work;
  plans_.push_back(plan);
  return plans_.back();
}

void FftPlans::real_to_complex(const std::shared_ptr<Backend>& backend, const FftShape& s, float* real, void* spectrum, cudaStream_t stream,
                               bool capturing) {
  const int64_t per = s.rows * s.len, half = s.rows * (s.len / 2 + 1);
  if (s.rows > INT_MAX || s.len > INT_MAX || per > INT_MAX) throw_invalid("fourier_mix: N * E of 2^31 or more is not supported on CUDA");
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(s.batch, INT_MAX / per));
  std::lock_guard<std::mutex> lock(mutex_);
  for (int64_t b0 = 0; b0 < s.batch; b0 += chunk) {
    const int64_t n = std::min(chunk, s.batch - b0);
    const Plan& plan = plan_for(s.rows, s.len, n, stream, capturing);
    Buffer work(backend, plan.work_bytes);  // freed stream-ordered, after the transform that uses it
    check_cufft(cufftSetStream(plan.handle, stream), "cufftSetStream");
    if (plan.work_bytes > 0) check_cufft(cufftSetWorkArea(plan.handle, work.data()), "cufftSetWorkArea");
    check_cufft(cufftExecR2C(plan.handle, real + b0 * per, static_cast<cufftComplex*>(spectrum) + b0 * half), "cufftExecR2C");
  }
}

}  // namespace nf::cuda
