// The elementwise ends of FNet's Fourier mix (core/mixing_ops.h) around cuFFT's real-to-complex
// transform (fft_plans.cc), which needs float32 input and writes the half spectrum:
//   fourier_to_real_kernel: real[i] = float(x[i]), the [B, N, E] input in float32 (a copy also
//     for float32 input: cuFFT gets a buffer of its own, whatever it does with it).
//   fourier_real_part_kernel: out[b, r, l] = Re Z[b, r', l'] from the half spectrum
//     Z [batch, rows, len / 2 + 1] of the real 2-D transform over [rows, len]: (r', l') = (r, l)
//     for l <= len / 2, else ((rows - r) % rows, len - l), by Hermitian symmetry
//     (Z[-k] = conj Z[k] for real input, and the real part is even).
// Both one thread an element, grid-stride, consecutive threads on consecutive outputs.
#include <cstdint>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

template <typename T>
__global__ void __launch_bounds__(kThreads) fourier_to_real_kernel(float* __restrict__ real, const T* __restrict__ x, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    real[i] = to_float(x[i]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
fourier_real_part_kernel(T* __restrict__ out, const float2* __restrict__ spectrum, int64_t batch, int64_t rows, int64_t len) {
  const int64_t half = len / 2 + 1, n = batch * rows * len;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t l = i % len, br = i / len;
    const int64_t r = br % rows, b = br / rows;
    const bool mirrored = l >= half;
    const int64_t rr = mirrored ? (rows - r) % rows : r, ll = mirrored ? len - l : l;
    out[i] = from_float<T>(spectrum[(b * rows + rr) * half + ll].x);
  }
}

unsigned blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

}  // namespace

FftShape fourier_shape(const FourierMixParams& p) {
  const int64_t B = p.x.shape[0], N = p.x.shape[1], E = p.x.shape[2];
  // [B, N, 1] is [B, 1, N] in memory: a 1-D transform along N.
  return E == 1 ? FftShape{B, 1, N} : FftShape{B, N, E};
}

void launch_fourier_to_real(const FourierMixParams& p, float* real, cudaStream_t stream) {
  const int64_t n = p.x.numel();
  dispatch_float(p.x.dtype, "fourier_mix", [&](auto tag) {
    using T = decltype(tag);
    fourier_to_real_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(real, static_cast<const T*>(p.x.data), n);
  });
  NF_CHECK_LAUNCH("fourier_to_real_kernel");
}

void launch_fourier_real_part(const FourierMixParams& p, const FftShape& s, const void* spectrum, cudaStream_t stream) {
  dispatch_float(p.out.dtype, "fourier_mix", [&](auto tag) {
    using T = decltype(tag);
    fourier_real_part_kernel<T><<<blocks_for(p.out.numel()), kThreads, 0, stream>>>(
        static_cast<T*>(p.out.data), static_cast<const float2*>(spectrum), s.batch, s.rows, s.len);
  });
  NF_CHECK_LAUNCH("fourier_real_part_kernel");
}

}  // namespace nf::cuda
