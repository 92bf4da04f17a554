// The plan objects a SparseMask and a BlockSparseLayout own (native/core/attention_plans.h):
//   SparsePlan  a CSR mask and its CSR kernel schedule on a device (sparsePlan());
//   BlockPlan   a block layout, or a SparsePlan's mask, and the tile lists of each kernel
//               tiling asked of it (blockPlan()).
// Each holds its memory until dispose() and reports it to V8 as external memory, as a
// Storage does. stats() and describe() read a plan back, for the policy and the tests.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "../core/attention_plans.h"
#include "errors.h"
#include "wrapped.h"

namespace nf::addon {

// The JS class of each kind of plan: its name and its type tag.
template <typename Plan>
struct PlanClass;
template <>
struct PlanClass<CsrPlan> {
  static constexpr const char* kName = "SparsePlan";
  static constexpr napi_type_tag kTag = {0x6e6f6465666f726dULL, 0x7370617273653031ULL};
};
template <>
struct PlanClass<BlockPlan> {
  static constexpr const char* kName = "BlockPlan";
  static constexpr napi_type_tag kTag = {0x6e6f6465666f726dULL, 0x626c6f636b703031ULL};
};

// A plan owned by a JS object: dispose(), disposed, bytes, stats() and describe(), every
// member checking its receiver's tag (wrapped.h); the plan's bytes reported to V8.
//   SparsePlan.stats() -> { maskHeads, nq, nk, nnz, items, leadItems, merges, slots }
//   SparsePlan.describe() -> stats() and { rowOffsets, colIndices, items, merges } read back
//   BlockPlan.stats(dtype, headDim[, nq, nk]) -> { tileM, tileN, tiles, area } at the tiling
//     of the kernel serving dtype and headDim on the plan's device (built now if new), or
//     null where that kernel has no tiles; nq and nk default to the mask's
//   BlockPlan.describe(tileM, tileN[, nq, nk]) -> { tileM, tileN, heads, offsets, cols, tiles,
//     area } at that tiling (built now if new), read back
// describe() is for tests (@internal in ts/native.ts).
template <typename Plan>
class PlanObject : public Napi::ObjectWrap<PlanObject<Plan>> {
 public:
  static constexpr const char* kName = PlanClass<Plan>::kName;
  static constexpr napi_type_tag kTag = PlanClass<Plan>::kTag;
  static Napi::Function Define(Napi::Env env);

  explicit PlanObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PlanObject>(info) { tag_instance<PlanObject>(info); }
  ~PlanObject() override {
    int64_t ignored = 0;
    if (accounted_ != 0) napi_adjust_external_memory(this->Env(), -accounted_, &ignored);
  }
  void Init(Napi::Env env, std::shared_ptr<Plan> plan) {
    plan_ = std::move(plan);
    account(env);
  }
  const std::shared_ptr<Plan>& plan() const { return plan_; }
  // Reports what the plan holds now to V8 (after a tiling was built, or a dispose); JS thread only.
  void account(Napi::Env env) {
    // Host memory only, as Storage::Init says why.
    const bool host = alive() && plan_->backend().kind() == DeviceKind::CPU;
    const int64_t change = static_cast<int64_t>(host ? plan_->bytes() : 0) - accounted_;
    int64_t ignored = 0;
    if (change != 0 && napi_adjust_external_memory(env, change, &ignored) == napi_ok) accounted_ += change;
  }

 private:
  bool alive() const { return plan_ && !plan_->released(); }
  // The live plan, or a TypeError naming `member` (a plan disposed, or made from JS: none).
  Plan& live(Napi::Env env, const char* member) const {
    if (!alive()) throw_arg(env, member, "the plan has been disposed");
    return *plan_;
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (plan_) plan_->release();
    account(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !alive()); }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), alive() ? static_cast<double>(plan_->bytes()) : 0); }
  Napi::Value Stats(const Napi::CallbackInfo& info);     // one for each Plan, in plans.cc
  Napi::Value Describe(const Napi::CallbackInfo& info);  // likewise

  std::shared_ptr<Plan> plan_;
  int64_t accounted_ = 0;  // bytes reported to V8 as external memory
};

using SparsePlanObject = PlanObject<CsrPlan>;
using BlockPlanObject = PlanObject<BlockPlan>;

// The elements of an Int32Array argument, copied out (a TypeError naming `op` and `name` for
// anything else, or a detached buffer).
std::vector<int32_t> int32_elements(Napi::Env env, const char* op, const Napi::Value& v, const char* name);

}  // namespace nf::addon
