// fwd.h's run_attention_combine: the split-KV combine of the dense attention forward, for
// each float dtype.
#include <cstdint>

#include "../check.h"
#include "fwd.h"
#include "fwd_combine.cuh"

namespace nf::cuda::attn {

template <typename T>
void run_attention_combine(const CombineParams& cp, cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(cp.bh) * cp.nq;
  attention_combine_kernel<T><<<static_cast<unsigned>((rows + 3) / 4), 128, 0, stream>>>(cp);
  NF_CHECK_LAUNCH("attention_combine_kernel");
}

template void run_attention_combine<float>(const CombineParams&, cudaStream_t);
template void run_attention_combine<__half>(const CombineParams&, cudaStream_t);
template void run_attention_combine<__nv_bfloat16>(const CombineParams&, cudaStream_t);

}  // namespace nf::cuda::attn
