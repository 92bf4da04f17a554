// The head dims attention serves, in one table for every backend, the addon and (through
// buildInfo.maxHeadDim) TypeScript. The CUDA kernels pad D up to a bucket and are compiled
// once per (dtype, bucket); the CPU backend's loops take any D.
#pragma once
#include <cstdint>

namespace nf {

// The largest head dim of every attention op (dense, block-sparse and CSR): D in [1, 256].
constexpr int64_t kMaxAttentionHeadDim = 256;

// The dense kernels' head-dim buckets, the same for float32, float16 and bfloat16: D runs on
// the kernel compiled for the smallest bucket >= D (padded columns load as zeros).
constexpr int64_t kAttentionHeadDimBuckets[] = {16, 32, 64, 128, 256};
constexpr int kAttentionHeadDimBucketCount = sizeof(kAttentionHeadDimBuckets) / sizeof(kAttentionHeadDimBuckets[0]);
static_assert(kAttentionHeadDimBuckets[kAttentionHeadDimBucketCount - 1] == kMaxAttentionHeadDim,
              "the last bucket is the max head dim");

// The bucket serving head dim d, or 0 when d is outside [1, kMaxAttentionHeadDim].
constexpr int64_t attention_head_dim_bucket(int64_t d) {
  if (d < 1) return 0;
  for (int64_t b : kAttentionHeadDimBuckets) {
    if (d <= b) return b;
  }
  return 0;
}

}  // namespace nf
