// The dense attention forward for float16 at head dims 129 to 256 (bucket 256).
#include "fwd_launch.cuh"

template void nf::cuda::attn::run_attention_fwd<__half, 256>(const KernelParams&, int, AttentionPrecision, cudaStream_t);
