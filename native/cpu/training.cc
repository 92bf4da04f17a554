// training.h: the training kit's ops on the host, one row (or one tensor) at a time.
#include "training.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "elementwise.h"
#include "patch.h"

namespace nf::cpu {
namespace {

// What kind of row a label makes: ignored, counted with a class in [0, C), or out of range.
enum class Row { Ignored, Counted, Bad };

Row row_kind(int64_t label, int64_t classes, int64_t ignore_index) {
  if (label == ignore_index) return Row::Ignored;
  return label >= 0 && label < classes ? Row::Counted : Row::Bad;
}

int64_t label_at(const TensorView& labels, int64_t r) { return static_cast<int64_t>(load(labels.data, labels.dtype, r)); }

}  // namespace

void cross_entropy(const CrossEntropyParams& p) {
  const int64_t rows = p.logits.rows(), C = p.logits.cols();
  const DType t = p.logits.dtype;
  const double eps = p.label_smoothing;
  double total = 0;
  int64_t counted = 0, bad = -1;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * C;
    double mx = -INFINITY, sum_x = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double x = load(p.logits.data, t, base + c);
      mx = std::max(mx, x);  // (a NaN logit leaves mx, but its exp makes the sum NaN below)
      sum_x += x;
    }
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(load(p.logits.data, t, base + c) - mx);
    const double lse = std::isinf(mx) ? mx : mx + std::log(sum);
    store(p.lse.data, DType::Float32, r, lse);
    const int64_t label = label_at(p.labels, r);
    double loss = 0;
    switch (row_kind(label, C, p.ignore_index)) {
      case Row::Ignored: break;
      case Row::Bad:
        loss = NAN;
        if (bad < 0) bad = r;
        ++counted;
        break;
      case Row::Counted:
        loss = (1 - eps) * (lse - load(p.logits.data, t, base + label)) + eps * (lse - sum_x / C);
        ++counted;
        break;
    }
    if (p.reduction == LossReduction::None) store(p.out.data, t, r, loss);
    total += loss;
  }
  if (p.reduction == LossReduction::Mean) store(p.out.data, t, 0, counted > 0 ? total / counted : NAN);
  if (p.reduction == LossReduction::Sum) store(p.out.data, t, 0, total);
  store(p.stats.data, DType::Int32, 0, static_cast<double>(counted));
  store(p.stats.data, DType::Int32, 1, static_cast<double>(bad));
}

void cross_entropy_backward(const CrossEntropyBackwardParams& p) {
  const int64_t rows = p.logits.rows(), C = p.logits.cols();
  const DType t = p.logits.dtype;
  const double eps = p.label_smoothing;
  const double count = load(p.stats.data, DType::Int32, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * C, label = label_at(p.labels, r);
    const Row kind = row_kind(label, C, p.ignore_index);
    double g = 0;
    if (kind == Row::Bad) g = NAN;
    if (kind == Row::Counted) {
      g = load(p.d_loss.data, t, p.reduction == LossReduction::None ? r : 0);
      if (p.reduction == LossReduction::Mean) g /= count;
    }
    const double lse = load(p.lse.data, DType::Float32, r);
    for (int64_t c = 0; c < C; ++c) {
      double d = 0;
      if (kind != Row::Ignored) {
        const double target = (c == label ? 1 - eps : 0) + eps / C;
        d = (std::exp(load(p.logits.data, t, base + c) - lse) - target) * g;
      }
      store(p.dlogits.data, t, base + c, d);
    }
  }
}

void patch_scatter(const PatchScatterParams& p) {
  for_each_patch_element(p.images, p.patch, [&](int64_t image, int64_t patch) {
    store(p.images.data, p.images.dtype, image, load(p.patches.data, p.patches.dtype, patch));
  });
}

void multi_norm(const MultiNormParams& p) {
  const bool inf = std::isinf(p.norm_type);
  const double q = p.norm_type;
  double acc = 0;
  for (const TensorView& v : p.tensors) {
    const int64_t n = v.numel();
    for (int64_t i = 0; i < n; ++i) {
      const double a = std::fabs(load(v.data, v.dtype, i));
      if (inf) acc = (a > acc || std::isnan(a)) && !std::isnan(acc) ? a : acc;  // NaN, once met, stays
      else acc += q == 2 ? a * a : q == 1 ? a : std::pow(a, q);
    }
  }
  const double norm = inf ? acc : q == 2 ? std::sqrt(acc) : q == 1 ? acc : std::pow(acc, 1 / q);
  store(p.out.data, DType::Float32, 0, norm);
}

void multi_scale(const MultiScaleParams& p) {
  // float32 throughout, as the CUDA kernel and PyTorch's float32 norm compute it.
  const float norm = static_cast<float>(load(p.norm.data, DType::Float32, 0));
  const float coef = p.max_norm / (norm + 1e-6f);
  const float c = std::isnan(coef) ? coef : std::min(coef, 1.f);
  for (const TensorView& v : p.tensors) {
    const int64_t n = v.numel();
    for (int64_t i = 0; i < n; ++i) store(v.data, v.dtype, i, static_cast<float>(load(v.data, v.dtype, i)) * c);
  }
}

}  // namespace nf::cpu
