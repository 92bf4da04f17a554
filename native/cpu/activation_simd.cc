// activate_row (activation_simd.h). GELU(x) = x Phi(x) = x erfc(-x / sqrt 2) / 2, with
// erfc(z) for z = |x| / sqrt 2 by the Chebyshev fit of Numerical Recipes' erfcc (relative
// error under 1.2e-7 for every z >= 0): t = 1 / (1 + z / 2), erfc(z) = t exp(-z^2 + P(t)).
// Taking the tail directly keeps its relative accuracy where x < 0 (1 + erff(x / sqrt 2)
// cancels there), and x (2 - tail) / 2 where x >= 0: under 1e-6 relative to float64 wherever
// GELU is a normal float32 (test/cpu_activation.test.ts).
#include "activation_simd.h"

#include "../core/activation.h"
#include "simd_math.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NF_ACTIVATION_X86 1
#endif

namespace nf::cpu {
namespace {

#ifdef NF_ACTIVATION_X86
// erfc(|v| / sqrt 2) of 8 values, and exp(-v^2 / 2) in `gauss` (for GELU's derivative).
__attribute__((target("avx2,fma"))) inline __m256 erfc_tail(__m256 v, __m256* gauss) {
  constexpr float kP[10] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                            -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f};
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.f);
  const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), v), _mm256_set1_ps(0.70710678118654752f));
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(half, z, one));
  __m256 poly = _mm256_set1_ps(kP[0]);
  for (int c = 1; c < 10; ++c) poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(kP[c]));
  // z^2 = x^2 / 2 as hi + lo exactly: exp(-hi / 2) of a float's half stays exact in its argument,
  // where rounding -z^2 + P(t) to one float would cost 1e-5 of the result at x = -13.
  const __m256 hi = _mm256_mul_ps(v, v), lo = _mm256_fmsub_ps(v, v, hi);
  const __m256 big = exp256(_mm256_mul_ps(_mm256_set1_ps(-0.5f), hi));
  const __m256 small = exp256(_mm256_fnmadd_ps(half, lo, poly));
  *gauss = _mm256_mul_ps(big, _mm256_fnmadd_ps(half, lo, one));  // exp(-lo / 2) ~ 1 - lo / 2: |lo| < 1e-5
  return _mm256_mul_ps(_mm256_mul_ps(t, big), small);
}

// GELU of 8 values.
__attribute__((target("avx2,fma"))) inline __m256 gelu8(__m256 v) {
  __m256 gauss;
  const __m256 tail = erfc_tail(v, &gauss);
  const __m256 negative = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.f), tail), tail, negative));
}

// GELU's derivative Phi(v) + v phi(v) of 8 values, Phi from the tail as GELU takes it.
__attribute__((target("avx2,fma"))) inline __m256 gelu_grad8(__m256 v) {
  __m256 gauss;
  const __m256 half_tail = _mm256_mul_ps(_mm256_set1_ps(0.5f), erfc_tail(v, &gauss));
  const __m256 negative = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 cdf = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.f), half_tail), half_tail, negative);
  return _mm256_fmadd_ps(v, _mm256_mul_ps(_mm256_set1_ps(0.39894228040143268f), gauss), cdf);
}

__attribute__((target("avx2,fma"))) void gelu_backward_avx2(const float* x, const float* bias, const float* dy, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), gelu_grad8(v)));
  }
  if (i < n) {
    alignas(32) float v[8] = {}, g[8] = {};
    for (int64_t r = i; r < n; ++r) v[r - i] = x[r] + (bias ? bias[r] : 0.f), g[r - i] = dy[r];
    _mm256_store_ps(v, _mm256_mul_ps(_mm256_load_ps(g), gelu_grad8(_mm256_load_ps(v))));
    for (int64_t r = i; r < n; ++r) dx[r] = v[r - i];
  }
}

__attribute__((target("avx2,fma"))) void gelu_avx2(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float rest[8] = {};
    for (int64_t r = i; r < n; ++r) rest[r - i] = x[r];
    _mm256_store_ps(rest, gelu8(_mm256_load_ps(rest)));
    for (int64_t r = i; r < n; ++r) x[r] = rest[r - i];
  }
}

#endif

}  // namespace

void gelu_backward_row(const float* x, const float* bias, const float* dy, float* dx, int64_t n) {
#ifdef NF_ACTIVATION_X86
  gelu_backward_avx2(x, bias, dy, dx, n);
#else
  (void)x, (void)bias, (void)dy, (void)dx, (void)n;
#endif
}

void activate_row(float* x, int64_t n, const ActivationSpec& a) {
  if (a.kind == Activation::None) return;
#ifdef NF_ACTIVATION_X86
  if (a.kind == Activation::GELU && cpu_has_avx2_fma()) return gelu_avx2(x, n);
#endif
  for (int64_t i = 0; i < n; ++i) x[i] = apply_activation(x[i], a);
}

}  // namespace nf::cpu
