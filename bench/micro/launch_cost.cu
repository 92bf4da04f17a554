// What the CUDA runtime's own calls cost the host, on the backend's kind of stream (created
// non-blocking): the floor under an eager op's host time (issue 3: a small op is bound by
// the host). Each figure is the host's time per call over batches of 256 calls (each batch
// then waited for, outside the timing, so no launch waits on a full queue), the median
// of 41 batches after a warm-up, in microseconds.
//   setDevice     cudaSetDevice(0) while device 0 is current (every backend call makes it so)
//   getDevice     cudaGetDevice
//   lastError     cudaGetLastError (after every launch)
//   launch 16 B   an empty kernel, 1 block of 32 threads, 16 bytes of parameters
//   ... s0, pt    the same on the legacy default stream and on the per-thread default stream
//   launch 512 B  an empty kernel, 99 blocks of 128 threads, a 512-byte parameter struct
//                 (about what the softmax and norm kernels take)
//   malloc+free   cudaMallocAsync + cudaFreeAsync of 2.4 MB from the device's default pool
// Usage: build/launch_cost   (nvcc -O3 -std=c++17 -arch=sm_90a bench/micro/launch_cost.cu)
#include <chrono>

#include "micro.cuh"

namespace {

struct Params512 {
  char bytes[512];
};

__global__ void empty_small(const float* x, float* y) {
  if (x == y && threadIdx.x == 1023) y[0] = 0.f;
}

__global__ void empty_large(Params512 p) {
  if (p.bytes[threadIdx.x & 511] == 17 && blockIdx.x == 1u << 30) asm volatile("trap;");
}

template <typename F>
double host_us(cudaStream_t stream, F&& call) {
  constexpr int kBatch = 256;
  std::vector<double> batches;
  for (int b = 0; b < 45; ++b) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kBatch; ++i) call();
    const auto t1 = std::chrono::steady_clock::now();
    CHECK(cudaDeviceSynchronize());
    if (b >= 4) batches.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / kBatch);
  }
  std::sort(batches.begin(), batches.end());
  return batches[batches.size() / 2];
}

}  // namespace

int main() {
  CHECK(cudaSetDevice(0));
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  Params512 p{};
  int device = -1;
  void* ptr = nullptr;
  std::printf("%s\n", device_name().c_str());
  const auto row = [](const char* what, double us) { std::printf("%-14s %6.3f us a call\n", what, us); };
  row("setDevice", host_us(stream, [&] { CHECK(cudaSetDevice(0)); }));
  row("getDevice", host_us(stream, [&] { CHECK(cudaGetDevice(&device)); }));
  row("lastError", host_us(stream, [&] { CHECK(cudaGetLastError()); }));
  row("launch 16 B", host_us(stream, [&] { empty_small<<<1, 32, 0, stream>>>(nullptr, nullptr); }));
  row("launch 16 B s0", host_us(stream, [&] { empty_small<<<1, 32, 0, cudaStreamLegacy>>>(nullptr, nullptr); }));
  row("launch 16 B pt", host_us(stream, [&] { empty_small<<<1, 32, 0, cudaStreamPerThread>>>(nullptr, nullptr); }));
  row("launch 512 B", host_us(stream, [&] { empty_large<<<99, 128, 0, stream>>>(p); }));
  row("launch+check", host_us(stream, [&] {
    CHECK(cudaSetDevice(0));
    empty_large<<<99, 128, 0, stream>>>(p);
    CHECK(cudaGetLastError());
  }));
  row("malloc+free", host_us(stream, [&] {
    CHECK(cudaMallocAsync(&ptr, 12608 * 96 * 2, stream));
    CHECK(cudaFreeAsync(ptr, stream));
  }));
  CHECK(cudaStreamDestroy(stream));
  return 0;
}
