// The dense attention backward for bfloat16 at head dims 33 to 64 (bucket 64).
#include "bwd_launch.cuh"

template void nf::cuda::attn::run_attention_bwd<__nv_bfloat16, 64>(const KernelParams&, const BwdParams&, cudaStream_t);
