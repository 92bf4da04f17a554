// The training kit's ops (native/core/training_ops.h): the cross-entropy loss and its
// gradient, the patch scatter, and clipGradNorm's multi-tensor norm and scale, whose tensors
// come as one JS array (TensorList).
#include <memory>
#include <string>
#include <vector>

#include "../core/dispatch.h"
#include "module.h"

namespace nf::addon {
namespace {

// The most tensors one Args holds is 20 (args.h): the list uses an Args per 16.
constexpr uint32_t kPerArgs = 16;
constexpr uint32_t kMaxList = 1u << 20;

// A JS array of Tensors at argument `index`, read through Args kPerArgs at a time: phase 1 for
// every element in the constructor (element getters may run JavaScript), then bind() checks
// that each is alive and on `backend`, and views() gives them in order.
class TensorList {
 public:
  TensorList(const Napi::CallbackInfo& info, const char* op, const ArgLayouts& layouts, size_t index, Access access, const Args& owner) {
    if (info.Length() <= index || !info[index].IsArray()) owner.fail("tensors must be an array of Tensors");
    Napi::Array array = info[index].As<Napi::Array>();
    const uint32_t n = array.Length();
    if (n > kMaxList) owner.fail("tensors may hold at most " + std::to_string(kMaxList) + " tensors");
    names_.reserve(n);  // no reallocation below: the names' pointers stay valid
    refs_.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (i % kPerArgs == 0) groups_.push_back(std::make_unique<Args>(info, op, layouts));
      names_.push_back("tensors[" + std::to_string(i) + "]");
      refs_.push_back(groups_.back()->tensor_value(array.Get(i), names_.back().c_str(), access));
    }
  }

  void bind(Backend& backend, const Args& owner) {
    for (auto& g : groups_) {
      if (&g->bind() != &backend) owner.fail("every tensor of the list must be on the device of the call's other tensors (" + backend.name() + ")");
    }
  }

  std::vector<TensorView> views() const {
    std::vector<TensorView> out;
    out.reserve(refs_.size());
    for (size_t i = 0; i < refs_.size(); ++i) out.push_back(groups_[i / kPerArgs]->view(refs_[i]));
    return out;
  }

 private:
  std::vector<std::unique_ptr<Args>> groups_;
  std::vector<std::string> names_;
  std::vector<Args::Ref> refs_;
};

// labelSmoothing, ignoreIndex and reduction at arguments i, i + 1, i + 2 into p's fields.
template <typename Params>
void read_loss_settings(const Args& args, size_t i, Params& p) {
  p.label_smoothing = static_cast<float>(args.number(i, "labelSmoothing"));
  p.ignore_index = args.integer(i + 1, "ignoreIndex", -kMaxIndex, kMaxIndex, "ignoreIndex must be an integer");
  p.reduction = static_cast<LossReduction>(args.integer(i + 2, "reduction", 0, 2, "reduction must be 0 (none), 1 (mean) or 2 (sum)"));
}

}  // namespace

// crossEntropy(out, lse, stats, logits, labels, labelSmoothing, ignoreIndex, reduction):
// CrossEntropyParams (native/core/training_ops.h).
Napi::Value Addon::CrossEntropy(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropy", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), lse = args.tensor(1, "lse", Access::Whole), stats = args.tensor(2, "stats", Access::Whole);
  const auto logits = args.tensor(3, "logits"), labels = args.tensor(4, "labels");
  CrossEntropyParams p;
  read_loss_settings(args, 5, p);
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.lse = args.view(lse);
  p.stats = args.view(stats);
  p.logits = args.view(logits);
  p.labels = args.view(labels);
  args.run([&] { dispatch::cross_entropy(backend, p); });
  return info.Env().Undefined();
}

// crossEntropyBackward(dlogits, dloss, logits, labels, lse, stats, labelSmoothing, ignoreIndex,
// reduction): lse and stats the forward's.
Napi::Value Addon::CrossEntropyBackward(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropyBackward", layouts_);
  const auto dlogits = args.tensor(0, "dlogits", Access::Whole), dloss = args.tensor(1, "dloss"), logits = args.tensor(2, "logits");
  const auto labels = args.tensor(3, "labels"), lse = args.tensor(4, "lse"), stats = args.tensor(5, "stats");
  CrossEntropyBackwardParams p;
  read_loss_settings(args, 6, p);
  Backend& backend = args.bind();
  p.dlogits = args.view(dlogits);
  p.d_loss = args.view(dloss);
  p.logits = args.view(logits);
  p.labels = args.view(labels);
  p.lse = args.view(lse);
  p.stats = args.view(stats);
  args.run([&] { dispatch::cross_entropy_backward(backend, p); });
  return info.Env().Undefined();
}

// patchScatter(images, patches, patch): the inverse of patchGather(patches, images, patch).
Napi::Value Addon::PatchScatter(const Napi::CallbackInfo& info) {
  Args args(info, "patchScatter", layouts_);
  const auto images = args.tensor(0, "images", Access::Whole), patches = args.tensor(1, "patches");
  PatchScatterParams p;
  p.patch = args.integer(2, "patch", 1, kMaxIndex, "patch must be a positive integer");
  Backend& backend = args.bind();
  p.images = args.view(images);
  p.patches = args.view(patches);
  args.run([&] { dispatch::patch_scatter(backend, p); });
  return info.Env().Undefined();
}

// multiNorm(out, tensors[], normType): out (float32, one element) = the normType-norm of every
// element of the tensors (contiguous floats on out's device) as one vector.
Napi::Value Addon::MultiNorm(const Napi::CallbackInfo& info) {
  Args args(info, "multiNorm", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole);
  MultiNormParams p;
  p.norm_type = static_cast<float>(args.number(2, "normType"));
  TensorList list(info, "multiNorm", layouts_, 1, Access::Read, args);
  Backend& backend = args.bind();
  list.bind(backend, args);
  p.out = args.view(out);
  p.tensors = list.views();
  args.run([&] { dispatch::multi_norm(backend, p); });
  return info.Env().Undefined();
}

// multiScale(norm, tensors[], maxNorm): each tensor (contiguous float, pairwise apart) times
// min(1, maxNorm / (norm + 1e-6)), in place; norm float32, one element.
Napi::Value Addon::MultiScale(const Napi::CallbackInfo& info) {
  Args args(info, "multiScale", layouts_);
  const auto norm = args.tensor(0, "norm");
  MultiScaleParams p;
  p.max_norm = static_cast<float>(args.number(2, "maxNorm"));
  TensorList list(info, "multiScale", layouts_, 1, Access::Whole, args);
  Backend& backend = args.bind();
  list.bind(backend, args);
  p.norm = args.view(norm);
  p.tensors = list.views();
  args.run([&] { dispatch::multi_scale(backend, p); });
  return info.Env().Undefined();
}

}  // namespace nf::addon
