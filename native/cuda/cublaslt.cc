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
#include "kernels.h"

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

// A candidate configuration and its timings, in microseconds a run.
struct Candidate {
  cublasLtMatmulAlgo_t algo;
  bool from_heuristic;
  float eager_us = INFINITY;  // runs issued back to back on an idle stream: about max(host, GPU)
  float gpu_us = INFINITY;    // the same runs queued behind a spin kernel: the GPU's time alone
};

bool debug_plans() {
  static const bool on = env_flag("NODEFORMERS_DEBUG_PLANS");
  return on;
}

// NODEFORMERS_GEMM_SEARCH=0 keeps a plan's candidates to the heuristic's list: a quicker
// first call of a shape (a host-bound float16 GEMM adds about 50 enumerated configurations,
// each run about 50 times while the plan is made).
bool search_configs() {
  static const bool on = !env_is("NODEFORMERS_GEMM_SEARCH", "0");
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
  Allocator& memory;
  cudaStream_t stream;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::map<PlanKey, Plan> plans;

  Impl(Allocator& m, cudaStream_t s) : memory(m), stream(s) {
    check_lt(cublasLtCreate(&handle), "create");
    workspace = memory.allocate(kWorkspaceBytes);
  }
  ~Impl() {
    for (auto& [key, plan] : plans) {
      cublasLtMatrixLayoutDestroy(plan.a);
      cublasLtMatrixLayoutDestroy(plan.b);
      cublasLtMatrixLayoutDestroy(plan.c);
      cublasLtMatmulDescDestroy(plan.op);
    }
    memory.deallocate(workspace);
    cublasLtDestroy(handle);
  }

  // Whether the stream records a CUDA graph now (then nothing may wait on it).
  bool capturing() const {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream, &status) != cudaSuccess) {
      cudaGetLastError();
      return true;  // unknown: take the heuristic's pick, which waits on nothing
    }
    return status != cudaStreamCaptureStatusNone;
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

  // Every configuration cuBLASLt has for this plan's types beyond the heuristic's list: for
  // each algorithm id, each tile it offers with the first stage count that AlgoCheck accepts
  // for the plan's descriptors (split-K 1, the other options at their defaults): for a
  // host-bound GEMM a configuration the heuristic leaves out can cost the host less a call
  // (BENCHMARKS.md, linear; measured in commit e5603fb).
  std::vector<cublasLtMatmulAlgo_t> enumerated(const Plan& plan, cublasComputeType_t compute, cudaDataType_t type) {
    constexpr int kMaxIds = 64;
    int ids[kMaxIds];
    int id_count = 0;
    std::vector<cublasLtMatmulAlgo_t> configs;
    if (cublasLtMatmulAlgoGetIds(handle, compute, CUDA_R_32F, type, type, type, type, kMaxIds, ids, &id_count) !=
        CUBLAS_STATUS_SUCCESS) {
      return configs;
    }
    const auto cap_list = [](const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoCapAttributes_t attr, uint32_t none) {
      size_t bytes = 0;
      std::vector<uint32_t> values;
      if (cublasLtMatmulAlgoCapGetAttribute(&algo, attr, nullptr, 0, &bytes) == CUBLAS_STATUS_SUCCESS && bytes > 0) {
        values.resize(bytes / sizeof(uint32_t));
        if (cublasLtMatmulAlgoCapGetAttribute(&algo, attr, values.data(), bytes, &bytes) != CUBLAS_STATUS_SUCCESS) values.clear();
      }
      if (values.empty()) values.push_back(none);
      return values;
    };
    for (int i = 0; i < id_count; ++i) {
      cublasLtMatmulAlgo_t algo;
      if (cublasLtMatmulAlgoInit(handle, compute, CUDA_R_32F, type, type, type, type, ids[i], &algo) != CUBLAS_STATUS_SUCCESS) {
        continue;
      }
      const std::vector<uint32_t> stages = cap_list(algo, CUBLASLT_ALGO_CAP_STAGES_IDS, CUBLASLT_MATMUL_STAGES_UNDEFINED);
      for (uint32_t tile : cap_list(algo, CUBLASLT_ALGO_CAP_TILE_IDS, CUBLASLT_MATMUL_TILE_UNDEFINED)) {
        for (uint32_t stage : stages) {
          cublasLtMatmulAlgo_t config = algo;
          cublasLtMatmulAlgoConfigSetAttribute(&config, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile));
          cublasLtMatmulAlgoConfigSetAttribute(&config, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stage, sizeof(stage));
          cublasLtMatmulHeuristicResult_t check{};
          if (cublasLtMatmulAlgoCheck(handle, plan.op, plan.a, plan.b, plan.c, plan.c, &config, &check) == CUBLAS_STATUS_SUCCESS &&
              check.workspaceSize <= kWorkspaceBytes) {
            configs.push_back(config);
            break;
          }
        }
      }
    }
    return configs;
  }

  // The heuristic's first pick is not always the fastest for small or skinny shapes, so each
  // candidate runs on this call's own buffers (the output is rewritten by the real call that
  // follows; a residual that is the output itself would be overwritten, so then the trials
  // write a scratch output instead) and the quickest is kept. Quickest how:
  // - Eager time: the candidates are timed in turn, kRepeats runs back to back each, over
  //   kRounds rounds, each keeping its best round, so that a clock change or a stray stall
  //   during one candidate's turn does not decide; GEMMs whose runs take over 200 us stop
  //   after one round. A GEMM that long is bound by the GPU, eager or in a CUDA
  //   graph, and the quickest eager candidate is kept.
  // - A GEMM whose quickest eager run takes under kHostBoundUs is bound by the host's cost of
  //   issuing it when eager (cublasLtMatmul's host cost depends on the configuration), and by
  //   the GPU's time alone in a CUDA graph. For it the enumerated
  //   configurations join the heuristic's (if every pointer is 16-byte aligned, which
  //   AlgoCheck cannot see), each candidate's GPU time is timed too, its runs queued behind
  //   a spin kernel, and the pick is the least sum of the two: the mean of what a call costs
  //   eager and in a graph. One pick serves both, so that a graph replays exactly what an
  //   eager call computes (test/graph.test.ts holds them to 1e-6).
  // This runs once per plan and waits on the stream, so it belongs to the first call of a shape.
  void choose(const GemmParams& p, Plan& plan, cublasComputeType_t compute, cudaDataType_t type,
              const cublasLtMatmulHeuristicResult_t* results, int count) {
    if (p.bias) {
      check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof(p.bias)), "bias pointer");
    }
    ScopedEvent start(cudaEventDefault), stop(cudaEventDefault);
    void* scratch = p.residual == p.c ? memory.allocate(static_cast<size_t>(p.batch * p.m * p.n) * dtype_size(p.dtype)) : nullptr;
    void* d = scratch ? scratch : p.c;
    const void* c_in = p.residual ? p.residual : p.c;
    const float alpha = p.alpha, beta = p.residual ? 1.f : 0.f;
    const auto run = [&](const cublasLtMatmulAlgo_t& algo) {
      return cublasLtMatmul(handle, plan.op, &alpha, p.b, plan.a, p.a, plan.b, &beta, c_in, plan.c, d, plan.c, &algo,
                            workspace, kWorkspaceBytes, stream) == CUBLAS_STATUS_SUCCESS;
    };
    constexpr int kRounds = 3, kRepeats = 10;
    constexpr float kLongRunUs = 200.f, kHostBoundUs = 20.f;
    // Microseconds a run over kRepeats runs, INFINITY if the spin kernel or the events
    // failed; `spin_us` > 0 queues the runs behind a spin kernel of that length.
    const auto time_runs = [&](const cublasLtMatmulAlgo_t& algo, float spin_us) {
      if (spin_us > 0) {
        try {
          launch_spin(spin_us, stream);
        } catch (const Error&) {
          return INFINITY;
        }
      }
      cudaEventRecord(start.event, stream);
      for (int r = 0; r < kRepeats; ++r) run(algo);
      cudaEventRecord(stop.event, stream);
      float ms = INFINITY;
      if (cudaEventSynchronize(stop.event) != cudaSuccess || cudaEventElapsedTime(&ms, start.event, stop.event) != cudaSuccess) {
        return INFINITY;
      }
      return 1e3f * ms / kRepeats;
    };
    // The candidates that run (a warm-up each; one that fails is skipped).
    std::vector<Candidate> candidates;
    for (int i = 0; i < count; ++i) {
      if (results[i].state == CUBLAS_STATUS_SUCCESS && run(results[i].algo)) candidates.push_back({results[i].algo, true});
    }
    const bool aligned = alignment(p.a) >= 16 && alignment(p.b) >= 16 && alignment(d) >= 16 &&
                         (!p.bias || alignment(p.bias) >= 16) && (!p.residual || alignment(p.residual) >= 16);
    const bool host_bound = !candidates.empty() && time_runs(candidates[0].algo, 0) < kHostBoundUs;
    if (host_bound && aligned && search_configs()) {
      for (const cublasLtMatmulAlgo_t& config : enumerated(plan, compute, type)) {
        if (run(config)) candidates.push_back({config, false});
      }
    }
    for (int round = 0; round < kRounds; ++round) {
      float quickest = INFINITY;
      for (Candidate& c : candidates) {
        c.eager_us = std::min(c.eager_us, time_runs(c.algo, 0));
        quickest = std::min(quickest, c.eager_us);
      }
      if (quickest > kLongRunUs) break;  // long GEMMs (8192 x 4096 x 4096: ~430 us) take one round
    }
    if (host_bound) {
      // The spin outlasts the host's issue of kRepeats runs (each under kHostBoundUs here,
      // for the heuristic's first; one that takes longer only looks slower than it is).
      for (int round = 0; round < 2; ++round) {
        for (Candidate& c : candidates) c.gpu_us = std::min(c.gpu_us, time_runs(c.algo, 30.f * kRepeats));
      }
    }
    const auto cost = [&](const Candidate& c) { return host_bound ? c.eager_us + c.gpu_us : c.eager_us; };
    const Candidate* best = nullptr;
    for (const Candidate& c : candidates) {
      if (cost(c) < INFINITY && (!best || cost(c) < cost(*best))) best = &c;
    }
    if (best) plan.algo = best->algo;
    if (debug_plans()) {
      for (const Candidate& c : candidates) {
        std::fprintf(stderr, "  %s %s: eager %.2f us, gpu %.2f us a run%s\n", c.from_heuristic ? "heuristic " : "enumerated",
                     describe(c.algo).c_str(), c.eager_us, c.gpu_us, &c == best ? " (picked)" : "");
      }
    }
    cudaGetLastError();
    if (scratch) memory.deallocate(scratch);
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
    // The scratch output of choose()'s trials comes from the pool: 256-byte aligned, at least align_d.
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
    // A plan first needed inside a capture keeps the heuristic's pick: timing waits on the
    // stream, which is recording then.
    if (!capturing()) choose(p, plan, compute, type, results, found_count);
    // NODEFORMERS_DEBUG_PLANS=1: a line a new plan on stderr (after its candidates' timings).
    // Each one timed its candidates with the stream waited on, so plans made again and
    // again would stall every forward.
    if (debug_plans()) {
      std::fprintf(stderr, "cuBLASLt plan %zu: %s batch %lld, %lld x %lld x %lld, alignments a %u b %u c %u, %d heuristic candidates, %s\n",
                   plans.size() + 1, dtype_name(p.dtype), static_cast<long long>(p.batch), static_cast<long long>(p.m),
                   static_cast<long long>(p.n), static_cast<long long>(p.k), alignment(p.a), alignment(p.b), alignment(p.c),
                   found_count, describe(plan.algo).c_str());
    }
    return plans.emplace(key, plan).first->second;
  }
};

LtContext::LtContext(Allocator& memory, cudaStream_t stream) : impl_(std::make_unique<Impl>(memory, stream)) {}
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
                          &plan.algo, impl_->workspace, kWorkspaceBytes, impl_->stream),
           "matmul");
  return fuse;  // not a property of the cached plan: one plan serves every unfused activation
}

size_t lt_version() { return cublasLtGetVersion(); }

}  // namespace nf::cuda
