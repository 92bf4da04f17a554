// Vector access for the memory-bound kernels: N consecutive elements of T (float, __half,
// __nv_bfloat16) moved as one aligned vector of raw bits and converted to and from float
// one element at a time. Callers check alignment before taking these paths.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "dtype_traits.cuh"

namespace nf::cuda {

template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// Vectors move as raw bits (loaded as a Pack, stored as 32-bit words with store_bits),
// converted to and from float one element at a time.
template <typename T>
using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint16_t>;

template <typename T>
__device__ __forceinline__ Bits<T> to_bits(T v) {
  if constexpr (std::is_same_v<T, float>) return __float_as_uint(v);
  else if constexpr (std::is_same_v<T, __half>) return __half_as_ushort(v);
  else return __bfloat16_as_ushort(v);
}

template <typename T>
__device__ __forceinline__ T from_bits(Bits<T> b) {
  if constexpr (std::is_same_v<T, float>) return __uint_as_float(b);
  else if constexpr (std::is_same_v<T, __half>) return __ushort_as_half(b);
  else return __ushort_as_bfloat16(b);
}

template <int N, typename T>
__device__ __forceinline__ void load_vec(const T* p, float (&dst)[N]) {
  const Pack<Bits<T>, N> pk = *reinterpret_cast<const Pack<Bits<T>, N>*>(p);
#pragma unroll
  for (int j = 0; j < N; ++j) dst[j] = to_float(from_bits<T>(pk.v[j]));
}

// Packs N elements of T into 32-bit words and stores them in one instruction.
template <typename T, int N>
__device__ __forceinline__ void store_bits(T* p, const Bits<T> (&b)[N]) {
  constexpr int kBytes = N * static_cast<int>(sizeof(T));
  if constexpr (kBytes % 4 != 0) {
#pragma unroll
    for (int j = 0; j < N; ++j) p[j] = from_bits<T>(b[j]);
  } else {
    uint32_t w[kBytes / 4];
#pragma unroll
    for (int k = 0; k < kBytes / 4; ++k) {
      if constexpr (sizeof(T) == 4) w[k] = b[k];
      else w[k] = static_cast<uint32_t>(b[2 * k]) | (static_cast<uint32_t>(b[2 * k + 1]) << 16);
    }
    // __stwb is one st.global.v4 / .v2 by construction: a plain uint4 store is sometimes
    // split into 32-bit stores when the compiler loses track of the alignment.
    if constexpr (kBytes == 16) __stwb(reinterpret_cast<uint4*>(p), make_uint4(w[0], w[1], w[2], w[3]));
    else if constexpr (kBytes == 8) __stwb(reinterpret_cast<uint2*>(p), make_uint2(w[0], w[1]));
    else if constexpr (kBytes == 4) __stwb(reinterpret_cast<unsigned int*>(p), w[0]);
    else static_assert(kBytes == 16, "unsupported vector size");
  }
}

template <int N, typename T>
__device__ __forceinline__ void store_vec(T* p, const float (&src)[N]) {
  Bits<T> b[N];
#pragma unroll
  for (int j = 0; j < N; ++j) b[j] = to_bits(from_float<T>(src[j]));
  store_bits<T, N>(p, b);
}

}  // namespace nf::cuda
