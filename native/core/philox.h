// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel Random Numbers: As Easy as 1, 2, 3",
// SC11): a counter-based generator. Ten rounds of two 32x32->64 multiplies and xors turn a
// 128-bit counter and a 64-bit key into four 32-bit words; any block is computed on its
// own, so the CPU and the CUDA kernels, each with its own work split, draw the same numbers
// for one (seed, offset). Compiled for the host and, under nvcc, for the device.
//
// The stream of a seed: word s is word s % 4 of the block at counter s / 4 (counter words
// {lo, hi, 0, 0} of the 64-bit block index), key {lo, hi} of the 64-bit seed. A call that
// starts at `offset` (a multiple of 4, so that it starts on a block) reads words
// offset, offset + 1, ... (ts/generator.ts advances the offset past them).
#pragma once
#include <cstdint>

#include "host_device.h"

namespace nf {

struct Philox4 {
  uint32_t v[4];
};

// hi and lo words of a * b.
NF_HOST_DEVICE void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
#if defined(__CUDA_ARCH__)
  hi = __umulhi(a, b);
  lo = a * b;
#else
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
#endif
}

// One Philox4x32-10 block: counter {c0, c1, c2, c3}, key {k0, k1}.
NF_HOST_DEVICE Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;  // the round multipliers
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // the key schedule's increments
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kMul0, c0, hi0, lo0);
    philox_mulhilo(kMul1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Block `block` of the stream of `seed` (see the file's comment): words 4 * block .. 4 * block + 3.
NF_HOST_DEVICE Philox4 philox_block(uint64_t seed, uint64_t block) {
  return philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u, static_cast<uint32_t>(seed),
                       static_cast<uint32_t>(seed >> 32));
}

}  // namespace nf
