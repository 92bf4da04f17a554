// norm_rows_simd (norm_simd.h): per row, the mean (summed in double), then in float32 vectors the
// sum of squared deviations from it (no cancellation, as the plain kernel's float64 sums
// would give within float32's rounding), then out = (x - mean) * inv * weight + bias.
#include "norm_simd.h"

#include <cmath>

#include "simd_math.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NF_NORM_X86 1
#endif

namespace nf::cpu {

#ifdef NF_NORM_X86
namespace {

// The sum of f(x[c]) over a row: two vector accumulators, then the tail's lanes alone.
template <typename F>
__attribute__((target("avx2,fma"))) inline float row_sum(const float* x, int64_t n, F f) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    a0 = _mm256_add_ps(a0, f(_mm256_loadu_ps(x + c)));
    a1 = _mm256_add_ps(a1, f(_mm256_loadu_ps(x + c + 8)));
  }
  for (; c + 8 <= n; c += 8) a0 = _mm256_add_ps(a0, f(_mm256_loadu_ps(x + c)));
  float s = hsum(_mm256_add_ps(a0, a1));
  if (c < n) {
    alignas(32) float rest[8] = {};
    const int64_t tail = n - c;
    for (int64_t i = 0; i < tail; ++i) rest[i] = x[c + i];
    alignas(32) float out[8];
    _mm256_store_ps(out, f(_mm256_load_ps(rest)));
    for (int64_t i = 0; i < tail; ++i) s += out[i];
  }
  return s;
}

// What row_sum adds per element: v^2 (RMSNorm), (v - m)^2 (LayerNorm's variance). Functors
// with the target on their call operator: lambdas taking __m256 drew GCC's -Wpsabi.
struct Square {
  __attribute__((target("avx2,fma"))) __m256 operator()(__m256 v) const { return _mm256_mul_ps(v, v); }
};
struct SquaredDeviation {
  __m256 m;
  __attribute__((target("avx2,fma"))) __m256 operator()(__m256 v) const {
    const __m256 d = _mm256_sub_ps(v, m);
    return _mm256_mul_ps(d, d);
  }
};

// The row's sum in double, 4 lanes at a time in two accumulators, then the tail in order.
__attribute__((target("avx2,fma"))) double row_sum_double(const float* x, int64_t n) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    const __m256 v = _mm256_loadu_ps(x + c);
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(a0, a1));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; c < n; ++c) sum += x[c];
  return sum;
}

__attribute__((target("avx2,fma"))) void rows_avx2(const NormParams& p, int64_t r0, int64_t r1) {
  const int64_t cols = p.x.cols();
  const float* w = static_cast<const float*>(p.weight);
  const float* b = static_cast<const float*>(p.bias);
  for (int64_t r = r0; r < r1; ++r) {
    const float* x = static_cast<const float*>(p.x.data) + r * cols;
    float* out = static_cast<float*>(p.out.data) + r * cols;
    float mean = 0.f, var;
    if (p.rms) {
      var = row_sum(x, cols, Square{}) / cols;
    } else {
      // In double: a float32 sum of 4099 values near 100 cost 1e-5 of the result.
      mean = static_cast<float>(row_sum_double(x, cols) / cols);
      var = row_sum(x, cols, SquaredDeviation{_mm256_set1_ps(mean)}) / cols;
    }
    const float inv = 1.f / std::sqrt(var + p.eps);
    const __m256 m = _mm256_set1_ps(mean), s = _mm256_set1_ps(inv);
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), m), s);
      if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + c));
      if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + c));
      _mm256_storeu_ps(out + c, v);
    }
    for (; c < cols; ++c) {
      float v = (x[c] - mean) * inv;
      if (w) v *= w[c];
      if (b) v += b[c];
      out[c] = v;
    }
  }
}

}  // namespace

bool norm_simd_serves(const NormParams& p) {
  return cpu_has_avx2_fma() && p.x.dtype == DType::Float32 && p.out.dtype == DType::Float32;
}

void norm_rows_simd(const NormParams& p, int64_t r0, int64_t r1) { rows_avx2(p, r0, r1); }

#else
bool norm_simd_serves(const NormParams&) { return false; }
void norm_rows_simd(const NormParams&, int64_t, int64_t) {}
#endif

}  // namespace nf::cpu
