// The dense attention forward for float32 at head dims 33 to 64 (bucket 64).
#include "fwd_launch.cuh"

template void nf::cuda::attn::run_attention_fwd<float, 64>(const KernelParams&, int, AttentionPrecision, cudaStream_t);
