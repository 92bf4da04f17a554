// Key ranges: the form every attention bias of ts/attention/attn_bias.ts (bottom-right causal,
// local windows, block-diagonal masks of packed sequences, padded keys) takes for the dense
// kernels. Each query row i allows the keys [lo_i, hi_i); AttentionParams' row_ranges says
// what the kernels assume of them, which check_row_ranges holds every call to. The backward
// also reads them transposed (column_ranges): the query rows that allow each key.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "backend.h"

namespace nf {

// Throws InvalidArg unless `ranges` holds nq (lo, hi) pairs (count == 2 nq) with
// 0 <= lo <= hi <= nk, lo and hi each nondecreasing in the row.
void check_row_ranges(const int32_t* ranges, int64_t count, int64_t nq, int64_t nk);

// The rows that allow each key of checked row ranges: for key j, [a_j, b_j) with a_j the
// first row whose hi is above j and b_j past the last row whose lo is at most j (b_j = a_j
// where no row allows j); 2 nk int32, both nondecreasing in j.
std::vector<int32_t> column_ranges(const int32_t* ranges, int64_t nq, int64_t nk);

// Host int32 data copied to a backend's device for the length of a call (stream-ordered on
// CUDA: freeing it right after the launches that read it is safe).
class DeviceInts {
 public:
  DeviceInts(Backend& backend, const int32_t* host, int64_t count);
  const int32_t* data() const { return static_cast<const int32_t*>(buffer_.data()); }

 private:
  Buffer buffer_;
};

}  // namespace nf
