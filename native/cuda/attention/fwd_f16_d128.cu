// The dense attention forward for float16 at head dims 65 to 128 (bucket 128).
#include "fwd_launch.cuh"

template void nf::cuda::attn::run_attention_fwd<__half, 128>(const KernelParams&, int, AttentionPrecision, cudaStream_t);
