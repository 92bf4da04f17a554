// The dense attention forward for float16 at head dims 1 to 16 (bucket 16).
#include "fwd_launch.cuh"

template void nf::cuda::attn::run_attention_fwd<__half, 16>(const KernelParams&, int, AttentionPrecision, cudaStream_t);
