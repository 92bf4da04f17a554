// The dense attention backward for float16 at head dims 33 to 64 (bucket 64).
#include "bwd_launch.cuh"

template void nf::cuda::attn::run_attention_bwd<__half, 64>(const KernelParams&, const BwdParams&, cudaStream_t);
