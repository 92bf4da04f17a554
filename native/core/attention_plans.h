// The plans a mask or a layout owns on one device, made once and read by every attention
// over it (sparse_plan.h builds their contents on the host):
//   CsrPlan    a CSR mask, its CSR kernel schedule and its transpose (CSC) for the backward
//              (what SparsePlan in calls.h points into);
//   BlockPlan  a block layout, or a CsrPlan's mask, and the tile lists of each tiling a
//              kernel asks of it, built and uploaded on first use and kept.
// Each holds its memory in Buffers of its own until release().
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "backend.h"
#include "calls.h"
#include "ops.h"
#include "sparse_plan.h"

namespace nf {

// Host int32 arrays uploaded into one Buffer, each at a 256-byte boundary.
class PackedInts {
 public:
  struct Part {
    const int32_t* data;
    size_t count;
  };
  PackedInts() = default;
  PackedInts(const std::shared_ptr<Backend>& backend, std::initializer_list<Part> parts);
  // Where part i lies on the device.
  const int32_t* at(size_t i) const { return at_[i]; }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  size_t bytes() const { return buffer_ ? buffer_->bytes() : 0; }

 private:
  std::shared_ptr<Buffer> buffer_;
  std::vector<const int32_t*> at_;
};

class CsrPlan {
 public:
  // Checks `mask` in full, builds its schedule with rows split at `segment` entries and its
  // transpose, uploads all three.
  CsrPlan(std::shared_ptr<Backend> backend, const CsrMask& mask, int64_t segment);
  const SparsePlan& view() const { return view_; }
  int64_t nq() const { return view_.rows; }
  int64_t nk() const { return nk_; }
  Backend& backend() const { return *backend_; }
  size_t bytes() const { return memory_.bytes(); }
  bool released() const { return !memory_.buffer() || memory_.buffer()->released(); }
  void release();
  // The row offsets and column indices read back to the host (what tile lists are built from).
  void read_mask(std::vector<int32_t>& row_offsets, std::vector<int32_t>& col_indices) const;

 private:
  std::shared_ptr<Backend> backend_;
  PackedInts memory_;
  SparsePlan view_;
  int64_t nk_ = 0;
};

// One tiling's lists on the device.
struct DeviceTiles {
  int64_t tile_m = 0, tile_n = 0, nq = 0, nk = 0;
  PackedInts memory;  // offsets, then cols
  int64_t offsets_count = 0, cols_count = 0;
  double area = 0;
};

class BlockPlan {
 public:
  // A block layout: its blocks (as 0/1) uploaded now, tile lists on first use.
  BlockPlan(std::shared_ptr<Backend> backend, const BlockLayout& layout);
  // The mask of `csr`, read back from its device when a tiling is first asked for.
  explicit BlockPlan(std::shared_ptr<CsrPlan> csr);

  // The mask's plan, or null for a layout.
  const CsrPlan* mask() const { return csr_.get(); }
  int64_t heads() const { return heads_; }
  Backend& backend() const { return *backend_; }
  // Device bytes held: the layout and every tiling's lists.
  size_t bytes() const;
  bool released() const { return released_ || (csr_ != nullptr && csr_->released()); }
  void release();

  // Throws unless the plan serves an attention of `heads` heads over nq x nk.
  void check_fits(int64_t heads, int64_t nq, int64_t nk) const;
  // The lists at [tile_m, tile_n] for nq x nk, built and uploaded on first use.
  const DeviceTiles& tiles(int64_t tile_m, int64_t tile_n, int64_t nq, int64_t nk);
  // Fills p's layout fields, and its tile lists at the tiling p's kernel on `backend` uses
  // (none where it has no tiles). p's sizes, dtype and head dim are set and checked.
  void lower(Backend& backend, AttentionParams& p);

 private:
  std::shared_ptr<Backend> backend_;
  std::shared_ptr<CsrPlan> csr_;  // the mask's plan, or null for a layout
  BlockLayout layout_;            // blocks point into layout_memory_'s host twin
  std::vector<uint8_t> blocks_;   // the layout on the host, for tile lists
  std::shared_ptr<Buffer> layout_memory_;
  int64_t heads_ = 1;
  std::vector<DeviceTiles> tilings_;
  bool released_ = false;
};

}  // namespace nf
