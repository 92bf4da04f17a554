// cuBLASLt GEMMs for GemmParams. Our matrices are row-major and cuBLASLt's column-major, so
// C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: the row-major [m, n] output is the
// column-major [n, m] matrix with the same leading dimension, and likewise for A and B.
// The bias is then a vector along the rows of C^T, which is what cuBLASLt's bias epilogue
// adds. GELU (tanh) and ReLU fuse as epilogues; other activations are left to the caller.
// A residual is cuBLASLt's C input with beta = 1 (D = alpha A B + C + bias, D our output),
// in place when it is the output itself.
#include "cublaslt.h"

#include <cublasLt.h>

#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "check.h"
#include "cuda_backend.h"

namespace nf::cuda {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;  // what cuBLASLt suggests for Hopper

void check_lt(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  const ErrorCode code = status == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::CudaOom : ErrorCode::Cuda;
  throw Error(code, std::string("cuBLASLt ") + what + " failed: " + cublasLtGetStatusString(status));
}

cudaDataType_t data_type(DType t) {
  switch (t) {
    case DType::Float32: return CUDA_R_32F;
    case DType::Float16: return CUDA_R_16F;
    case DType::BFloat16: return CUDA_R_16BF;
    default: throw_invalid(std::string("gemm: dtype ") + dtype_name(t) + " is not supported");
  }
}

uint32_t alignment(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && addr % a != 0) a /= 2;
  return a;
}

// Everything that shapes a plan. Pointers enter only through their alignment.
using PlanKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int, bool, bool, uint32_t, uint32_t, uint32_t, uint32_t, bool, uint32_t>;

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

bool debug_plans() {
  static const bool on = env_flag("NODEFORMERS_DEBUG_PLANS");
  return on;
}

// An algorithm's configuration, for NODEFORMERS_DEBUG_PLANS: its id, tile, stages, split-K
// count and reduction scheme (a split-K algorithm with a separate reduction launches twice).
std::string describe(const cublasLtMatmulAlgo_t& algo) {
  int32_t id = -1, splitk = -1;
  uint32_t tile = 0, stages = 0, reduction = 0;
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &reduction, sizeof(reduction), &written);
  char buf[128];
  std::snprintf(buf, sizeof(buf), "algo %d tile %u stages %u split-k %d reduction %u", id, tile, stages, splitk, reduction);
  return buf;
}

}  // namespace

struct LtContext::Impl {
  CudaBackend& backend;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::map<PlanKey, Plan> plans;

  explicit Impl(CudaBackend& b) : backend(b) {
    check_lt(cublasLtCreate(&handle), "create");
    workspace = backend.allocate(kWorkspaceBytes);
  }
  ~Impl() {
    for (auto& [key, plan] : plans) {
      cublasLtMatrixLayoutDestroy(plan.a);
      cublasLtMatrixLayoutDestroy(plan.b);
      cublasLtMatrixLayoutDestroy(plan.c);
      cublasLtMatmulDescDestroy(plan.op);
    }
    backend.deallocate(workspace);
    cublasLtDestroy(handle);
  }

  static cublasLtMatrixLayout_t layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                       int64_t batch_stride) {
    cublasLtMatrixLayout_t l = nullptr;
    check_lt(cublasLtMatrixLayoutCreate(&l, type, rows, cols, ld), "matrix layout");
    if (batch > 1) {
      const int32_t count = static_cast<int32_t>(batch);
      check_lt(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)), "batch count");
      check_lt(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &batch_stride,
                                                sizeof(batch_stride)),
               "batch stride");
    }
    return l;
  }

  // The heuristic's first pick is not always the fastest for small or skinny shapes: time
  // each candidate on this call's own buffers (the output is rewritten by the real call
  // that follows; a residual that is the output itself would be overwritten, so then the
  // trials write a scratch output instead) and keep the quickest. The candidates are timed
  // in turn over kRounds rounds of kRepeats runs, each keeping its best round, so that a
  // clock change or a stray stall during one candidate's turn does not decide the pick (a
  // 12608x96 -> 96 float32 plan timed once at 5 runs a candidate chose one 8% slower than
  // PyTorch's); GEMMs whose runs take over 200 us stop after one round. This runs once per
  // plan, waits on the stream, and so belongs to the first call of a shape only.
  cublasLtMatmulAlgo_t fastest(const GemmParams& p, Plan& plan, const cublasLtMatmulHeuristicResult_t* results, int count) {
    cudaStream_t stream = backend.stream();
    if (p.bias) {
      check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof(p.bias)), "bias pointer");
    }
    ScopedEvent start(cudaEventDefault), stop(cudaEventDefault);
    void* scratch = p.residual == p.c ? backend.allocate(static_cast<size_t>(p.batch * p.m * p.n) * dtype_size(p.dtype)) : nullptr;
    void* d = scratch ? scratch : p.c;
    const void* c_in = p.residual ? p.residual : p.c;
    const float alpha = p.alpha, beta = p.residual ? 1.f : 0.f;
    auto run = [&](int i) {
      return cublasLtMatmul(handle, plan.op, &alpha, p.b, plan.a, p.a, plan.b, &beta, c_in, plan.c, d, plan.c,
                            &results[i].algo, workspace, kWorkspaceBytes, stream);
    };
    // The candidates that run (a warm-up each; one that fails is skipped), and their best round.
    std::vector<int> usable;
    for (int i = 0; i < count; ++i) {
      if (results[i].state == CUBLAS_STATUS_SUCCESS && run(i) == CUBLAS_STATUS_SUCCESS) usable.push_back(i);
    }
    std::vector<float> best_round(usable.size(), INFINITY);
    constexpr int kRounds = 3, kRepeats = 10;
    constexpr float kLongRoundMs = 2.f;  // 200 us a run: one round's noise is small beside it
    for (int round = 0; round < kRounds; ++round) {
      float quickest = INFINITY;
      for (size_t u = 0; u < usable.size(); ++u) {
        cudaEventRecord(start.event, stream);
        for (int r = 0; r < kRepeats; ++r) run(usable[u]);
        cudaEventRecord(stop.event, stream);
        float ms = INFINITY;
        if (cudaEventSynchronize(stop.event) == cudaSuccess && cudaEventElapsedTime(&ms, start.event, stop.event) == cudaSuccess) {
          best_round[u] = std::min(best_round[u], ms);
        }
        quickest = std::min(quickest, best_round[u]);
      }
      if (quickest > kLongRoundMs) break;  // long GEMMs (8192 x 4096 x 4096: ~430 us) take one round
    }
    cublasLtMatmulAlgo_t best = results[0].algo;
    float best_ms = INFINITY;
    for (size_t u = 0; u < usable.size(); ++u) {
      if (best_round[u] < best_ms) {
        best_ms = best_round[u];
        best = results[usable[u]].algo;
      }
    }
    if (debug_plans()) {
      for (size_t u = 0; u < usable.size(); ++u) {
        std::fprintf(stderr, "  candidate %d: %s, %.2f us a run%s\n", usable[u], describe(results[usable[u]].algo).c_str(),
                     1e3f * best_round[u] / kRepeats, best_round[u] == best_ms ? " (picked)" : "");
      }
    }
    cudaGetLastError();
    if (scratch) backend.deallocate(scratch);
    return best;
  }

  Plan& plan_for(const GemmParams& p, cublasLtEpilogue_t epilogue) {
    const PlanKey key{static_cast<int>(p.dtype), p.batch, p.m, p.n, p.k, p.trans_a, p.trans_b, p.lda, p.ldb, p.ldc,
                      p.batch_stride_a, p.batch_stride_b, p.batch_stride_c, static_cast<int>(epilogue), p.allow_tf32,
                      p.bias != nullptr, alignment(p.a), alignment(p.b), alignment(p.c),
                      p.bias ? alignment(p.bias) : 256u, p.residual != nullptr,
                      p.residual ? alignment(p.residual) : 256u};
    auto found = plans.find(key);
    if (found != plans.end()) return found->second;

    const cudaDataType_t type = data_type(p.dtype);
    const cublasComputeType_t compute =
        p.dtype == DType::Float32 && p.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    Plan plan;
    check_lt(cublasLtMatmulDescCreate(&plan.op, compute, CUDA_R_32F), "matmul desc");
    // Column-major roles: A' = our B, B' = our A (see the file comment).
    const cublasOperation_t op_a = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)), "transa");
    check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)), "transb");
    check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)), "epilogue");
    if (p.bias) {
      check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &type, sizeof(type)), "bias type");
    }
    // A' is op_a(B): stored column-major as [n, k] (not transposed) or [k, n] (transposed).
    plan.a = p.trans_b ? layout(type, p.k, p.n, p.ldb, p.batch, p.batch_stride_b)
                       : layout(type, p.n, p.k, p.ldb, p.batch, p.batch_stride_b);
    plan.b = p.trans_a ? layout(type, p.m, p.k, p.lda, p.batch, p.batch_stride_a)
                       : layout(type, p.k, p.m, p.lda, p.batch, p.batch_stride_a);
    plan.c = layout(type, p.n, p.m, p.ldc, p.batch, p.batch_stride_c);

    cublasLtMatmulPreference_t pref = nullptr;
    check_lt(cublasLtMatmulPreferenceCreate(&pref), "preference");
    const uint64_t ws = kWorkspaceBytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    const uint32_t align_a = alignment(p.b), align_b = alignment(p.a), align_d = alignment(p.c);
    // The scratch output of fastest()'s trials comes from the pool: 256-byte aligned, at least align_d.
    const uint32_t align_c = p.residual ? alignment(p.residual) : align_d;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof(align_c));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof(align_d));
    constexpr int kCandidates = 8;
    cublasLtMatmulHeuristicResult_t results[kCandidates] = {};
    int found_count = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, plan.op, plan.a, plan.b, plan.c, plan.c, pref,
                                                                 kCandidates, results, &found_count);
    cublasLtMatmulPreferenceDestroy(pref);
    if (status != CUBLAS_STATUS_SUCCESS || found_count == 0) {
      cublasLtMatrixLayoutDestroy(plan.a);
      cublasLtMatrixLayoutDestroy(plan.b);
      cublasLtMatrixLayoutDestroy(plan.c);
      cublasLtMatmulDescDestroy(plan.op);
      throw Error(ErrorCode::Cuda, "cuBLASLt found no algorithm for gemm " + std::to_string(p.m) + "x" +
                                       std::to_string(p.n) + "x" + std::to_string(p.k) + " (" + dtype_name(p.dtype) +
                                       "): " + cublasLtGetStatusString(status));
    }
    plan.algo = results[0].algo;
    if (found_count > 1) plan.algo = fastest(p, plan, results, found_count);
    // NODEFORMERS_DEBUG_PLANS=1: a line a new plan on stderr (after its candidates' timings).
    // Each one timed its candidates with the stream waited on, so plans made again and
    // again would stall every forward.
    if (debug_plans()) {
      std::fprintf(stderr, "cuBLASLt plan %zu: %s batch %lld, %lld x %lld x %lld, alignments a %u b %u c %u, %d candidates, %s\n",
                   plans.size() + 1, dtype_name(p.dtype), static_cast<long long>(p.batch), static_cast<long long>(p.m),
                   static_cast<long long>(p.n), static_cast<long long>(p.k), alignment(p.a), alignment(p.b), alignment(p.c),
                   found_count, describe(plan.algo).c_str());
    }
    return plans.emplace(key, plan).first->second;
  }
};

LtContext::LtContext(CudaBackend& backend) : impl_(std::make_unique<Impl>(backend)) {}
LtContext::~LtContext() = default;

bool LtContext::gemm(const GemmParams& p) {
  bool fuse = true;
  cublasLtEpilogue_t epilogue;
  switch (p.activation.kind) {
    case Activation::None: epilogue = p.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT; break;
    case Activation::ReLU: epilogue = p.bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU; break;
    case Activation::GELUTanh: epilogue = p.bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU; break;
    default:
      fuse = false;
      epilogue = p.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  }
  Plan& plan = impl_->plan_for(p, epilogue);
  if (p.bias) {
    check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof(p.bias)),
             "bias pointer");
  }
  const float alpha = p.alpha, beta = p.residual ? 1.f : 0.f;
  const void* c_in = p.residual ? p.residual : p.c;
  check_lt(cublasLtMatmul(impl_->handle, plan.op, &alpha, p.b, plan.a, p.a, plan.b, &beta, c_in, plan.c, p.c, plan.c,
                          &plan.algo, impl_->workspace, kWorkspaceBytes, impl_->backend.stream()),
           "matmul");
  return fuse;  // not a property of the cached plan: one plan serves every unfused activation
}

size_t lt_version() { return cublasLtGetVersion(); }

}  // namespace nf::cuda
