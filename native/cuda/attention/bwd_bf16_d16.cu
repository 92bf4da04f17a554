// The dense attention backward for bfloat16 at head dims 1 to 16 (bucket 16).
#include "bwd_launch.cuh"

template void nf::cuda::attn::run_attention_bwd<__nv_bfloat16, 16>(const KernelParams&, const BwdParams&, cudaStream_t);
