// The dense attention backward for float16 at head dims 129 to 256 (bucket 256).
#include "bwd_launch.cuh"

template void nf::cuda::attn::run_attention_bwd<__half, 256>(const KernelParams&, const BwdParams&, cudaStream_t);
