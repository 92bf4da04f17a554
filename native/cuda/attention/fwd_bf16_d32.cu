// The dense attention forward for bfloat16 at head dims 17 to 32 (bucket 32).
#include "fwd_launch.cuh"

template void nf::cuda::attn::run_attention_fwd<__nv_bfloat16, 32>(const KernelParams&, int, AttentionPrecision, cudaStream_t);
