// Tilings of the attention kernels for head dims up to 16, on the notebook ViT's attention
// (B64 N197 H8 D12, q/k/v read in place from a [B, N, 3, H, D] qkv tensor): the library's
// kernels (native/cuda/attention_dense.cu, included here so that the kernel timed is the
// library's own) with other traits than its Tc16 (float16, tensor cores) and other float32
// kernels than its 3xTF32 one, each checked against the library's kernel on the same inputs.
// Counted: 477 MFLOP a call (QK^T and PV) and 9.7 MB of q, k, v and out, so the kernel is
// bound by its latency chain (key tiles of 64, each a copy, a QK^T, a softmax and a PV), not
// by the tensor cores or memory. The variants change the chain (fewer, longer key tiles; one
// tile for all 197 keys), the padding of 197 rows and keys (256 at 64-tiles, 224 at
// 32-tiles), the blocks an SM holds, and whether tail tiles skip their empty rows and keys
// (SkipTails). (A tile's rows must be a multiple of the rows one pass of the block's threads
// copies: 64 at 4 warps, 32 at 2.) float32 is the larger share of its ViT (8 of these calls
// took 1.0 of the 2.02 ms of the float32 graph forward on the H200, 2026-12-02; issue 6 aims
// at 1.5 ms in all). On 2026-12-02 this chose the library's current D <= 16 tilings: 128 x 64
// tiles of 4 warps of two row tiles in 16-bit, and in float32 3 blocks an SM (80 registers,
// against 173 at one block) for the SIMT kernel, then the 3xTF32 tensor-core kernel
// (native/cuda/attention_tf32x3.cuh) in its place, 76.6 against 102.6 us: their diff is the
// 3xTF32 kernel's error. The same run found the tensor-core kernel's tail-tile skipping
// (SkipTails) slower, the SIMT kernel's faster; the tensor-core one is now timed by part.
// Then a check at D = 64 and N = 1000 (tails of 40 rows and keys).
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
template <typename T, typename Tr>
void launch_tiling(KernelParams kp, cudaStream_t stream) {
  kp.m_tiles = (kp.nq + Tr::kBM - 1) / Tr::kBM;
  kp.tiles_per_split = (kp.nk + Tr::kBN - 1) / Tr::kBN;
  const dim3 grid(static_cast<unsigned>(kp.m_tiles * kp.bh), 1, 1);
  auto kernel = [] {
    if constexpr (std::is_same_v<T, float>) return attention_simt_kernel<Tr>;
    else return attention_tc_kernel<T, Tr, false>;
  }();
  if (Tr::kSmemBytes > 48 * 1024) {
    CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)));
  }
  kernel<<<grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(kp);
}

template <typename T, typename Tr>
Variant variant(const char* name) {
  cudaFuncAttributes attr{};
  if constexpr (std::is_same_v<T, float>) CHECK(cudaFuncGetAttributes(&attr, attention_simt_kernel<Tr>));
  else CHECK(cudaFuncGetAttributes(&attr, attention_tc_kernel<T, Tr, false>));
  std::printf("  %-44s %3d x %3d tiles, %3d threads, %3d registers, %5.1f KB shared\n", name, Tr::kBM, Tr::kBN, Tr::kThreads,
              attr.numRegs, Tr::kSmemBytes / 1024.0);
  return {name, launch_tiling<T, Tr>};
}

// The experimental float32 kernel of native/cuda/attention_tf32x3.cuh (64 kMT-row, 64-key tiles, 128 threads).
template <int kMinBlocks, bool kPresplit, int kMT, bool kIntRound>
void launch_tf32x3(KernelParams kp, cudaStream_t stream) {
  kp.m_tiles = (kp.nq + 64 * kMT - 1) / (64 * kMT);
  kp.tiles_per_split = (kp.nk + 63) / 64;
  attention_tf32x3_kernel<kMinBlocks, kPresplit, kMT, kIntRound><<<static_cast<unsigned>(kp.m_tiles * kp.bh), 128, 0, stream>>>(kp);
}

template <int kMinBlocks, bool kPresplit = false, int kMT = 1, bool kIntRound = false>
Variant tf32x3_variant(const char* name) {
  cudaFuncAttributes attr{};
  CHECK(cudaFuncGetAttributes(&attr, attention_tf32x3_kernel<kMinBlocks, kPresplit, kMT, kIntRound>));
  std::printf("  %-44s %3d x  64 tiles, 128 threads, %3d registers, %5.1f KB shared\n", name, 64 * kMT, attr.numRegs,
              attr.sharedSizeBytes / 1024.0);
  return {name, launch_tf32x3<kMinBlocks, kPresplit, kMT, kIntRound>};
}

// Times each variant on [B, N, H, D] in T (default the notebook case), after checking its
// output against the first's.
template <typename T>
void run(const char* dtype_name, DType dtype, const std::vector<Variant>& variants, int64_t B = 64, int64_t N = 197,
         int64_t H = 8, int64_t D = 12) {
  const int64_t qkv_elems = B * N * 3 * H * D, out_elems = B * N * H * D;
  std::vector<T> host(qkv_elems);
  uint32_t r = 2026;
  for (auto& h : host) {
    r = r * 1664525u + 1013904223u;
    const float value = (static_cast<float>(r >> 8) / 16777216.f - 0.5f) * 4.f;  // uniform in [-2, 2)
    if constexpr (std::is_same_v<T, float>) h = value;
    else h = __float2half(value);
  }
  T *qkv = nullptr, *ref = nullptr, *out = nullptr;
  CHECK(cudaMalloc(&qkv, qkv_elems * sizeof(T)));
  CHECK(cudaMalloc(&ref, out_elems * sizeof(T)));
  CHECK(cudaMalloc(&out, out_elems * sizeof(T)));
  CHECK(cudaMemcpy(qkv, host.data(), qkv_elems * sizeof(T), cudaMemcpyHostToDevice));
  AttentionParams p;
  p.dtype = dtype;
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

  std::printf("%s, B%lld N%lld H%lld D%lld, qkv in place:\n", dtype_name, static_cast<long long>(B), static_cast<long long>(N),
              static_cast<long long>(H), static_cast<long long>(D));
  variants[0].launch(ref_params, nullptr);
  CHECK(cudaGetLastError());
  std::vector<T> want(out_elems), got(out_elems);
  CHECK(cudaMemcpy(want.data(), ref, out_elems * sizeof(T), cudaMemcpyDeviceToHost));
  auto to_double = [](T x) -> double {
    if constexpr (std::is_same_v<T, float>) return x;
    else return __half2float(x);
  };
  for (const Variant& v : variants) {
    CHECK(cudaMemset(out, 0xff, out_elems * sizeof(T)));  // NaN: an element left unwritten shows
    v.launch(out_params, nullptr);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(got.data(), out, out_elems * sizeof(T), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (int64_t i = 0; i < out_elems; ++i) {
      const double a = to_double(got[i]), b = to_double(want[i]);
      worst = std::max(worst, std::isfinite(a) ? std::fabs(a - b) / std::max(1.0, std::fabs(b)) : INFINITY);
    }
    const double us = median_us([&] { v.launch(out_params, nullptr); });
    CHECK(cudaGetLastError());
    std::printf("  %-44s %7.2f us   vs the library's tiling: max |diff| / max(1, |ref|) %.2e\n", v.name, us, worst);
  }
  CHECK(cudaFree(qkv));
  CHECK(cudaFree(ref));
  CHECK(cudaFree(out));
}

}  // namespace
}  // namespace nf::cuda

int main() {
  using namespace nf;
  using namespace nf::cuda;
  std::printf("%s: attention kernel tilings at head dims up to 16, then at 64 (the library's first in each list)\n", device_name().c_str());
  // Each list starts with the library's tiling; the tensor-core kernel's tail-tile skipping
  // (SkipTails bits 1, 2) next, apart and together, then its one-group tail code (bit 4); float32 at D <= 16 is the 3xTF32 kernel,
  // the SIMT kernel beside it.
  run<__half>("float16", DType::Float16,
              {variant<__half, Tc16>("library Tc16 (128 x 64, 4 warps of 2 row tiles, one-group tail code)"),
               variant<__half, TcTraits<16, 4, 2, 64, 4, 2, 0>>("the same, no tail code (the library's before 12-03)"),
               variant<__half, TcTraits<16, 4, 2, 64, 4, 2, 1>>("the same, empty key groups skipped"),
               variant<__half, TcTraits<16, 4, 2, 64, 4, 2, 2>>("the same, idle warps skipped"),
               variant<__half, TcTraits<16, 4, 2, 64, 4, 2, 3>>("the same, both skipped"),
               variant<__half, TcTraits<16, 4, 2, 64, 4, 2, 6>>("one-group tail code, idle warps skipped"),
               variant<__half, TcTraits<16, 4, 1, 64, 4, 4>>("64 x 64 tiles, 4 warps (before 12-02)"),
               variant<__half, TcTraits<16, 2, 1, 32, 4, 8>>("32 x 32 tiles, 2 warps"),
               variant<__half, TcTraits<16, 4, 1, 128, 2, 4>>("64 x 128 tiles, 2 stages"),
               variant<__half, TcTraits<16, 4, 1, 256, 1, 2>>("one key tile of 256 (all 197 keys)"),
               variant<__half, TcTraits<16, 2, 1, 64, 4, 8>>("query tiles of 32, 2 warps"),
               variant<__half, TcTraits<16, 4, 2, 128, 2, 2>>("128 x 128 tiles, 2 stages")});
  run<float>("float32", DType::Float32,
             {tf32x3_variant<4, false, 1, true>("library: 3xTF32, split by integer rounding (attention_tf32x3.cuh)"),
              variant<float, Simt16>("SIMT Simt16 (64 x 64, launch bound 3 blocks)"),
              variant<float, SimtTraits<16, 4, 4, 3, 1, false>>("the same, tail tiles computed whole"),
              variant<float, SimtTraits<16, 4, 4, 1, 1, false>>("64 x 64 scores, launch bound 1 (before 12-02)"),
              variant<float, SimtTraits<16, 4, 4, 2>>("64 x 64 scores, launch bound 2 blocks"),
              variant<float, SimtTraits<16, 4, 4, 4>>("64 x 64 scores, launch bound 4 blocks"),
              variant<float, SimtTraits<16, 8, 4, 2>>("128 x 64 scores, launch bound 2 blocks"),
              variant<float, SimtTraits<16, 4, 4, 3, 2>>("a tile ahead, launch bound 3 blocks"),
              tf32x3_variant<4>("3xTF32, split by cvt.rna.tf32"),
              tf32x3_variant<4, true>("3xTF32, K/V split once a tile in shared memory"),
              tf32x3_variant<2, false, 2>("3xTF32, 2 row tiles a warp (128 x 64)"),
              tf32x3_variant<2, true, 2>("3xTF32, 2 row tiles a warp, K/V split once"),
              tf32x3_variant<4, true, 1, true>("3xTF32, integer rounding, K/V split once"),
              tf32x3_variant<2, true, 2, true>("3xTF32, integer rounding, split once, 2 row tiles")});
  run<__half>("float16", DType::Float16,
              {variant<__half, Tc64>("library Tc64 (128 x 64, 3 stages)"),
               variant<__half, TcTraits<64, 4, 2, 64, 3, 2, 1>>("the same, empty key groups skipped"),
               variant<__half, TcTraits<64, 4, 2, 64, 3, 2, 2>>("the same, idle warps skipped"),
               variant<__half, TcTraits<64, 4, 2, 64, 3, 2, 3>>("the same, both skipped"),
               variant<__half, TcTraits<64, 4, 2, 64, 3, 2, 4>>("the same, a tail of <= 16 keys by one-group code")},
              8, 1000, 8, 64);
  run<float>("float32", DType::Float32,
             {variant<float, Simt64>("library Simt64 (64 x 64 scores)"),
              variant<float, SimtTraits<64, 4, 4, 1, 1, false>>("the same, tail tiles computed whole")},
             8, 1000, 8, 64);
  return 0;
}
