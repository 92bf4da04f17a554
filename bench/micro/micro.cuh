// What the micro-benchmarks under bench/micro share: CHECK (a failed CUDA call prints itself
// and exits), median_us (CUDA-event timing of back-to-back launches on the default stream)
// and device_name.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define CHECK(call)                                                                     \
  do {                                                                                  \
    const cudaError_t e = (call);                                                       \
    if (e != cudaSuccess) {                                                             \
      std::fprintf(stderr, "%s: %s (line %d)\n", #call, cudaGetErrorString(e), __LINE__); \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

// Median of 11 timings of 50 back-to-back launches (after 20 to warm up), in microseconds
// per launch.
template <typename F>
double median_us(F&& launch) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 20; ++i) launch();
  std::vector<double> times;
  for (int r = 0; r < 11; ++r) {
    CHECK(cudaEventRecord(a));
    for (int i = 0; i < 50; ++i) launch();
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    float ms = 0.f;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    times.push_back(ms * 1e3 / 50);
  }
  std::sort(times.begin(), times.end());
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  return times[times.size() / 2];
}

// Device 0's name, for the first line a micro-benchmark prints.
inline std::string device_name() {
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  return prop.name;
}
