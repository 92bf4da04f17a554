// random_ops.h: element by element in row-major order, one Philox block per four words.
#include "random_ops.h"

#include <cstdint>

#include "../core/philox.h"
#include "elementwise.h"

namespace nf::cpu {

void dropout(const DropoutParams& p) {
  const int64_t n = p.x.numel();
  const DType t = p.x.dtype;
  uint64_t block = ~uint64_t{0};  // the block in `words` (none yet: the offset is a multiple of 4, so never this one)
  Philox4 words{};
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t s = p.offset + static_cast<uint64_t>(i / p.group);
    if (s / 4 != block) {
      block = s / 4;
      words = philox_block(p.seed, block);
    }
    // x read before out is written: out may be x. The product of two floats is exact in a
    // double, so this rounds once, as the CUDA kernel's float32 product does.
    const bool keep = words.v[s % 4] >= p.threshold;
    store(p.out.data, t, i, keep ? load(p.x.data, t, i) * static_cast<double>(p.scale) : 0.0);
  }
}

void philox(const PhiloxParams& p) {
  const int64_t n = p.out.shape[0];
  const auto* c = static_cast<const uint32_t*>(p.counter.data);
  const auto* k = static_cast<const uint32_t*>(p.key.data);
  auto* out = static_cast<uint32_t*>(p.out.data);
  for (int64_t r = 0; r < n; ++r) {
    const Philox4 w = philox4x32_10(c[4 * r], c[4 * r + 1], c[4 * r + 2], c[4 * r + 3], k[2 * r], k[2 * r + 1]);
    for (int j = 0; j < 4; ++j) out[4 * r + j] = w.v[j];
  }
}

}  // namespace nf::cpu
