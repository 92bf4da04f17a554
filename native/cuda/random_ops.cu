// The random ops (DropoutParams, PhiloxParams in core/random_ops.h) on the device, drawing
// from the Philox stream of core/philox.h, so every word matches the CPU backend's.
//
// dropout_kernel: the tensor is a run of chunks of 4 elements; grid-stride over chunks, a
// thread per chunk. With group 1 (dropout) chunk c reads exactly Philox block offset / 4 + c
// (the offset is a multiple of 4): one block per 4 elements, loaded and stored as one vector
// when every pointer is aligned to it. With group > 1 (drop path) the chunk's words come from
// at most two blocks. The mask is a function of the element index only, never of the launch.
#include <cstdint>

#include "../core/philox.h"
#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"
#include "vector.cuh"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;

// The stream words of the chunk's elements i0 .. i0 + 3 (those past n are not used).
template <bool kGrouped>
__device__ __forceinline__ void chunk_words(uint32_t (&w)[4], uint64_t seed, uint64_t offset, int64_t group, int64_t chunk) {
  if constexpr (!kGrouped) {
    const Philox4 b = philox_block(seed, offset / 4 + static_cast<uint64_t>(chunk));
#pragma unroll
    for (int j = 0; j < 4; ++j) w[j] = b.v[j];
  } else {
    const int64_t i0 = 4 * chunk;
    const int64_t q0 = i0 / group, r0 = i0 - q0 * group;
    uint64_t have = ~uint64_t{0};
    Philox4 b{};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint64_t s = offset + static_cast<uint64_t>(q0 + (r0 + j) / group);
      if (s / 4 != have) {
        have = s / 4;
        b = philox_block(seed, have);
      }
      w[j] = b.v[s % 4];
    }
  }
}

// out may be x (in place): each chunk is read before it is written, by its one thread.
template <typename T, bool kGrouped, bool kVector>
__global__ void __launch_bounds__(kThreads)
dropout_kernel(T* out, const T* x, int64_t n, uint64_t seed, uint64_t offset, int64_t group, uint32_t threshold, float scale) {
  const int64_t chunks = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks; c += stride) {
    uint32_t w[4];
    chunk_words<kGrouped>(w, seed, offset, group, c);
    const int64_t i0 = 4 * c;
    if (kVector && i0 + 4 <= n) {
      float v[4];
      load_vec<4>(x + i0, v);
#pragma unroll
      for (int j = 0; j < 4; ++j) v[j] = w[j] >= threshold ? v[j] * scale : 0.f;
      store_vec<4>(out + i0, v);
    } else {
      for (int j = 0; j < 4 && i0 + j < n; ++j) out[i0 + j] = from_float<T>(w[j] >= threshold ? to_float(x[i0 + j]) * scale : 0.f);
    }
  }
}

// One thread a row: out[r, :] = Philox4x32-10(counter[r, :], key[r, :]).
__global__ void __launch_bounds__(kThreads) philox_kernel(uint32_t* out, const uint32_t* counter, const uint32_t* key, int64_t n) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= n) return;
  const uint32_t* c = counter + 4 * r;
  const Philox4 w = philox4x32_10(c[0], c[1], c[2], c[3], key[2 * r], key[2 * r + 1]);
  for (int j = 0; j < 4; ++j) out[4 * r + j] = w.v[j];
}

bool aligned(const void* p, size_t bytes) { return (reinterpret_cast<uintptr_t>(p) % bytes) == 0; }

unsigned grid_for(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < (int64_t{1} << 20) ? (blocks > 0 ? blocks : 1) : (int64_t{1} << 20));
}

}  // namespace

void launch_dropout(const DropoutParams& p, cudaStream_t stream) {
  const int64_t n = p.x.numel();
  if (n == 0) return;
  const unsigned grid = grid_for((n + 3) / 4);
  dispatch_float(p.x.dtype, "dropout", [&](auto tag) {
    using T = decltype(tag);
    auto* out = static_cast<T*>(p.out.data);
    const auto* x = static_cast<const T*>(p.x.data);
    const bool vector = aligned(out, 4 * sizeof(T)) && aligned(x, 4 * sizeof(T));
    const auto launch = [&](auto kernel) { kernel<<<grid, kThreads, 0, stream>>>(out, x, n, p.seed, p.offset, p.group, p.threshold, p.scale); };
    if (p.group == 1) vector ? launch(dropout_kernel<T, false, true>) : launch(dropout_kernel<T, false, false>);
    else vector ? launch(dropout_kernel<T, true, true>) : launch(dropout_kernel<T, true, false>);
  });
  NF_CHECK_LAUNCH("dropout_kernel");
}

void launch_philox(const PhiloxParams& p, cudaStream_t stream) {
  const int64_t n = p.out.shape[0];
  if (n == 0) return;
  if (n > (int64_t{1} << 31)) throw_invalid("philox: more than 2^31 rows");
  philox_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      static_cast<uint32_t*>(p.out.data), static_cast<const uint32_t*>(p.counter.data), static_cast<const uint32_t*>(p.key.data), n);
  NF_CHECK_LAUNCH("philox_kernel");
}

}  // namespace nf::cuda
