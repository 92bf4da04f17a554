// The machine's float32 FMA peak: each thread runs 12 independent chains of 8-wide FMAs
// (enough to cover FMA latency on both pipes), and the best of several rounds is reported
// as GFLOP/s (2 flops per lane per FMA). Build and run (bench/cpu/README in BENCHMARKS.md):
//   g++ -O3 -mavx2 -mfma -pthread bench/cpu/fma_peak.cc -o /tmp/fma_peak && /tmp/fma_peak [threads]
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

static float chains(long iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long n = 0; n < iters; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const long iters = 100000000 / 12;
  double best = 0;
  for (int round = 0; round < 7; ++round) {
    std::vector<std::thread> ts;
    std::vector<float> sink(threads);
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] { sink[t] = chains(iters); });
    for (auto& t : ts) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gflops = threads * iters * 12.0 * 16.0 / s / 1e9;
    std::printf("round %d: %.1f GFLOP/s (%d threads, sink %g)\n", round, gflops, threads, sink[0]);
    if (gflops > best) best = gflops;
  }
  std::printf("peak %.1f GFLOP/s with %d threads\n", best, threads);
}
