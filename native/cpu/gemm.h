// The CPU backend's float32 GEMM (GemmParams' contract, core/ops.h): packed panels, cache
// blocking, a micro-kernel per ISA chosen at run time, the epilogue fused, threaded.
#pragma once
#include <cstdint>

#include "../core/ops.h"

namespace nf::cpu {

// An MR x NR micro-kernel: tile[r * nr + c] = sum_k a[k * mr + r] * b[k * nr + c] over kc,
// from an A panel packed k-major by MR rows and a B panel packed k-major by NR columns.
// What run_c does with a full MR x NR tile of C at c (row stride ldc): the first K slice
// writes alpha * acc + bias[col] + residual (C's layout; either may be null), a later slice
// adds alpha * acc to C.
struct TileEpilogue {
  float alpha;
  const float* bias;
  const float* residual;
  int64_t ldc;
  bool first;
};

struct GemmKernel {
  const char* name;
  int mr, nr;
  void (*run)(int64_t kc, const float* a, const float* b, float* tile);
  // The same product stored into C from the registers (no tile round trip); null: run + merge.
  void (*run_c)(int64_t kc, const float* a, const float* b, float* c, const TileEpilogue& e);
  // run and run_c with A's MR rows read where they lie (a[r * lda + k]), unpacked; null: pack.
  void (*run_rows)(int64_t kc, const float* a, int64_t lda, const float* b, float* tile);
  void (*run_rows_c)(int64_t kc, const float* a, int64_t lda, const float* b, float* c, const TileEpilogue& e);
};

// The micro-kernels this build has for this CPU ("avx512", "avx2", "neon", "scalar").
const GemmKernel* gemm_kernel_avx512();  // null where not compiled or not supported
const GemmKernel* gemm_kernel_avx2();
const GemmKernel* gemm_kernel_neon();
const GemmKernel& gemm_kernel_scalar();

// The kernel in use: the best the CPU has, or NODEFORMERS_CPU_GEMM's choice ("reference" for
// the plain loops of cpu_backend.cc, or a kernel name), or set_gemm_kernel's (tests).
// Null means the reference path.
const GemmKernel* active_gemm_kernel();
// Selects by name ("best", "reference" or a kernel name); false when this CPU lacks it.
bool set_gemm_kernel(const char* name);
const char* gemm_kernel_name();

// C = act(alpha * op(A) @ op(B) + bias + R) for float32 params, with `kernel`.
void gemm_f32(const GemmParams& p, const GemmKernel& kernel);

}  // namespace nf::cpu
