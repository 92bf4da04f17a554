// The dense attention backward for float32 at head dims 17 to 32 (bucket 32).
#include "bwd_launch.cuh"

template void nf::cuda::attn::run_attention_bwd<float, 32>(const KernelParams&, const BwdParams&, cudaStream_t);
