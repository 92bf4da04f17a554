// The dense attention backward for float32 at head dims 129 to 256 (bucket 256).
#include "bwd_launch.cuh"

template void nf::cuda::attn::run_attention_bwd<float, 256>(const KernelParams&, const BwdParams&, cudaStream_t);
