// The host side of the sparse attention kernels' plans, built from a mask or a layout: the
// CSR kernel's work schedule (SparseAttentionParams' items, merges, slots and lead items) and
// the tiled kernel's tile lists at one [tile_m, tile_n] tiling (AttentionParams' tile
// fields). Plain C++ on host arrays; attention_plans.h puts them on a device. Every input is
// checked in full: a bad one throws nf::Error(InvalidArg, "<what is wrong>"), and the caller
// prefixes the op's name, as with the contracts (contracts.h).
#pragma once
#include <cstdint>
#include <vector>

namespace nf {

// A split row's pieces hold at most this many entries: the CSR kernel's unit of work, long
// enough that a piece's partial slot and merge cost little beside its scores.
constexpr int64_t kSparseSegment = 256;
// An item of at least this many times the mean row length leads the schedule: started first,
// a long row (the notebook mask's class token: five times the mean) does not run on alone in
// the grid's last wave.
constexpr int64_t kSparseLeadFactor = 2;
// Items shorter than this never lead: they end within a few steps wherever they start.
constexpr int64_t kSparseLeadMin = 32;

// The largest value an int32 entry of a plan can hold.
constexpr int64_t kInt32Max = 2147483647;

// A CSR element mask on the host: heads * nq + 1 row offsets into col_indices (nnz entries),
// each row's columns ascending in [0, nk); row r = h * nq + i.
struct CsrMask {
  const int32_t* row_offsets = nullptr;
  int64_t offsets_count = 0;
  const int32_t* col_indices = nullptr;
  int64_t nnz = 0;
  int64_t heads = 1, nq = 0, nk = 0;

  // The mask over these host arrays.
  static CsrMask of(const std::vector<int32_t>& row_offsets, const std::vector<int32_t>& col_indices, int64_t heads, int64_t nq, int64_t nk) {
    return {row_offsets.data(), static_cast<int64_t>(row_offsets.size()), col_indices.data(), static_cast<int64_t>(col_indices.size()), heads, nq, nk};
  }
};

// Throws unless `m` is one: heads >= 1, every size within int32, offsets_count = heads * nq
// + 1, offsets from 0 to nnz never decreasing, columns in [0, nk) strictly ascending per row.
void check_csr_mask(const CsrMask& m);

// The transposed mask (CSC) of a CSR mask, for the backward's dK and dV (one pass per key):
// for mask head h and key column c, entries col_offsets[h * nk + c] .. col_offsets[h * nk + c
// + 1] hold the query rows i in [0, nq) that attend c, ascending (row_indices), and where that
// entry lies in the CSR col_indices (csr_index).
struct CscMask {
  std::vector<int32_t> col_offsets;  // heads * nk + 1
  std::vector<int32_t> row_indices;  // nnz
  std::vector<int32_t> csr_index;    // nnz
};

// The CSC of `m` (checked by check_csr_mask), by a counting sort over the columns: O(nnz +
// heads * nk). Empty (no col_offsets) when heads * nk + 1 offsets would pass the int32 limit:
// a mask that wide is valid for the forward, but has no backward.
CscMask transpose_csr_mask(const CsrMask& m);

// A block layout on the host: uint8 [heads, rows, cols] (nonzero = on) of block x block
// blocks, covering queries [0, rows * block) and keys [0, cols * block).
struct BlockLayout {
  const uint8_t* blocks = nullptr;
  int64_t count = 0;  // elements in `blocks`
  int64_t heads = 1, rows = 0, cols = 0, block = 0;
};

// Throws unless `l` is one: heads >= 1, block >= 1, count = heads * rows * cols, and the
// fewest elements a side its blocks cover ((rows - 1) * block + 1, likewise cols) within int32.
void check_block_layout(const BlockLayout& l);

// The CSR kernel's work schedule (SparseAttentionParams in ops.h says what the records mean).
struct SparseSchedule {
  std::vector<int32_t> items;   // records of 4: {row, begin, end, slot}
  std::vector<int32_t> merges;  // records of 3: {row, first slot, slot count}
  int64_t lead_items = 0, slots = 0;
};

// The schedule of `rows` CSR rows (row_offsets checked by check_csr_mask): a row of more than
// `segment` entries is split into ceil(len / segment) near-equal consecutive pieces, each
// writing its own partial slot (a row's slots consecutive), plus one merge record; any other
// row, empty ones included (so that their zeros are written), is one item with slot -1. Items
// of at least kSparseLeadFactor times the mean row length (and kSparseLeadMin entries) lead,
// longest first (row order among equals); the rest follow in row order, so that neighbouring
// rows, which share many keys in local patterns, go to the warps of one block.
SparseSchedule build_sparse_schedule(const int32_t* row_offsets, int64_t rows, int64_t segment);

// Tile lists at one [tile_m, tile_n] tiling (AttentionParams' tile_offsets and tile_cols):
// query tile t of head h lists its key tiles in cols[offsets[h * m_tiles + t] ..
// offsets[h * m_tiles + t + 1]), ascending, each (key tile << 1) | partial.
struct TileLists {
  int64_t tile_m = 0, tile_n = 0;
  std::vector<int32_t> offsets;  // heads * ceil(nq / tile_m) + 1
  std::vector<int32_t> cols;
  double area = 0;  // the listed tiles' area, each clipped to nq x nk
};

// The key tiles holding an entry of the mask (checked by check_csr_mask), partial flag 0.
TileLists mask_tile_lists(const CsrMask& m, int64_t tile_m, int64_t tile_n);

// The key tiles that overlap a block that is on, for nq x nk attention under the layout
// (checked by check_block_layout; it must be [ceil(nq / block), ceil(nk / block)]); partial =
// 0 only when every block overlapping the tile is on.
TileLists layout_tile_lists(const BlockLayout& l, int64_t nq, int64_t nk, int64_t tile_m, int64_t tile_n);

}  // namespace nf
