// The dense attention backward for float32 at head dims 65 to 128 (bucket 128).
#include "bwd_launch.cuh"

template void nf::cuda::attn::run_attention_bwd<float, 128>(const KernelParams&, const BwdParams&, cudaStream_t);
