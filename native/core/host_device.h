// NF_HOST_DEVICE marks a function compiled for the host and, under nvcc, for the device too:
// the formulas the CPU and CUDA backends share (activation.h, philox.h), so they cannot drift.
#pragma once

#if defined(__CUDACC__)
#define NF_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NF_HOST_DEVICE inline
#endif
