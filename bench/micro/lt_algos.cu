// Which cuBLASLt algorithms cost the host least, for the ViT's small linears (issue 3: an
// eager float16 linear there is bound by the host, 13-22 us a call against 4.5-12 us of GPU
// time). For each case (y = x W^T + bias, x [m, k], W [n, k], row-major, as the library's
// linear calls cuBLASLt) it takes the heuristic's first 32 candidates and then every
// configuration that cublasLtMatmulAlgoGetIds / AlgoInit / the tile and stage capabilities
// / AlgoCheck admit (split-K 1), and measures each one three ways, N = 100 calls a time,
// the median of 5:
//   host   the host's time per cublasLtMatmul, issued while a spin kernel keeps the GPU busy
//          (so no call waits on the GPU)
//   gpu    the GPU's time per call back to back, timed by events recorded after the spin
//          kernel (so the host's issue time is hidden)
//   eager  events around N calls on an idle GPU: what an eager caller sees
// and prints the best few by eager and by gpu time, with the heuristic's picks marked.
// Usage: build/micro/lt_algos  (nvcc -O3 -std=c++17 -arch=sm_90a -I native bench/micro/lt_algos.cu
// native/cuda/spin.cu -lcublasLt)
#include <cublasLt.h>

#include <chrono>
#include <cstdint>

#include "micro.cuh"
#include "cuda/kernels.h"  // launch_spin (native/cuda/spin.cu), built in beside this file

namespace {

#define CHECK_LT(call)                                                                                \
  do {                                                                                                \
    const cublasStatus_t s = (call);                                                                  \
    if (s != CUBLAS_STATUS_SUCCESS) {                                                                 \
      std::fprintf(stderr, "%s: %s (line %d)\n", #call, cublasLtGetStatusString(s), __LINE__);        \
      std::exit(1);                                                                                   \
    }                                                                                                 \
  } while (0)

constexpr size_t kWorkspaceBytes = 32u << 20;
constexpr int kCalls = 100, kRepeats = 5;

struct Case {
  const char* name;
  cudaDataType_t type;
  int64_t m, k, n;
  cublasLtEpilogue_t epilogue;
};

struct Candidate {
  cublasLtMatmulAlgo_t algo;
  bool from_heuristic;
  int heuristic_rank;
  double host = 0, gpu = 0, eager = 0;
};

std::string describe(const cublasLtMatmulAlgo_t& algo) {
  int32_t id = -1, splitk = -1;
  uint32_t tile = 0, stages = 0, reduction = 0, swizzle = 0, cluster = 0;
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &reduction, sizeof(reduction), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swizzle, sizeof(swizzle), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cluster, sizeof(cluster), &written);
  char buf[128];
  std::snprintf(buf, sizeof(buf), "algo %3d tile %3u stages %3u split-k %d red %u swz %u cluster %u", id, tile, stages,
                splitk, reduction, swizzle, cluster);
  return buf;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void run_case(cublasLtHandle_t handle, cudaStream_t stream, void* workspace, const Case& c) {
  const size_t elem = c.type == CUDA_R_32F ? 4 : 2;
  void *x, *w, *y, *bias;
  CHECK(cudaMalloc(&x, c.m * c.k * elem));
  CHECK(cudaMalloc(&w, c.n * c.k * elem));
  CHECK(cudaMalloc(&y, c.m * c.n * elem));
  CHECK(cudaMalloc(&bias, c.n * elem));
  CHECK(cudaMemset(x, 0, c.m * c.k * elem));
  CHECK(cudaMemset(w, 0, c.n * c.k * elem));
  CHECK(cudaMemset(bias, 0, c.n * elem));

  // Column-major: y^T [n, m] = op_T(W as [k, n]) * (x as [k, m]).
  cublasLtMatmulDesc_t op;
  CHECK_LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)));
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &c.epilogue, sizeof(c.epilogue)));
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &c.type, sizeof(c.type)));
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  cublasLtMatrixLayout_t la, lb, lc;
  CHECK_LT(cublasLtMatrixLayoutCreate(&la, c.type, c.k, c.n, c.k));
  CHECK_LT(cublasLtMatrixLayoutCreate(&lb, c.type, c.k, c.m, c.k));
  CHECK_LT(cublasLtMatrixLayoutCreate(&lc, c.type, c.n, c.m, c.n));
  const float alpha = 1.f, beta = 0.f;

  std::vector<Candidate> candidates;
  {
    cublasLtMatmulPreference_t pref;
    CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kWorkspaceBytes;
    CHECK_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    cublasLtMatmulHeuristicResult_t results[32] = {};
    int found = 0;
    CHECK_LT(cublasLtMatmulAlgoGetHeuristic(handle, op, la, lb, lc, lc, pref, 32, results, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    for (int i = 0; i < found; ++i) {
      if (results[i].state == CUBLAS_STATUS_SUCCESS) candidates.push_back({results[i].algo, true, i});
    }
  }
  const size_t heuristic_count = candidates.size();
  int ids[128];
  int id_count = 0;
  CHECK_LT(cublasLtMatmulAlgoGetIds(handle, CUBLAS_COMPUTE_32F, CUDA_R_32F, c.type, c.type, c.type, c.type, 128, ids, &id_count));
  for (int i = 0; i < id_count; ++i) {
    cublasLtMatmulAlgo_t algo;
    if (cublasLtMatmulAlgoInit(handle, CUBLAS_COMPUTE_32F, CUDA_R_32F, c.type, c.type, c.type, c.type, ids[i], &algo) !=
        CUBLAS_STATUS_SUCCESS) {
      continue;
    }
    size_t bytes = 0;
    std::vector<uint32_t> tiles(64), stages(64);
    cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_TILE_IDS, tiles.data(), tiles.size() * 4, &bytes);
    tiles.resize(bytes / 4);
    if (tiles.empty()) tiles.push_back(CUBLASLT_MATMUL_TILE_UNDEFINED);
    cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_STAGES_IDS, stages.data(), stages.size() * 4, &bytes);
    stages.resize(bytes / 4);
    if (stages.empty()) stages.push_back(CUBLASLT_MATMUL_STAGES_UNDEFINED);
    for (uint32_t tile : tiles) {
      for (uint32_t stage : stages) {
        cublasLtMatmulAlgo_t a = algo;
        cublasLtMatmulAlgoConfigSetAttribute(&a, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile));
        cublasLtMatmulAlgoConfigSetAttribute(&a, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stage, sizeof(stage));
        cublasLtMatmulHeuristicResult_t check{};
        if (cublasLtMatmulAlgoCheck(handle, op, la, lb, lc, lc, &a, &check) == CUBLAS_STATUS_SUCCESS &&
            check.workspaceSize <= kWorkspaceBytes) {
          candidates.push_back({a, false, -1});
          break;  // one stage count per tile: the first that fits
        }
      }
    }
  }

  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  auto call = [&](const cublasLtMatmulAlgo_t& algo) {
    return cublasLtMatmul(handle, op, &alpha, w, la, x, lb, &beta, y, lc, y, lc, &algo, workspace, kWorkspaceBytes, stream);
  };
  std::vector<Candidate> measured;
  for (size_t i = 0; i < candidates.size(); ++i) {
    Candidate& cand = candidates[i];
    bool ok = true;
    for (int r = 0; r < 3 && ok; ++r) ok = call(cand.algo) == CUBLAS_STATUS_SUCCESS;
    if (!ok || cudaStreamSynchronize(stream) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    std::vector<double> host, gpu, eager;
    for (int rep = 0; rep < kRepeats; ++rep) {
      nf::cuda::launch_spin(kCalls * 25.0, stream);  // longer than the host's issue of kCalls calls
      const auto t0 = std::chrono::steady_clock::now();
      for (int r = 0; r < kCalls; ++r) call(cand.algo);
      const auto t1 = std::chrono::steady_clock::now();
      CHECK(cudaStreamSynchronize(stream));
      host.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / kCalls);

      nf::cuda::launch_spin(kCalls * 25.0, stream);  // longer than the host's issue of kCalls calls
      CHECK(cudaEventRecord(start, stream));
      for (int r = 0; r < kCalls; ++r) call(cand.algo);
      CHECK(cudaEventRecord(stop, stream));
      CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      CHECK(cudaEventElapsedTime(&ms, start, stop));
      gpu.push_back(1e3 * ms / kCalls);

      CHECK(cudaEventRecord(start, stream));
      for (int r = 0; r < kCalls; ++r) call(cand.algo);
      CHECK(cudaEventRecord(stop, stream));
      CHECK(cudaEventSynchronize(stop));
      CHECK(cudaEventElapsedTime(&ms, start, stop));
      eager.push_back(1e3 * ms / kCalls);
    }
    cand.host = median(host);
    cand.gpu = median(gpu);
    cand.eager = median(eager);
    measured.push_back(cand);
  }

  std::printf("\n== %s: %zu heuristic candidates, %zu enumerated, %zu ran\n", c.name, heuristic_count,
              candidates.size() - heuristic_count, measured.size());
  auto print = [](const Candidate& cand) {
    std::printf("  %-70s host %6.2f  gpu %6.2f  eager %6.2f us%s\n", describe(cand.algo).c_str(), cand.host, cand.gpu,
                cand.eager, cand.from_heuristic ? (cand.heuristic_rank == 0 ? "  [heuristic #0]" : "  [heuristic]") : "");
  };
  std::printf(" heuristic candidates:\n");
  for (const auto& cand : measured) {
    if (cand.from_heuristic) print(cand);
  }
  std::vector<Candidate> sorted = measured;
  std::sort(sorted.begin(), sorted.end(), [](const Candidate& a, const Candidate& b) { return a.eager < b.eager; });
  std::printf(" best 8 by eager time:\n");
  for (size_t i = 0; i < sorted.size() && i < 8; ++i) print(sorted[i]);
  std::sort(sorted.begin(), sorted.end(), [](const Candidate& a, const Candidate& b) { return a.host < b.host; });
  std::printf(" best 8 by host time:\n");
  for (size_t i = 0; i < sorted.size() && i < 8; ++i) print(sorted[i]);
  std::sort(sorted.begin(), sorted.end(), [](const Candidate& a, const Candidate& b) { return a.gpu < b.gpu; });
  std::printf(" best 4 by gpu time:\n");
  for (size_t i = 0; i < sorted.size() && i < 4; ++i) print(sorted[i]);
  // Each algorithm id's lowest host time, to see which families are cheap to issue.
  std::printf(" lowest host time per algo id:\n");
  std::sort(sorted.begin(), sorted.end(), [](const Candidate& a, const Candidate& b) { return a.host < b.host; });
  std::vector<int> seen;
  for (const auto& cand : sorted) {
    int32_t id = -1;
    size_t written = 0;
    cublasLtMatmulAlgoConfigGetAttribute(&cand.algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &written);
    if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
    seen.push_back(id);
    print(cand);
  }

  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(op);
  cudaFree(x);
  cudaFree(w);
  cudaFree(y);
  cudaFree(bias);
}

}  // namespace

int main() {
  CHECK(cudaSetDevice(0));
  std::printf("%s, cuBLASLt %zu\n", device_name().c_str(), cublasLtGetVersion());
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cublasLtHandle_t handle;
  CHECK_LT(cublasLtCreate(&handle));
  void* workspace;
  CHECK(cudaMalloc(&workspace, kWorkspaceBytes));
  const Case cases[] = {
      {"f16 12608x96 -> 288 +bias", CUDA_R_16F, 12608, 96, 288, CUBLASLT_EPILOGUE_BIAS},
      {"f16 12608x96 -> 96 +bias", CUDA_R_16F, 12608, 96, 96, CUBLASLT_EPILOGUE_BIAS},
      {"f16 12608x96 -> 288 +bias+gelu", CUDA_R_16F, 12608, 96, 288, CUBLASLT_EPILOGUE_GELU_BIAS},
      {"f16 12608x288 -> 96 +bias", CUDA_R_16F, 12608, 288, 96, CUBLASLT_EPILOGUE_BIAS},
      {"f32 12608x96 -> 96 +bias", CUDA_R_32F, 12608, 96, 96, CUBLASLT_EPILOGUE_BIAS},
  };
  for (const Case& c : cases) run_case(handle, stream, workspace, c);
  cudaFree(workspace);
  cublasLtDestroy(handle);
  CHECK(cudaStreamDestroy(stream));
  return 0;
}
