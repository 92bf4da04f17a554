// A kernel that only waits: one thread reads the GPU's global timer until `microseconds`
// have passed. The cuBLASLt planner (cublaslt.cc) enqueues it before it times a
// candidate's GPU time, so that the runs it issues meanwhile queue up behind it and then
// execute back to back: the events around them see the GPU's time, not the host's.
#include "check.h"
#include "kernels.h"

namespace nf::cuda {
namespace {

__global__ void spin_kernel(long long nanoseconds) {
  long long start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < nanoseconds);
}

}  // namespace

void launch_spin(double microseconds, cudaStream_t stream) {
  spin_kernel<<<1, 1, 0, stream>>>(static_cast<long long>(microseconds * 1e3));
  NF_CHECK_LAUNCH("spin");
}

}  // namespace nf::cuda
