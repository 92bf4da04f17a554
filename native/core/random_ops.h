// The ops that draw from a seed's Philox stream (philox.h): dropout, stochastic depth (its
// per-sample form), and the raw Philox blocks that the known-answer tests read.
#pragma once
#include <cstdint>

#include "tensor.h"

namespace nf {

// out[i] = x[i] * scale where word s(i) = offset + i / group of seed's stream is >= threshold
// (kept), else 0 (dropped; 0 even where x is inf or NaN). x and out contiguous, one shape and
// float dtype, i the row-major index; out may be x itself (in place). offset is a multiple of
// 4. group: consecutive elements that share one word (1: dropout; the elements of one sample:
// drop path). threshold = floor(p * 2^32) of the drop probability p in [0, 1), so a word keeps
// with probability 1 - p (within 2^-32); scale = 1 / (1 - p) rounded to float32, multiplied
// in float32 and rounded once to x's dtype. The gradient is this op on dy with the same
// fields (dx = dy * keep * scale): the mask is regenerated from (seed, offset), never stored.
struct DropoutParams {
  TensorView out, x;
  uint64_t seed = 0, offset = 0;
  int64_t group = 1;
  uint32_t threshold = 0;
  float scale = 1.f;
};

// DropoutParams from the drop probability p in [0, 1]; p = 1 gives zeros (and draws nothing).
struct DropoutCall {
  TensorView out, x;
  double p = 0;
  uint64_t seed = 0, offset = 0;
  int64_t group = 1;
};

// out[r, :] = Philox4x32-10(counter[r, :], key[r, :]): int32 tensors holding the words' bits,
// contiguous, out and counter [n, 4], key [n, 2].
struct PhiloxParams {
  TensorView out, counter, key;
};

}  // namespace nf
