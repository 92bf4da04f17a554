// A stand-in for cuFFT's header on a machine without it (tools/cuda-link-check.sh): the types,
// constants and functions native/cuda/fft_plans.cc uses, declared from the library's
// documented API. Values are placeholders: nothing built against this ever runs.
#pragma once
#include <cstddef>
#include <cuda_runtime_api.h>
#include <vector_types.h>

extern "C" {
typedef int cufftHandle;
typedef float2 cufftComplex;
typedef float cufftReal;
typedef enum { CUFFT_SUCCESS = 0, CUFFT_ALLOC_FAILED = 2, CUFFT_INVALID_VALUE = 4 } cufftResult;
typedef enum { CUFFT_R2C = 0x2a } cufftType;

cufftResult cufftCreate(cufftHandle* plan);
cufftResult cufftDestroy(cufftHandle plan);
cufftResult cufftSetAutoAllocation(cufftHandle plan, int auto_allocate);
cufftResult cufftMakePlanMany(cufftHandle plan, int rank, int* n, int* inembed, int istride, int idist, int* onembed, int ostride, int odist,
                              cufftType type, int batch, size_t* work_size);
cufftResult cufftSetStream(cufftHandle plan, cudaStream_t stream);
cufftResult cufftSetWorkArea(cufftHandle plan, void* work_area);
cufftResult cufftExecR2C(cufftHandle plan, cufftReal* idata, cufftComplex* odata);
}
