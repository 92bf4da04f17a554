// The optimizer ops' contracts (contracts.h): what a multi-tensor step and the loss scaler's
// unscale need of their lists of tensors, their state buffers and their hyperparameters.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "contracts.h"
#include "error.h"

namespace nf {
namespace {

void require(bool ok, const char* what) {
  if (!ok) throw Error(ErrorCode::InvalidArg, what);
}

constexpr double kMaxStep = 9007199254740992.0;  // 2^53: every step count is exact in a double

// The bytes a view spans, and whether the op writes them.
struct Span {
  uintptr_t begin = 0, end = 0;
  bool written = false;
};

Span span_of(const TensorView& v, bool written) {
  const auto begin = reinterpret_cast<uintptr_t>(v.data);
  return {begin, begin + static_cast<uintptr_t>(v.numel()) * dtype_size(v.dtype), written};
}

// Throws unless no written span shares a byte with any other span (spans only read may share):
// sorted by start, a span overlaps an earlier one exactly when it starts before that one ends.
void require_apart(std::vector<Span>& spans, const char* what) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  uintptr_t end_any = 0, end_written = 0;
  for (const Span& s : spans) {
    if (s.begin == s.end) continue;
    require(s.begin >= end_written && (!s.written || s.begin >= end_any), what);
    end_any = std::max(end_any, s.end);
    if (s.written) end_written = std::max(end_written, s.end);
  }
}

// A state buffer: given exactly when `wanted`, then float32 and contiguous.
void check_buffer(const TensorView* v, bool wanted, const char* name) {
  if ((v != nullptr) != wanted) {
    throw Error(ErrorCode::InvalidArg, std::string(name) + (wanted ? " must be given" : " must be null") + " for this optimizer and its options");
  }
  if (v != nullptr && !(v->dtype == DType::Float32 && v->is_contiguous())) {
    throw Error(ErrorCode::InvalidArg, std::string(name) + " must be a contiguous float32 tensor");
  }
}

void check_hyperparameters(const OptimizerStepParams& s) {
  if (s.kind == OptimizerKind::AdamW) {
    require(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1, "betas must be in [0, 1)");
    require(std::isfinite(s.eps) && s.eps >= 0, "eps must be a finite number >= 0");
    return;
  }
  require(std::isfinite(s.momentum) && s.momentum >= 0, "momentum must be a finite number >= 0");
  require(std::isfinite(s.dampening), "dampening must be a finite number");
  require(!s.nesterov || (s.momentum > 0 && s.dampening == 0), "nesterov needs a momentum above 0 and a dampening of 0");
}

}  // namespace

void check(const OptimizerStepCall& c) {
  const OptimizerStepParams& s = c.step;
  const size_t n = c.params.size();
  require(c.grads.size() == n && c.entries.size() == n, "params, grads and the per-parameter entries must have one length");
  require(s.kind == OptimizerKind::SGD || s.kind == OptimizerKind::AdamW, "unknown optimizer kind");
  const DType dtype = n > 0 ? c.params[0].dtype : DType::Float32;
  require(is_float(dtype), "params must be float tensors");
  for (size_t i = 0; i < n; ++i) {
    const TensorView &p = c.params[i], &g = c.grads[i];
    require(p.dtype == dtype && g.dtype == dtype && p.numel() == g.numel() && p.is_contiguous() && g.is_contiguous(),
            "every param and grad must be contiguous and of one float dtype, each grad of its param's size");
  }
  const bool adamw = s.kind == OptimizerKind::AdamW;
  check_buffer(c.master, c.master != nullptr, "master");
  check_buffer(c.state1, adamw || s.momentum != 0, adamw ? "state1 (exp_avg)" : "state1 (the momentum buffers)");
  check_buffer(c.state2, adamw, "state2 (exp_avg_sq)");
  check_buffer(c.state3, adamw && s.amsgrad, "state3 (max_exp_avg_sq, amsgrad)");
  check_hyperparameters(s);

  // Each parameter's state range lies inside every buffer given, apart from the others.
  int64_t capacity = INT64_MAX;
  for (const TensorView* b : {c.master, c.state1, c.state2, c.state3}) {
    if (b != nullptr) capacity = std::min(capacity, b->numel());
  }
  int64_t next = 0;
  for (size_t i = 0; i < n; ++i) {
    const OptimizerTensor& e = c.entries[i];
    const int64_t numel = c.params[i].numel();
    require(e.state_offset >= next, "state offsets must ascend, each parameter's range after the one before");
    require(numel <= capacity - e.state_offset, "a parameter's state range runs past the end of a state buffer");
    next = e.state_offset + numel;
    require(std::isfinite(e.lr) && e.lr >= 0, "lr must be a finite number >= 0");
    require(std::isfinite(e.weight_decay) && e.weight_decay >= 0, "weight decay must be a finite number >= 0");
    require(e.step >= 1 && static_cast<double>(e.step) <= kMaxStep, "step must be an integer in [1, 2^53]");
  }

  std::vector<Span> spans;
  spans.reserve(2 * n + 4);
  for (size_t i = 0; i < n; ++i) {
    spans.push_back(span_of(c.params[i], true));
    spans.push_back(span_of(c.grads[i], false));
  }
  for (const TensorView* b : {c.master, c.state1, c.state2, c.state3}) {
    if (b != nullptr) spans.push_back(span_of(*b, true));
  }
  require_apart(spans, "params and state buffers must not overlap each other or a grad");
}

void check(const UnscaleCall& c) {
  const DType dtype = c.grads.empty() ? DType::Float32 : c.grads[0].dtype;
  for (const TensorView& g : c.grads) {
    require(is_float(dtype) && g.dtype == dtype && g.is_contiguous(), "grads must be contiguous and of one float dtype");
  }
  const TensorView& f = c.found_inf;
  require(f.dtype == DType::Float32 && f.numel() == 1, "foundInf must be a float32 tensor of one element");
  require(!std::isnan(c.inv_scale), "invScale must be a number");
  std::vector<Span> spans;
  spans.reserve(c.grads.size() + 1);
  for (const TensorView& g : c.grads) spans.push_back(span_of(g, true));
  spans.push_back(span_of(f, true));
  require_apart(spans, "grads and foundInf must not overlap each other");
}

}  // namespace nf
