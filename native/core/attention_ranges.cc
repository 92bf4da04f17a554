// attention_ranges.h: the checks and the transpose of key ranges, and their upload.
#include "attention_ranges.h"

#include <cstdint>
#include <string>

#include "error.h"

namespace nf {

void check_row_ranges(const int32_t* ranges, int64_t count, int64_t nq, int64_t nk) {
  if (nq > INT32_MAX || nk > INT32_MAX) throw_invalid("rowRanges need Nq and Nk under 2^31");
  if (count != 2 * nq) throw_invalid("rowRanges must hold 2 * Nq = " + std::to_string(2 * nq) + " entries, got " + std::to_string(count));
  int32_t prev_lo = 0, prev_hi = 0;
  for (int64_t i = 0; i < nq; ++i) {
    const int32_t lo = ranges[2 * i], hi = ranges[2 * i + 1];
    if (lo < 0 || lo > hi || hi > nk) {
      throw_invalid("rowRanges of row " + std::to_string(i) + " must satisfy 0 <= lo <= hi <= Nk = " + std::to_string(nk) + ", got [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + ")");
    }
    if (lo < prev_lo || hi < prev_hi) throw_invalid("rowRanges must be nondecreasing in the row (at row " + std::to_string(i) + ")");
    prev_lo = lo;
    prev_hi = hi;
  }
}

std::vector<int32_t> column_ranges(const int32_t* ranges, int64_t nq, int64_t nk) {
  std::vector<int32_t> cols(static_cast<size_t>(2 * nk));
  int64_t a = 0, b = 0;  // a: rows with hi <= j; b: rows with lo <= j (both prefixes, as lo and hi are nondecreasing)
  for (int64_t j = 0; j < nk; ++j) {
    while (a < nq && ranges[2 * a + 1] <= j) ++a;
    while (b < nq && ranges[2 * b] <= j) ++b;
    cols[2 * j] = static_cast<int32_t>(a);
    cols[2 * j + 1] = static_cast<int32_t>(b > a ? b : a);
  }
  return cols;
}

DeviceInts::DeviceInts(Backend& backend, const int32_t* host, int64_t count)
    : buffer_(backend.shared_from_this(), static_cast<size_t>(count) * sizeof(int32_t)) {
  backend.copy_from_host(buffer_.data(), host, static_cast<size_t>(count) * sizeof(int32_t));
}

}  // namespace nf
