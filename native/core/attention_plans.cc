// The device plans of masks and layouts (attention_plans.h).
#include "attention_plans.h"

#include <string>

#include "error.h"

namespace nf {
namespace {

constexpr size_t kAlign = 256;  // what cudaMalloc gives: every part starts as its own allocation would

size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Uploading reads host memory into the device's stream, which a recording graph cannot hold.
void require_not_capturing(const Backend& backend) {
  if (backend.capturing()) {
    throw Error(ErrorCode::InvalidArg, "a plan's lists are uploaded on first use, which a CUDA graph capture cannot record (" + backend.name() +
                                           " is capturing): run the attention once before capturing");
  }
}

}  // namespace

PackedInts::PackedInts(const std::shared_ptr<Backend>& backend, std::initializer_list<Part> parts) {
  require_not_capturing(*backend);
  size_t total = 0;
  for (const Part& p : parts) total += aligned(p.count * sizeof(int32_t));
  buffer_ = std::make_shared<Buffer>(backend, total);
  char* base = static_cast<char*>(buffer_->data());
  size_t offset = 0;
  for (const Part& p : parts) {
    at_.push_back(reinterpret_cast<const int32_t*>(base + offset));
    backend->copy_from_host(base + offset, p.data, p.count * sizeof(int32_t));
    offset += aligned(p.count * sizeof(int32_t));
  }
}

// ---- CsrPlan ---------------------------------------------------------------------------------

CsrPlan::CsrPlan(std::shared_ptr<Backend> backend, const CsrMask& mask, int64_t segment) : backend_(std::move(backend)) {
  check_csr_mask(mask);
  const SparseSchedule s = build_sparse_schedule(mask.row_offsets, mask.offsets_count - 1, segment);
  const CscMask t = transpose_csr_mask(mask);  // for the backward: built once here, with the mask
  memory_ = PackedInts(backend_, {{mask.row_offsets, static_cast<size_t>(mask.offsets_count)},
                                  {mask.col_indices, static_cast<size_t>(mask.nnz)},
                                  {s.items.data(), s.items.size()},
                                  {s.merges.data(), s.merges.size()},
                                  {t.col_offsets.data(), t.col_offsets.size()},
                                  {t.row_indices.data(), t.row_indices.size()},
                                  {t.csr_index.data(), t.csr_index.size()}});
  view_.mask_heads = mask.heads;
  view_.rows = mask.nq;
  view_.cols = mask.nk;
  view_.row_offsets = memory_.at(0);
  view_.col_indices = memory_.at(1);
  view_.nnz = mask.nnz;
  view_.items = memory_.at(2);
  view_.num_items = static_cast<int64_t>(s.items.size() / 4);
  view_.lead_items = s.lead_items;
  view_.merges = memory_.at(3);
  view_.num_merges = static_cast<int64_t>(s.merges.size() / 3);
  view_.num_slots = s.slots;
  if (!t.col_offsets.empty()) {
    view_.col_offsets = memory_.at(4);
    view_.row_indices = memory_.at(5);
    view_.csr_index = memory_.at(6);
  }
  nk_ = mask.nk;
}

void CsrPlan::release() {
  if (memory_.buffer()) memory_.buffer()->release();
}

void CsrPlan::read_mask(std::vector<int32_t>& row_offsets, std::vector<int32_t>& col_indices) const {
  if (released()) throw Error(ErrorCode::InvalidArg, "the plan has been disposed");
  row_offsets.resize(static_cast<size_t>(view_.mask_heads * view_.rows + 1));
  col_indices.resize(static_cast<size_t>(view_.nnz));
  backend_->copy_to_host(row_offsets.data(), view_.row_offsets, row_offsets.size() * sizeof(int32_t));
  backend_->copy_to_host(col_indices.data(), view_.col_indices, col_indices.size() * sizeof(int32_t));
}

// ---- BlockPlan -------------------------------------------------------------------------------

BlockPlan::BlockPlan(std::shared_ptr<Backend> backend, const BlockLayout& layout) : backend_(std::move(backend)) {
  check_block_layout(layout);
  require_not_capturing(*backend_);
  layout_ = layout;
  blocks_.resize(static_cast<size_t>(layout.count));
  for (size_t x = 0; x < blocks_.size(); ++x) blocks_[x] = layout.blocks[x] != 0 ? 1 : 0;
  layout_.blocks = blocks_.data();
  layout_memory_ = std::make_shared<Buffer>(backend_, blocks_.size());
  backend_->copy_from_host(layout_memory_->data(), blocks_.data(), blocks_.size());
  heads_ = layout.heads;
}

BlockPlan::BlockPlan(std::shared_ptr<CsrPlan> csr) : backend_(csr->backend().shared_from_this()), csr_(std::move(csr)) {
  heads_ = csr_->view().mask_heads;
}

size_t BlockPlan::bytes() const {
  size_t total = layout_memory_ ? layout_memory_->bytes() : 0;
  for (const DeviceTiles& t : tilings_) total += t.memory.bytes();
  return total;
}

void BlockPlan::release() {
  released_ = true;
  if (layout_memory_) layout_memory_->release();
  tilings_.clear();  // their Buffers go with them
  csr_.reset();
}

void BlockPlan::check_fits(int64_t heads, int64_t nq, int64_t nk) const {
  if (released()) throw Error(ErrorCode::InvalidArg, "the plan has been disposed");
  if (heads_ != 1 && heads_ != heads) throw Error(ErrorCode::InvalidArg, "the plan is for " + std::to_string(heads_) + " heads, not 1 or H");
  if (csr_ != nullptr) {
    if (csr_->nq() != nq || csr_->nk() != nk) {
      throw Error(ErrorCode::InvalidArg, "the plan's mask is " + std::to_string(csr_->nq()) + " x " + std::to_string(csr_->nk()) + ", not Nq x Nk");
    }
    return;
  }
  const int64_t bs = layout_.block;
  if (layout_.rows != (nq + bs - 1) / bs || layout_.cols != (nk + bs - 1) / bs) {
    throw Error(ErrorCode::InvalidArg, "the plan's layout must be [ceil(Nq / block), ceil(Nk / block)] blocks");
  }
}

const DeviceTiles& BlockPlan::tiles(int64_t tile_m, int64_t tile_n, int64_t nq, int64_t nk) {
  if (released()) throw Error(ErrorCode::InvalidArg, "the plan has been disposed");
  for (const DeviceTiles& t : tilings_) {
    if (t.tile_m == tile_m && t.tile_n == tile_n && t.nq == nq && t.nk == nk) return t;
  }
  require_not_capturing(*backend_);
  TileLists lists;
  if (csr_ != nullptr) {
    if (csr_->nq() != nq || csr_->nk() != nk) throw Error(ErrorCode::InvalidArg, "the plan's mask is not Nq x Nk");
    std::vector<int32_t> row_offsets, col_indices;
    csr_->read_mask(row_offsets, col_indices);
    lists = mask_tile_lists(CsrMask::of(row_offsets, col_indices, heads_, nq, nk), tile_m, tile_n);
  } else {
    lists = layout_tile_lists(layout_, nq, nk, tile_m, tile_n);
  }
  DeviceTiles t;
  t.tile_m = tile_m;
  t.tile_n = tile_n;
  t.nq = nq;
  t.nk = nk;
  t.memory = PackedInts(backend_, {{lists.offsets.data(), lists.offsets.size()}, {lists.cols.data(), lists.cols.size()}});
  t.offsets_count = static_cast<int64_t>(lists.offsets.size());
  t.cols_count = static_cast<int64_t>(lists.cols.size());
  t.area = lists.area;
  tilings_.push_back(std::move(t));
  return tilings_.back();
}

void BlockPlan::lower(Backend& backend, AttentionParams& p) {
  check_fits(p.heads, p.nq, p.nk);
  if (&backend != backend_.get()) throw Error(ErrorCode::InvalidArg, "the plan is on " + backend_->name() + ", q on " + backend.name());
  if (csr_ == nullptr) {
    p.layout = static_cast<const uint8_t*>(layout_memory_->data());
    p.layout_heads = layout_.heads;
    p.layout_block = layout_.block;
    p.layout_rows = layout_.rows;
    p.layout_cols = layout_.cols;
  }
  int64_t tile_m = 0, tile_n = 0;
  backend.attention_tile_shape(p.dtype, p.head_dim, &tile_m, &tile_n);
  if (tile_m <= 0 || tile_n <= 0) return;  // a kernel that tests the layout per element
  const DeviceTiles& t = tiles(tile_m, tile_n, p.nq, p.nk);
  p.tile_offsets = t.memory.at(0);
  p.tile_cols = t.memory.at(1);
  p.tile_cols_count = t.cols_count;
  p.tile_heads = heads_;
  p.tile_m = tile_m;
  p.tile_n = tile_n;
}

}  // namespace nf
