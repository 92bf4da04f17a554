// The sparse kernels' host plans (sparse_plan.h).
#include "sparse_plan.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "error.h"

namespace nf {
namespace {

void require(bool ok, const char* what) {
  if (!ok) throw Error(ErrorCode::InvalidArg, what);
}

[[noreturn]] void fail(const std::string& what) { throw Error(ErrorCode::InvalidArg, what); }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Where piece p of `pieces` near-equal pieces of a row of `len` entries starts (p = pieces: its end).
int64_t piece_end(int64_t len, int64_t p, int64_t pieces) { return p * len / pieces; }

void check_tiling(int64_t tile_m, int64_t tile_n) {
  require(tile_m >= 1 && tile_m <= kInt32Max && tile_n >= 1 && tile_n <= kInt32Max, "tile sizes must be integers from 1 to 2^31 - 1");
}

// Key tile indices u are stored as (u << 1) | partial in an int32.
void check_key_tiles(int64_t n_tiles) {
  require(n_tiles <= (int64_t{1} << 30), "more than 2^30 key tiles cannot be listed (Nk / tileN is too large)");
}

// Ends a query tile's list: offsets[at] = the entries listed so far.
void close_tile(TileLists& lists, size_t at) {
  require(lists.cols.size() <= static_cast<size_t>(kInt32Max), "the tile lists hold more than 2^31 - 1 entries");
  lists.offsets[at] = static_cast<int32_t>(lists.cols.size());
}

}  // namespace

void check_csr_mask(const CsrMask& m) {
  require(m.heads >= 1 && m.heads <= kInt32Max, "maskHeads must be an integer from 1 to 2^31 - 1");
  require(m.nq >= 0 && m.nq <= kInt32Max && m.nk >= 0 && m.nk <= kInt32Max, "Nq and Nk must be integers from 0 to 2^31 - 1");
  require(m.heads * m.nq + 1 <= kInt32Max, "maskHeads * Nq + 1 row offsets are past the int32 limit");
  if (m.offsets_count != m.heads * m.nq + 1) {
    fail("rowOffsets has " + std::to_string(m.offsets_count) + " entries but maskHeads * Nq + 1 = " + std::to_string(m.heads * m.nq + 1));
  }
  require(m.nnz <= kInt32Max, "a mask holds at most 2^31 - 1 entries");
  require(m.row_offsets[0] == 0, "rowOffsets must start with 0");
  const int64_t rows = m.offsets_count - 1;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t begin = m.row_offsets[r], end = m.row_offsets[r + 1];
    if (end < begin) fail("rowOffsets must not decrease (entry " + std::to_string(r + 1) + ")");
    if (end > m.nnz) fail("rowOffsets entry " + std::to_string(r + 1) + " is " + std::to_string(end) + ", past the " + std::to_string(m.nnz) + " column indices");
    for (int64_t e = begin; e < end; ++e) {
      const int64_t j = m.col_indices[e];
      if (j < 0 || j >= m.nk) fail("column index " + std::to_string(j) + " (entry " + std::to_string(e) + ") is outside [0, " + std::to_string(m.nk) + ")");
      if (e > begin && j <= m.col_indices[e - 1]) fail("column indices must ascend within a row (entry " + std::to_string(e) + ", row " + std::to_string(r) + ")");
    }
  }
  if (m.row_offsets[rows] != m.nnz) {
    fail("rowOffsets ends at " + std::to_string(m.row_offsets[rows]) + " but there are " + std::to_string(m.nnz) + " column indices");
  }
}

CscMask transpose_csr_mask(const CsrMask& m) {
  CscMask t;
  if (m.heads * m.nk + 1 > kInt32Max) return t;  // too wide to transpose: no backward over this mask
  t.col_offsets.assign(static_cast<size_t>(m.heads * m.nk + 1), 0);
  t.row_indices.resize(static_cast<size_t>(m.nnz));
  t.csr_index.resize(static_cast<size_t>(m.nnz));
  // Count each column's entries into the offset after it, then sum the counts into offsets.
  for (int64_t h = 0; h < m.heads; ++h) {
    for (int64_t e = m.row_offsets[h * m.nq]; e < m.row_offsets[(h + 1) * m.nq]; ++e) ++t.col_offsets[static_cast<size_t>(h * m.nk + m.col_indices[e] + 1)];
  }
  for (size_t c = 1; c < t.col_offsets.size(); ++c) t.col_offsets[c] += t.col_offsets[c - 1];
  // Rows in ascending order land in each column in ascending order.
  std::vector<int32_t> cursor(t.col_offsets.begin(), t.col_offsets.end() - 1);
  for (int64_t h = 0; h < m.heads; ++h) {
    for (int64_t i = 0; i < m.nq; ++i) {
      const int64_t r = h * m.nq + i;
      for (int64_t e = m.row_offsets[r]; e < m.row_offsets[r + 1]; ++e) {
        const size_t at = static_cast<size_t>(cursor[static_cast<size_t>(h * m.nk + m.col_indices[e])]++);
        t.row_indices[at] = static_cast<int32_t>(i);
        t.csr_index[at] = static_cast<int32_t>(e);
      }
    }
  }
  return t;
}

void check_block_layout(const BlockLayout& l) {
  require(l.heads >= 1 && l.heads <= kInt32Max, "layout heads must be an integer from 1 to 2^31 - 1");
  require(l.block >= 1 && l.block <= kInt32Max, "block must be an integer from 1 to 2^31 - 1");
  // A side of n blocks covers from (n - 1) * block + 1 elements: the least of those must fit int32.
  const int64_t most = ceil_div(kInt32Max, l.block);
  if (l.rows < 0 || l.cols < 0 || l.rows > most || l.cols > most) {
    fail("at most " + std::to_string(most) + " blocks of " + std::to_string(l.block) + " a side fit the int32 limit");
  }
  // heads, rows and cols are each below 2^31: compare in doubles, where no product wraps.
  if (static_cast<double>(l.count) != static_cast<double>(l.heads) * static_cast<double>(l.rows) * static_cast<double>(l.cols)) {
    fail("layout has " + std::to_string(l.count) + " values but [" + std::to_string(l.heads) + ", " + std::to_string(l.rows) + ", " +
         std::to_string(l.cols) + "] needs " + std::to_string(l.heads * l.rows * l.cols));
  }
}

SparseSchedule build_sparse_schedule(const int32_t* row_offsets, int64_t rows, int64_t segment) {
  require(segment >= 1 && segment <= kInt32Max, "segment must be an integer from 1 to 2^31 - 1");
  const double mean = rows > 0 ? static_cast<double>(row_offsets[rows]) / static_cast<double>(rows) : 0;
  const double lead_length = std::max(static_cast<double>(kSparseLeadMin), static_cast<double>(kSparseLeadFactor) * mean);
  auto leads = [&](int64_t len) { return static_cast<double>(len) >= lead_length; };
  // First pass: count the items, the lead items, the split rows and their slots.
  int64_t count = rows, lead_count = 0, merge_count = 0, slots = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t len = int64_t{row_offsets[r + 1]} - row_offsets[r];
    if (len <= segment) {
      lead_count += leads(len);
      continue;
    }
    const int64_t pieces = ceil_div(len, segment);
    count += pieces - 1;
    ++merge_count;
    slots += pieces;
    for (int64_t p = 0; p < pieces; ++p) lead_count += leads(piece_end(len, p + 1, pieces) - piece_end(len, p, pieces));
  }
  if (count > kInt32Max) fail("the schedule's " + std::to_string(count) + " items are past the int32 limit");
  // Second pass: the lead items first (in row order for now), the rest after them in row order.
  SparseSchedule s;
  s.items.resize(static_cast<size_t>(4 * count));
  s.merges.reserve(static_cast<size_t>(3 * merge_count));
  s.lead_items = lead_count;
  s.slots = slots;
  int64_t lead = 0, rest = lead_count, slot = 0;
  auto put = [&](int64_t r, int64_t begin, int64_t end, int64_t item_slot) {
    int32_t* at = &s.items[static_cast<size_t>(4 * (leads(end - begin) ? lead++ : rest++))];
    at[0] = static_cast<int32_t>(r);
    at[1] = static_cast<int32_t>(begin);
    at[2] = static_cast<int32_t>(end);
    at[3] = static_cast<int32_t>(item_slot);
  };
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t begin = row_offsets[r], len = int64_t{row_offsets[r + 1]} - begin;
    if (len <= segment) {
      put(r, begin, begin + len, -1);
      continue;
    }
    const int64_t pieces = ceil_div(len, segment);
    s.merges.insert(s.merges.end(), {static_cast<int32_t>(r), static_cast<int32_t>(slot), static_cast<int32_t>(pieces)});
    for (int64_t p = 0; p < pieces; ++p) put(r, begin + piece_end(len, p, pieces), begin + piece_end(len, p + 1, pieces), slot++);
  }
  // The lead items longest first; row order among equals.
  std::vector<int64_t> order(static_cast<size_t>(lead_count));
  std::iota(order.begin(), order.end(), 0);
  auto length = [&](int64_t n) { return int64_t{s.items[4 * n + 2]} - s.items[4 * n + 1]; };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return length(a) > length(b); });
  const std::vector<int32_t> unsorted(s.items.begin(), s.items.begin() + 4 * lead_count);
  for (size_t to = 0; to < order.size(); ++to) std::copy_n(&unsorted[static_cast<size_t>(4 * order[to])], 4, &s.items[4 * to]);
  return s;
}

TileLists mask_tile_lists(const CsrMask& m, int64_t tile_m, int64_t tile_n) {
  check_tiling(tile_m, tile_n);
  const int64_t m_tiles = ceil_div(m.nq, tile_m), n_tiles = ceil_div(m.nk, tile_n);
  check_key_tiles(n_tiles);
  TileLists lists;
  lists.tile_m = tile_m;
  lists.tile_n = tile_n;
  lists.offsets.assign(static_cast<size_t>(m.heads * m_tiles + 1), 0);
  std::vector<int64_t> seen(static_cast<size_t>(n_tiles), -1);  // the query tile that listed key tile u last
  std::vector<int32_t> listed;
  for (int64_t h = 0; h < m.heads; ++h) {
    for (int64_t t = 0; t < m_tiles; ++t) {
      const int64_t stamp = h * m_tiles + t, i0 = t * tile_m, i1 = std::min(i0 + tile_m, m.nq);
      listed.clear();
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r = h * m.nq + i;
        for (int64_t e = m.row_offsets[r]; e < m.row_offsets[r + 1]; ++e) {
          const int64_t u = m.col_indices[e] / tile_n;
          if (seen[static_cast<size_t>(u)] != stamp) {
            seen[static_cast<size_t>(u)] = stamp;
            listed.push_back(static_cast<int32_t>(u));
          }
        }
      }
      std::sort(listed.begin(), listed.end());
      for (const int32_t u : listed) {
        lists.cols.push_back(u << 1);
        lists.area += static_cast<double>(i1 - i0) * static_cast<double>(std::min(int64_t{u} * tile_n + tile_n, m.nk) - int64_t{u} * tile_n);
      }
      close_tile(lists, static_cast<size_t>(stamp + 1));
    }
  }
  return lists;
}

TileLists layout_tile_lists(const BlockLayout& l, int64_t nq, int64_t nk, int64_t tile_m, int64_t tile_n) {
  check_tiling(tile_m, tile_n);
  const int64_t bs = l.block;
  if (nq < 0 || nk < 0 || ceil_div(nq, bs) != l.rows || ceil_div(nk, bs) != l.cols) {
    fail("a [" + std::to_string(l.rows) + ", " + std::to_string(l.cols) + "] layout of " + std::to_string(bs) + "-blocks does not cover " +
         std::to_string(nq) + " x " + std::to_string(nk));
  }
  const int64_t m_tiles = ceil_div(nq, tile_m), n_tiles = ceil_div(nk, tile_n);
  check_key_tiles(n_tiles);
  TileLists lists;
  lists.tile_m = tile_m;
  lists.tile_n = tile_n;
  lists.offsets.assign(static_cast<size_t>(l.heads * m_tiles + 1), 0);
  for (int64_t h = 0; h < l.heads; ++h) {
    for (int64_t t = 0; t < m_tiles; ++t) {
      const int64_t i0 = t * tile_m, i1 = std::min(i0 + tile_m, nq);
      for (int64_t u = 0; u < n_tiles; ++u) {
        const int64_t j0 = u * tile_n, j1 = std::min(j0 + tile_n, nk);
        bool any = false, all = true;
        for (int64_t bi = i0 / bs; bi <= (i1 - 1) / bs; ++bi) {
          const uint8_t* row = l.blocks + (h * l.rows + bi) * l.cols;
          for (int64_t bj = j0 / bs; bj <= (j1 - 1) / bs; ++bj) {
            if (row[bj] != 0) any = true;
            else all = false;
          }
        }
        if (!any) continue;
        lists.cols.push_back(static_cast<int32_t>((u << 1) | (all ? 0 : 1)));
        lists.area += static_cast<double>(i1 - i0) * static_cast<double>(j1 - j0);
      }
      close_tile(lists, static_cast<size_t>(h * m_tiles + t + 1));
    }
  }
  return lists;
}

}  // namespace nf
