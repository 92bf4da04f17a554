// Device-side element access: convert any storage dtype to and from float, so a kernel can
// be written once for float32, float16 and bfloat16 storage with float32 arithmetic.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../core/dtype.h"
#include "../core/error.h"

namespace nf::cuda {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(int32_t v) { return static_cast<float>(v); }
__device__ __forceinline__ float to_float(uint8_t v) { return static_cast<float>(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ int32_t from_float<int32_t>(float v) {
  return isnan(v) ? 0 : static_cast<int32_t>(fmaxf(-2147483648.f, fminf(2147483520.f, v)));
}
template <> __device__ __forceinline__ uint8_t from_float<uint8_t>(float v) {
  return isnan(v) ? 0 : static_cast<uint8_t>(fmaxf(0.f, fminf(255.f, v)));
}

// Calls fn(T{}) with T the C++ type of a floating dtype; throws for the others.
template <typename Fn>
void dispatch_float(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::Float32: fn(float{}); return;
    case DType::Float16: fn(__half{}); return;
    case DType::BFloat16: fn(__nv_bfloat16{}); return;
    default: throw_invalid(std::string(op) + ": dtype " + dtype_name(t) + " is not a float dtype");
  }
}

// Calls fn(T{}) with T the C++ type of any dtype.
template <typename Fn>
void dispatch_any(DType t, Fn&& fn) {
  switch (t) {
    case DType::Float32: fn(float{}); return;
    case DType::Float16: fn(__half{}); return;
    case DType::BFloat16: fn(__nv_bfloat16{}); return;
    case DType::Int32: fn(int32_t{}); return;
    case DType::UInt8: fn(uint8_t{}); return;
  }
}

}  // namespace nf::cuda
