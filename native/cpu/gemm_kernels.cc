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
// 6 x 16 over kc into twelve ymm accumulators (row r in c[2r], c[2r + 1]): per k two B loads
// and one broadcast per row, 15 of 16 registers. A is a packed panel (a[k * 6 + r]) or, with
// kRowsA, six rows of a row-major matrix (a[r * lda + k]), read where they lie.
template <bool kRowsA>
__attribute__((target("avx2,fma"), always_inline)) inline void product_avx2(int64_t kc, const float* a, int64_t lda, const float* b, __m256 (&c)[12]) {
  for (int i = 0; i < 12; ++i) c[i] = _mm256_setzero_ps();
  const float* a0 = a;
  const float* a1 = a + lda;
  const float* a2 = a + 2 * lda;
  const float* a3 = a + 3 * lda;
  const float* a4 = a + 4 * lda;
  const float* a5 = a + 5 * lda;
  for (int64_t k = 0; k < kc; ++k, b += 16) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    const int64_t o = kRowsA ? k : k * kMR;
    __m256 x = _mm256_broadcast_ss(kRowsA ? a0 + o : a + o);
    c[0] = _mm256_fmadd_ps(x, b0, c[0]), c[1] = _mm256_fmadd_ps(x, b1, c[1]);
    x = _mm256_broadcast_ss(kRowsA ? a1 + o : a + o + 1);
    c[2] = _mm256_fmadd_ps(x, b0, c[2]), c[3] = _mm256_fmadd_ps(x, b1, c[3]);
    x = _mm256_broadcast_ss(kRowsA ? a2 + o : a + o + 2);
    c[4] = _mm256_fmadd_ps(x, b0, c[4]), c[5] = _mm256_fmadd_ps(x, b1, c[5]);
    x = _mm256_broadcast_ss(kRowsA ? a3 + o : a + o + 3);
    c[6] = _mm256_fmadd_ps(x, b0, c[6]), c[7] = _mm256_fmadd_ps(x, b1, c[7]);
    x = _mm256_broadcast_ss(kRowsA ? a4 + o : a + o + 4);
    c[8] = _mm256_fmadd_ps(x, b0, c[8]), c[9] = _mm256_fmadd_ps(x, b1, c[9]);
    x = _mm256_broadcast_ss(kRowsA ? a5 + o : a + o + 5);
    c[10] = _mm256_fmadd_ps(x, b0, c[10]), c[11] = _mm256_fmadd_ps(x, b1, c[11]);
  }
}

__attribute__((target("avx2,fma"), always_inline)) inline void store_tile_avx2(const __m256 (&c)[12], float* tile) {
  // Written out: a loop over c kept the accumulators on the stack inside the k loop (GCC 12).
  _mm256_store_ps(tile, c[0]), _mm256_store_ps(tile + 8, c[1]), _mm256_store_ps(tile + 16, c[2]), _mm256_store_ps(tile + 24, c[3]);
  _mm256_store_ps(tile + 32, c[4]), _mm256_store_ps(tile + 40, c[5]), _mm256_store_ps(tile + 48, c[6]), _mm256_store_ps(tile + 56, c[7]);
  _mm256_store_ps(tile + 64, c[8]), _mm256_store_ps(tile + 72, c[9]), _mm256_store_ps(tile + 80, c[10]), _mm256_store_ps(tile + 88, c[11]);
}

// One row of the epilogue (TileEpilogue): row r of C from its two accumulators.
__attribute__((target("avx2,fma"), always_inline)) inline void store_row_avx2(const TileEpilogue& e, float* c, int r, __m256 alpha, __m256 bias0,
                                                                              __m256 bias1, __m256 acc0, __m256 acc1) {
  float* cr = c + r * e.ldc;
  __m256 v0, v1;
  if (e.first) {
    v0 = _mm256_fmadd_ps(alpha, acc0, bias0), v1 = _mm256_fmadd_ps(alpha, acc1, bias1);
    if (e.residual) {
      const float* rr = e.residual + r * e.ldc;
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(rr)), v1 = _mm256_add_ps(v1, _mm256_loadu_ps(rr + 8));
    }
  } else {
    v0 = _mm256_fmadd_ps(alpha, acc0, _mm256_loadu_ps(cr)), v1 = _mm256_fmadd_ps(alpha, acc1, _mm256_loadu_ps(cr + 8));
  }
  _mm256_storeu_ps(cr, v0);
  _mm256_storeu_ps(cr + 8, v1);
}

__attribute__((target("avx2,fma"), always_inline)) inline void store_c_avx2(const __m256 (&acc)[12], float* c, const TileEpilogue& e) {
  const __m256 alpha = _mm256_set1_ps(e.alpha), zero = _mm256_setzero_ps();
  const __m256 bias0 = e.bias ? _mm256_loadu_ps(e.bias) : zero, bias1 = e.bias ? _mm256_loadu_ps(e.bias + 8) : zero;
  store_row_avx2(e, c, 0, alpha, bias0, bias1, acc[0], acc[1]);
  store_row_avx2(e, c, 1, alpha, bias0, bias1, acc[2], acc[3]);
  store_row_avx2(e, c, 2, alpha, bias0, bias1, acc[4], acc[5]);
  store_row_avx2(e, c, 3, alpha, bias0, bias1, acc[6], acc[7]);
  store_row_avx2(e, c, 4, alpha, bias0, bias1, acc[8], acc[9]);
  store_row_avx2(e, c, 5, alpha, bias0, bias1, acc[10], acc[11]);
}

__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* a, const float* b, float* tile) {
  __m256 acc[12];
  product_avx2<false>(kc, a, 0, b, acc);
  store_tile_avx2(acc, tile);
}

__attribute__((target("avx2,fma"))) void kernel_avx2_c(int64_t kc, const float* a, const float* b, float* c, const TileEpilogue& e) {
  __m256 acc[12];
  product_avx2<false>(kc, a, 0, b, acc);
  store_c_avx2(acc, c, e);
}

__attribute__((target("avx2,fma"))) void kernel_avx2_rows(int64_t kc, const float* a, int64_t lda, const float* b, float* tile) {
  __m256 acc[12];
  product_avx2<true>(kc, a, lda, b, acc);
  store_tile_avx2(acc, tile);
}

__attribute__((target("avx2,fma"))) void kernel_avx2_rows_c(int64_t kc, const float* a, int64_t lda, const float* b, float* c, const TileEpilogue& e) {
  __m256 acc[12];
  product_avx2<true>(kc, a, lda, b, acc);
  store_c_avx2(acc, c, e);
}

// 6 x 32 in zmm: the AVX2 kernel's shape at twice the width (used only where the CPU has it),
// over a packed A panel.
__attribute__((target("avx512f"), always_inline)) inline void product_avx512(int64_t kc, const float* a, const float* b, __m512 (&c)[kMR][2]) {
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
}

__attribute__((target("avx512f"))) void kernel_avx512(int64_t kc, const float* a, const float* b, float* tile) {
  __m512 c[kMR][2];
  product_avx512(kc, a, b, c);
  for (int r = 0; r < kMR; ++r) {
    _mm512_store_ps(tile + r * 32, c[r][0]);
    _mm512_store_ps(tile + r * 32 + 16, c[r][1]);
  }
}

// The product with the epilogue applied to the accumulators and stored into C.
__attribute__((target("avx512f"))) void kernel_avx512_c(int64_t kc, const float* a, const float* b, float* c, const TileEpilogue& e) {
  __m512 acc[kMR][2];
  product_avx512(kc, a, b, acc);
  const __m512 alpha = _mm512_set1_ps(e.alpha);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 bias0 = e.bias ? _mm512_loadu_ps(e.bias) : zero, bias1 = e.bias ? _mm512_loadu_ps(e.bias + 16) : zero;
  for (int r = 0; r < kMR; ++r) {
    float* cr = c + r * e.ldc;
    __m512 v0, v1;
    if (e.first) {
      v0 = _mm512_fmadd_ps(alpha, acc[r][0], bias0), v1 = _mm512_fmadd_ps(alpha, acc[r][1], bias1);
      if (e.residual) {
        const float* rr = e.residual + r * e.ldc;
        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(rr)), v1 = _mm512_add_ps(v1, _mm512_loadu_ps(rr + 16));
      }
    } else {
      v0 = _mm512_fmadd_ps(alpha, acc[r][0], _mm512_loadu_ps(cr)), v1 = _mm512_fmadd_ps(alpha, acc[r][1], _mm512_loadu_ps(cr + 16));
    }
    _mm512_storeu_ps(cr, v0);
    _mm512_storeu_ps(cr + 16, v1);
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
  static const GemmKernel k{"scalar", kMR, kScalarNR, kernel_scalar, nullptr, nullptr, nullptr};
  return k;
}

const GemmKernel* gemm_kernel_avx2() {
#ifdef NF_GEMM_X86
  static const GemmKernel k{"avx2", kMR, 16, kernel_avx2, kernel_avx2_c, kernel_avx2_rows, kernel_avx2_rows_c};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &k;
#endif
  return nullptr;
}

const GemmKernel* gemm_kernel_avx512() {
#ifdef NF_GEMM_X86
  static const GemmKernel k{"avx512", kMR, 32, kernel_avx512, kernel_avx512_c, nullptr, nullptr};
  if (__builtin_cpu_supports("avx512f")) return &k;
#endif
  return nullptr;
}

const GemmKernel* gemm_kernel_neon() {
#if defined(__aarch64__)
  static const GemmKernel k{"neon", kMR, 8, kernel_neon, nullptr, nullptr, nullptr};
  return &k;
#else
  return nullptr;
#endif
}

}  // namespace nf::cpu
