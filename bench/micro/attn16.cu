// Tilings of the tensor-core attention kernel for head dims up to 16, on the notebook ViT's
// attention (B64 N197 H8 D12, float16, q/k/v read in place from a [B, N, 3, H, D] qkv
// tensor): the library's kernel (native/cuda/attention_dense.cu, included here so that the
// kernel timed is the library's own) with other TcTraits than its Tc16, each checked against
// the library's tiling on the same inputs. Counted: 477 MFLOP a call (QK^T and PV) and
// 9.7 MB of q, k, v and out; the kernel ran 37.5 us under a CUDA graph on the H200
// (2026-12-02), so it is bound by its latency chain (4 key tiles of 64, each a copy, a QK^T,
// a softmax and a PV), not by the tensor cores or memory. The variants change the chain
// (fewer, longer key tiles; one tile for all 197 keys), the padding of 197 rows and keys
// (256 at 64-tiles, 224 at 32-tiles) and the blocks an SM holds. (A tile's rows must be a
// multiple of the rows one pass of the block's threads copies: 64 at 4 warps, 32 at 2.)
//
// Build and run on the GPU machine (scripts/gpu-stage.sh group attn-micro):
//   nvcc -O3 -std=c++17 -arch=sm_90a --expt-relaxed-constexpr -I native bench/micro/attn16.cu -o build/attn16 && build/attn16
#include <cmath>
#include <cstdio>
#include <vector>

#include "../../native/cuda/attention_dense.cu"
#include "micro.cuh"

namespace nf::cuda {
namespace {

struct Variant {
  const char* name;
  void (*launch)(KernelParams, cudaStream_t);
};

// One launch of the unmasked kernel over all key tiles (no split), as launch_attention makes it.
template <typename Tr>
void launch_tiling(KernelParams kp, cudaStream_t stream) {
  kp.m_tiles = (kp.nq + Tr::kBM - 1) / Tr::kBM;
  kp.tiles_per_split = (kp.nk + Tr::kBN - 1) / Tr::kBN;
  const dim3 grid(static_cast<unsigned>(kp.m_tiles * kp.bh), 1, 1);
  auto kernel = attention_tc_kernel<__half, Tr, false>;
  if (Tr::kSmemBytes > 48 * 1024) {
    CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)));
  }
  kernel<<<grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(kp);
}

template <typename Tr>
void print_shape(const char* name) {
  std::printf("  %-44s %3d x %3d tiles, %d warps, %d stage(s), %5.1f KB shared, launch bound %d blocks\n", name, Tr::kBM, Tr::kBN,
              Tr::kWarps, Tr::kStages, Tr::kSmemBytes / 1024.0, Tr::kMinBlocks);
}

}  // namespace
}  // namespace nf::cuda

int main() {
  using namespace nf;
  using namespace nf::cuda;
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const int64_t B = 64, N = 197, H = 8, D = 12;
  std::printf("%s: attention_tc_kernel tilings at head dim 16, B%lld N%lld H%lld D%lld float16, qkv in place\n", prop.name,
              static_cast<long long>(B), static_cast<long long>(N), static_cast<long long>(H), static_cast<long long>(D));

  const int64_t qkv_elems = B * N * 3 * H * D, out_elems = B * N * H * D;
  std::vector<__half> host(qkv_elems);
  uint32_t r = 2026;
  for (auto& h : host) {
    r = r * 1664525u + 1013904223u;
    h = __float2half((static_cast<float>(r >> 8) / 16777216.f - 0.5f) * 4.f);  // uniform in [-2, 2)
  }
  __half *qkv = nullptr, *ref = nullptr, *out = nullptr;
  CHECK(cudaMalloc(&qkv, qkv_elems * sizeof(__half)));
  CHECK(cudaMalloc(&ref, out_elems * sizeof(__half)));
  CHECK(cudaMalloc(&out, out_elems * sizeof(__half)));
  CHECK(cudaMemcpy(qkv, host.data(), qkv_elems * sizeof(__half), cudaMemcpyHostToDevice));

  AttentionParams p;
  p.dtype = DType::Float16;
  p.q = qkv;
  p.k = qkv + H * D;
  p.v = qkv + 2 * H * D;
  p.batch = B;
  p.heads = H;
  p.nq = p.nk = N;
  p.head_dim = D;
  const int64_t qkv_s[3] = {N * 3 * H * D, 3 * H * D, D}, out_s[3] = {N * H * D, H * D, D};
  for (int i = 0; i < 3; ++i) {
    p.q_strides[i] = p.k_strides[i] = p.v_strides[i] = qkv_s[i];
    p.out_strides[i] = out_s[i];
  }
  p.scale = 1.f / std::sqrt(static_cast<float>(D));
  p.out = ref;
  const KernelParams ref_params = kernel_params(p);
  p.out = out;
  const KernelParams out_params = kernel_params(p);

  // The library's Tc16 first: the reference for the others' outputs.
  using Lib = Tc16;
  using Bn32 = TcTraits<16, 2, 1, 32, 4, 8>;        // 32 x 32 tiles, 2 warps: 7 key tiles (224 keys), 224 rows
  using Bn128 = TcTraits<16, 4, 1, 128, 2, 4>;      // 2 key tiles of 128
  using Bn256 = TcTraits<16, 4, 1, 256, 1, 2>;      // one key tile for all 197 keys
  using Bm32 = TcTraits<16, 2, 1, 64, 4, 8>;        // 32-row query tiles (224 rows), 2 warps
  using Bm128 = TcTraits<16, 4, 2, 64, 4, 2>;       // 128-row query tiles, 2 row tiles a warp
  using Occ8 = TcTraits<16, 4, 1, 64, 4, 8>;        // the library's tiles, 8 blocks an SM asked
  const Variant variants[] = {
      {"library Tc16 (64 x 64, 4 warps, 4 stages)", launch_tiling<Lib>},
      {"32 x 32 tiles (2 warps)", launch_tiling<Bn32>},
      {"key tiles of 128", launch_tiling<Bn128>},
      {"one key tile of 256", launch_tiling<Bn256>},
      {"query tiles of 32 (2 warps)", launch_tiling<Bm32>},
      {"query tiles of 128 (2 row tiles a warp)", launch_tiling<Bm128>},
      {"library tiles, launch bound 8 blocks", launch_tiling<Occ8>},
  };
  print_shape<Lib>("library Tc16");
  print_shape<Bn32>("32 x 32 tiles");
  print_shape<Bn128>("key tiles of 128");
  print_shape<Bn256>("one key tile of 256");
  print_shape<Bm32>("query tiles of 32");
  print_shape<Bm128>("query tiles of 128");
  print_shape<Occ8>("library tiles, launch bound 8");

  launch_tiling<Lib>(ref_params, nullptr);
  CHECK(cudaGetLastError());
  std::vector<__half> want(out_elems), got(out_elems);
  CHECK(cudaMemcpy(want.data(), ref, out_elems * sizeof(__half), cudaMemcpyDeviceToHost));
  for (const Variant& v : variants) {
    CHECK(cudaMemset(out, 0xff, out_elems * sizeof(__half)));  // NaN: an element left unwritten shows
    v.launch(out_params, nullptr);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(got.data(), out, out_elems * sizeof(__half), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (int64_t i = 0; i < out_elems; ++i) {
      const double a = __half2float(got[i]), b = __half2float(want[i]);
      const double diff = std::isfinite(a) ? std::fabs(a - b) / std::max(1.0, std::fabs(b)) : INFINITY;
      worst = std::max(worst, diff);
    }
    const double us = median_us([&] { v.launch(out_params, nullptr); });
    CHECK(cudaGetLastError());
    std::printf("  %-44s %7.2f us   vs the library's tiling: max |diff| / max(1, |ref|) %.2e\n", v.name, us, worst);
  }
  CHECK(cudaFree(qkv));
  CHECK(cudaFree(ref));
  CHECK(cudaFree(out));
  return 0;
}
