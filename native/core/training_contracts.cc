// The contracts of the training kit's ops (training_ops.h), as contracts.cc's: each check
// throws nf::Error(InvalidArg, "<what is wrong>"), the caller prefixes the op's name.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "contracts.h"
#include "error.h"

namespace nf {
namespace {

void require(bool ok, const char* what) {
  if (!ok) throw Error(ErrorCode::InvalidArg, what);
}

int64_t bytes_of(const TensorView& v) { return v.numel() * static_cast<int64_t>(dtype_size(v.dtype)); }

// Whether two views' bytes (from each one's first element, contiguous) share none.
bool apart(const TensorView& a, const TensorView& b) {
  const auto* a0 = static_cast<const char*>(a.data);
  const auto* b0 = static_cast<const char*>(b.data);
  const int64_t ab = bytes_of(a), bb = bytes_of(b);
  return ab == 0 || bb == 0 || a0 + ab <= b0 || b0 + bb <= a0;
}

bool contiguous_of(const TensorView& v, DType dtype, int64_t numel) { return v.dtype == dtype && v.is_contiguous() && v.numel() == numel; }

// logits [rows, C] and labels [rows] as both cross-entropy ops read them.
void check_logits_labels(const TensorView& logits, const TensorView& labels, const TensorView& lse, const TensorView& stats) {
  require(logits.ndim >= 1 && logits.is_contiguous() && is_float(logits.dtype), "logits must be a contiguous float tensor [..., C]");
  require(logits.cols() >= 1, "logits must have at least one class");
  const int64_t rows = logits.rows();
  require(rows <= INT32_MAX, "logits may have at most 2^31 - 1 rows (stats counts them in int32)");
  require((labels.dtype == DType::Int32 || labels.dtype == DType::UInt8) && labels.is_contiguous() && labels.numel() == rows,
          "labels must be a contiguous int32 or uint8 tensor with one label per row of logits");
  require(contiguous_of(lse, DType::Float32, rows), "lse must be a contiguous float32 tensor with one element per row");
  require(contiguous_of(stats, DType::Int32, 2), "stats must be a contiguous int32 tensor of 2 elements");
}

// The loss (or its gradient): logits' dtype, [rows] for None, one element otherwise.
void check_loss_view(const TensorView& v, const TensorView& logits, LossReduction reduction, const char* what) {
  const int64_t n = reduction == LossReduction::None ? logits.rows() : 1;
  if (!contiguous_of(v, logits.dtype, n)) throw Error(ErrorCode::InvalidArg, std::string(what) + " must be contiguous, of logits' dtype, [rows] for reduction none and one element otherwise");
}

void check_reduction(LossReduction r) {
  require(r == LossReduction::None || r == LossReduction::Mean || r == LossReduction::Sum, "reduction must be none, mean or sum");
}

// Each view of a list contiguous and of a float dtype.
void check_float_list(const std::vector<TensorView>& tensors) {
  for (const TensorView& t : tensors) require(t.is_contiguous() && is_float(t.dtype), "every tensor of the list must be contiguous and of a float dtype");
}

}  // namespace

void check(const CrossEntropyParams& p) {
  check_reduction(p.reduction);
  check_logits_labels(p.logits, p.labels, p.lse, p.stats);
  check_loss_view(p.out, p.logits, p.reduction, "out");
  require(p.label_smoothing >= 0.f && p.label_smoothing <= 1.f, "label smoothing must be in [0, 1]");
  for (const TensorView* w : {&p.out, &p.lse, &p.stats}) {
    require(apart(*w, p.logits) && apart(*w, p.labels), "out, lse and stats must not overlap logits or labels");
  }
  require(apart(p.out, p.lse) && apart(p.out, p.stats) && apart(p.lse, p.stats), "out, lse and stats must not overlap one another");
}

void check(const CrossEntropyBackwardParams& p) {
  check_reduction(p.reduction);
  check_logits_labels(p.logits, p.labels, p.lse, p.stats);
  check_loss_view(p.d_loss, p.logits, p.reduction, "dloss");
  const TensorView& d = p.dlogits;
  require(d.dtype == p.logits.dtype && d.is_contiguous() && d.numel() == p.logits.numel() && d.cols() == p.logits.cols(),
          "dlogits must be contiguous, of logits' shape and dtype");
  for (const TensorView* in : {&p.d_loss, &p.logits, &p.labels, &p.lse, &p.stats}) require(apart(d, *in), "dlogits must not overlap an input");
  require(p.label_smoothing >= 0.f && p.label_smoothing <= 1.f, "label smoothing must be in [0, 1]");
}

void check(const PatchScatterParams& p) {
  require(p.patch >= 1, "patch must be a positive integer");
  const TensorView &im = p.images, &pt = p.patches;
  require(im.ndim == 4 && im.is_contiguous() && pt.ndim == 3 && pt.is_contiguous(), "images must be contiguous [B, C, H, W] and patches contiguous 3-D");
  require(im.shape[2] % p.patch == 0 && im.shape[3] % p.patch == 0, "image size must be a multiple of the patch");
  require(pt.shape[0] == im.shape[0] && pt.shape[1] == (im.shape[2] / p.patch) * (im.shape[3] / p.patch) &&
              pt.shape[2] == im.shape[1] * p.patch * p.patch,
          "patches must be [B, patches, C * P * P]");
  require(is_float(im.dtype) && is_float(pt.dtype), "images and patches must be float tensors");
  require(apart(im, pt), "images must not overlap patches");
}

void check(const MultiNormParams& p) {
  check_float_list(p.tensors);
  require(contiguous_of(p.out, DType::Float32, 1), "out must be a float32 tensor of one element");
  require(p.norm_type > 0.f, "the norm type must be positive (or Infinity)");
  for (const TensorView& t : p.tensors) require(apart(t, p.out), "out must not overlap a tensor of the list");
}

void check(const MultiScaleParams& p) {
  check_float_list(p.tensors);
  require(contiguous_of(p.norm, DType::Float32, 1), "norm must be a float32 tensor of one element");
  // Written in place: no element may be scaled twice, nor the norm read after a write.
  std::vector<std::pair<const char*, const TensorView*>> by_address;
  for (const TensorView& t : p.tensors) {
    require(apart(t, p.norm), "norm must not overlap a tensor of the list");
    if (t.numel() > 0) by_address.emplace_back(static_cast<const char*>(t.data), &t);
  }
  std::sort(by_address.begin(), by_address.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < by_address.size(); ++i) require(apart(*by_address[i - 1].second, *by_address[i].second), "the tensors of the list must not overlap");
}

}  // namespace nf
