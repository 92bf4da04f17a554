// The optimizer ops (issue 25): the fused multi-tensor step and the loss scaler's unscale.
// Each reads its lists of tensors (TensorLists) and its other arguments (Args), builds the
// op's call, and runs it through native/core's dispatch (which checks it).
#include <cmath>
#include <string>
#include <vector>

#include "../core/dispatch.h"
#include "module.h"
#include "tensor_lists.h"

namespace nf::addon {
namespace {

// Per parameter: state offset, lr, weight decay, step. Then the hyperparameters: momentum,
// dampening, nesterov, beta1, beta2, eps, amsgrad.
constexpr size_t kEntryFields = 4;
constexpr size_t kHyperFields = 7;

// Argument i, a Float64Array of `length` numbers, copied out (no pointer into it is kept).
std::vector<double> doubles(const Napi::CallbackInfo& info, const Args& args, size_t i, size_t length, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    args.fail(std::string(name) + " must be a Float64Array");
  }
  const Napi::Float64Array a = info[i].As<Napi::Float64Array>();
  if (a.ElementLength() != length) args.fail(std::string(name) + " must hold " + std::to_string(length) + " numbers");
  const double* data = length > 0 ? a.Data() : nullptr;
  return std::vector<double>(data, data + length);
}

bool whole(double d, double lo) { return d >= lo && d <= kMaxIndex && d == std::floor(d); }

}  // namespace

// optimizerStep(kind, params[], grads[], master|null, state1|null, state2|null, state3|null,
//               entries: Float64Array, hyper: Float64Array): one step of SGD (kind 0) or AdamW
// (kind 1) as OptimizerStepParams (native/core/ops.h) says; entries holds [state offset, lr,
// weight decay, step] for each parameter, hyper [momentum, dampening, nesterov, beta1, beta2,
// eps, amsgrad].
Napi::Value Addon::OptimizerStep(const Napi::CallbackInfo& info) {
  const char* op = "optimizerStep";
  Args args(info, op, layouts_);
  TensorLists lists(info, op, layouts_);
  const int64_t kind = args.integer(0, "kind", 0, 1, "kind must be 0 (SGD) or 1 (AdamW)");
  const int params = lists.read(1, "params", Access::Whole), grads = lists.read(2, "grads");
  const auto master = args.optional_tensor(3, "master", Access::Whole), state1 = args.optional_tensor(4, "state1", Access::Whole);
  const auto state2 = args.optional_tensor(5, "state2", Access::Whole), state3 = args.optional_tensor(6, "state3", Access::Whole);
  const size_t n = lists.size(params);
  const std::vector<double> entries = doubles(info, args, 7, kEntryFields * n, "entries");
  const std::vector<double> hyper = doubles(info, args, 8, kHyperFields, "hyper");

  OptimizerStepCall call;
  call.entries.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double* e = &entries[kEntryFields * i];
    if (!whole(e[0], 0)) args.fail("entries: state offsets must be non-negative integers");
    if (!whole(e[3], 1)) args.fail("entries: steps must be integers of at least 1");
    OptimizerTensor& t = call.entries[i];
    t.state_offset = static_cast<int64_t>(e[0]);
    t.lr = e[1];
    t.weight_decay = e[2];
    t.step = static_cast<int64_t>(e[3]);
  }
  OptimizerStepParams& s = call.step;
  s.kind = static_cast<OptimizerKind>(kind);
  s.momentum = hyper[0];
  s.dampening = hyper[1];
  s.nesterov = hyper[2] != 0;
  s.beta1 = hyper[3];
  s.beta2 = hyper[4];
  s.eps = hyper[5];
  s.amsgrad = hyper[6] != 0;

  Backend& backend = lists.bind(args, master.present() || state1.present() || state2.present() || state3.present());
  call.params = lists.views(params);
  call.grads = lists.views(grads);
  call.master = args.maybe(master);
  call.state1 = args.maybe(state1);
  call.state2 = args.maybe(state2);
  call.state3 = args.maybe(state3);
  guarded(info.Env(), op, [&] { dispatch::optimizer_step(backend, call); });
  return info.Env().Undefined();
}

// unscaleGrads(grads[], foundInf, invScale): grads *= invScale in place, foundInf[0] = 1 where a
// gradient held inf or NaN (UnscaleParams in native/core/ops.h).
Napi::Value Addon::UnscaleGrads(const Napi::CallbackInfo& info) {
  const char* op = "unscaleGrads";
  Args args(info, op, layouts_);
  TensorLists lists(info, op, layouts_);
  const int grads = lists.read(0, "grads", Access::Whole);
  const auto found_inf = args.tensor(1, "foundInf", Access::Whole);
  UnscaleCall call;
  call.inv_scale = static_cast<float>(args.number(2, "invScale"));
  Backend& backend = lists.bind(args, true);
  call.grads = lists.views(grads);
  call.found_inf = args.view(found_inf);
  args.run([&] { dispatch::unscale_grads(backend, call); });
  return info.Env().Undefined();
}

}  // namespace nf::addon
