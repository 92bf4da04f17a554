// Every CUDA and cuBLASLt call goes through these: a failure becomes an nf::Error with the
// call, the file and line, and CUDA's own message, and the sticky error state is cleared.
#pragma once
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "../core/error.h"

namespace nf::cuda {

[[noreturn]] inline void throw_cuda(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  const ErrorCode code = err == cudaErrorMemoryAllocation ? ErrorCode::CudaOom : ErrorCode::Cuda;
  throw Error(code, std::string(what) + " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ") at " +
                        file + ":" + std::to_string(line));
}

// After a kernel launch: reports a bad launch configuration at once, naming the kernel.
inline void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw_cuda(err, kernel, file, line);
}

}  // namespace nf::cuda

#define NF_CUDA_CHECK(expr)                                                          \
  do {                                                                               \
    const cudaError_t nf_err_ = (expr);                                              \
    if (nf_err_ != cudaSuccess) ::nf::cuda::throw_cuda(nf_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define NF_CHECK_LAUNCH(kernel) ::nf::cuda::check_launch(kernel, __FILE__, __LINE__)

namespace nf::cuda {

// Whether environment variable `name` is set to `value` (env_flag: to "1"): the switches of
// experiments and of the sanitizer runs. Callers keep the answer in a function-local static
// (one read a process).
inline bool env_is(const char* name, const char* value) {
  const char* e = std::getenv(name);
  return e != nullptr && std::strcmp(e, value) == 0;
}
inline bool env_flag(const char* name) { return env_is(name, "1"); }

// An event made on the current device (without timing unless `flags` asks), destroyed with
// its scope (after the work it marks, if still pending: the driver keeps it until then).
struct ScopedEvent {
  cudaEvent_t event = nullptr;
  explicit ScopedEvent(unsigned flags = cudaEventDisableTiming) { NF_CUDA_CHECK(cudaEventCreateWithFlags(&event, flags)); }
  ~ScopedEvent() { cudaEventDestroy(event); }
  ScopedEvent(const ScopedEvent&) = delete;
  ScopedEvent& operator=(const ScopedEvent&) = delete;
};

}  // namespace nf::cuda
