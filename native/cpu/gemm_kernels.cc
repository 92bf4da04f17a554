// GEMM micro-kernels, one per ISA, each an MR x NR block of C kept in registers while a
// packed A panel (MR rows) and B panel (NR columns) stream through k: per k, NR/width vector
// loads of B, MR broadcasts of A and MR * NR/width FMAs. x86 kernels are compiled with
// target attributes, so one build serves every x86-64 CPU; gemm.cc picks one at run time.
#include <cstring>

#include "gemm.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NF_GEMM_X86 1
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace nf::cpu {
namespace {

constexpr int kMR = 6;

// Portable: the compiler vectorizes the inner loop for the baseline ISA (SSE2 on x86-64).
constexpr int kScalarNR = 16;
void kernel_scalar(int64_t kc, const float* a, const float* b, float* tile) {
  float acc[kMR][kScalarNR] = {};
  for (int64_t k = 0; k < kc; ++k, a += kMR, b += kScalarNR)
    for (int r = 0; r < kMR; ++r)
      for (int c = 0; c < kScalarNR; ++c) acc[r][c] += a[r] * b[c];
  std::memcpy(tile, acc, sizeof(acc));
}

#ifdef NF_GEMM_X86
// 6 x 16: twelve ymm accumulators, two B loads and one broadcast per row: 15 of 16 registers.
__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* a, const float* b, float* tile) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; ++k, a += kMR, b += 16) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 x = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(x, b0, c00), c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(x, b0, c10), c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(x, b0, c20), c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(x, b0, c30), c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(x, b0, c40), c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(x, b0, c50), c51 = _mm256_fmadd_ps(x, b1, c51);
  }
  const __m256 rows[kMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int r = 0; r < kMR; ++r) {
    _mm256_store_ps(tile + r * 16, rows[r][0]);
    _mm256_store_ps(tile + r * 16 + 8, rows[r][1]);
  }
}

// 6 x 32 in zmm: the AVX2 kernel's shape at twice the width (used only where the CPU has it).
__attribute__((target("avx512f"))) void kernel_avx512(int64_t kc, const float* a, const float* b, float* tile) {
  __m512 c[kMR][2];
  for (int r = 0; r < kMR; ++r) c[r][0] = c[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, a += kMR, b += 32) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 6
    for (int r = 0; r < kMR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r]);
      c[r][0] = _mm512_fmadd_ps(x, b0, c[r][0]);
      c[r][1] = _mm512_fmadd_ps(x, b1, c[r][1]);
    }
  }
  for (int r = 0; r < kMR; ++r) {
    _mm512_store_ps(tile + r * 32, c[r][0]);
    _mm512_store_ps(tile + r * 32 + 16, c[r][1]);
  }
}
#endif

#if defined(__aarch64__)
// 6 x 8 in NEON q registers: twelve accumulators, two B loads, lane-indexed FMAs from A.
void kernel_neon(int64_t kc, const float* a, const float* b, float* tile) {
  float32x4_t c[kMR][2];
  for (int r = 0; r < kMR; ++r) c[r][0] = c[r][1] = vdupq_n_f32(0.f);
  for (int64_t k = 0; k < kc; ++k, a += kMR, b += 8) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
    for (int r = 0; r < kMR; ++r) {
      c[r][0] = vfmaq_n_f32(c[r][0], b0, a[r]);
      c[r][1] = vfmaq_n_f32(c[r][1], b1, a[r]);
    }
  }
  for (int r = 0; r < kMR; ++r) {
    vst1q_f32(tile + r * 8, c[r][0]);
    vst1q_f32(tile + r * 8 + 4, c[r][1]);
  }
}
#endif

}  // namespace

const GemmKernel& gemm_kernel_scalar() {
  static const GemmKernel k{"scalar", kMR, kScalarNR, kernel_scalar};
  return k;
}

const GemmKernel* gemm_kernel_avx2() {
#ifdef NF_GEMM_X86
  static const GemmKernel k{"avx2", kMR, 16, kernel_avx2};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &k;
#endif
  return nullptr;
}

const GemmKernel* gemm_kernel_avx512() {
#ifdef NF_GEMM_X86
  static const GemmKernel k{"avx512", kMR, 32, kernel_avx512};
  if (__builtin_cpu_supports("avx512f")) return &k;
#endif
  return nullptr;
}

const GemmKernel* gemm_kernel_neon() {
#if defined(__aarch64__)
  static const GemmKernel k{"neon", kMR, 8, kernel_neon};
  return &k;
#else
  return nullptr;
#endif
}

}  // namespace nf::cpu
