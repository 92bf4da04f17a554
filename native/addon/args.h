// Reading a call's JS arguments, in two phases, for every op method alike:
//   1. read: every argument into plain values (a tensor's dtype, offset, shape and strides,
//      numbers, flags, an options object's fields), holding a reference to each storage's
//      Buffer for the call. The only phase that may run JavaScript (getters, Proxies).
//   2. bind: checks that every Buffer read is still alive (a getter in phase 1 may have
//      disposed one), builds the views, and checks that the tensors share one device.
// After bind() nothing runs JavaScript until the op has been dispatched (run()).
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "../core/attention_plans.h"
#include "../core/backend.h"
#include "../core/calls.h"
#include "../core/ops.h"
#include "../core/tensor.h"
#include "errors.h"
#include "plans.h"

namespace nf::addon {

// The largest element count, index, offset or stride a tensor argument may hold: 2^53, so
// that every one is exact in a double and no product of them overflows int64_t.
constexpr double kMaxIndex = 9007199254740992.0;

struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;
};

// 'cpu', 'cuda' or 'cuda:N'; anything else is a TypeError naming `op`.
Device parse_device(Napi::Env env, const Napi::Value& v, const char* op);

// A JS string of at most kShortString - 1 UTF-8 bytes, read without a heap allocation (the
// device and dtype names every op call reads); a longer one, or none, reads as "".
constexpr size_t kShortString = 16;
std::string_view short_string(Napi::Env env, const Napi::Value& v, char (&buf)[kShortString]);

// The tensor layouts ts/native.ts writes before each op call (setArgLayouts): one slot of
// kSlotDoubles per argument position, {dtype code, offset, rank, shape[8], strides[8],
// strides' rank}, in a Float64Array of the caller's. An argument given as its Storage
// reads its layout from its slot (no N-API call per field: a tensor read as an object costs
// ~20 calls, ~1 us). A slot is marked read (dtype code -1) as it is read, so that a Storage
// passed without a fresh layout is refused. No pointer into the array is kept across calls
// or across JavaScript: it may be detached or resized at any time.
class ArgLayouts {
 public:
  static constexpr int kSlots = 16;
  static constexpr int kSlotDoubles = 20;
  void set(Napi::Env env, const Napi::CallbackInfo& info);
  // The slots' elements now (null when no buffer was set); refuses a buffer that no longer
  // has its full size (detached, or its resizable ArrayBuffer shrunk).
  double* data(Napi::Env env, const char* op) const;

 private:
  Napi::Reference<Napi::Float64Array> buffer_;
};

// Written (outputs) or read whole (attention's q, k, v): no broadcast, and no more elements
// than the storage holds, so that a kernel's work is bounded by the memory it touches.
enum class Access { Read, Whole };
// Whether the tensors of a call must share one device (every op but copyPeer).
enum class Devices { Same, Any };

class Args {
 public:
  // A tensor argument read in phase 1 (absent: an optional one given as null or undefined).
  struct Ref {
    int index = -1;
    bool present() const { return index >= 0; }
  };

  // The most tensors one Args reads (TensorLists reads a longer list with several).
  static constexpr int kMaxTensors = 20;

  Args(const Napi::CallbackInfo& info, const char* op, const ArgLayouts& layouts)
      : info_(info), env_(info.Env()), op_(op), layouts_(layouts) {}
  Args(const Args&) = delete;
  Args& operator=(const Args&) = delete;

  Napi::Env env() const { return env_; }
  const char* op() const { return op_; }
  [[noreturn]] void fail(const std::string& what) const { throw_arg(env_, op_, what); }

  // ---- phase 1 ----
  Ref tensor(size_t i, const char* name, Access access = Access::Read);
  // Null or undefined: absent.
  Ref optional_tensor(size_t i, const char* name, Access access = Access::Read);
  // A field of an options object (read with Get: runs JavaScript; no layout slot).
  Ref optional_field(const Napi::Object& o, const char* key);
  // A tensor the caller read itself (an array's element), named `name` (kept by the caller).
  Ref tensor_value(const Napi::Value& v, const char* name, Access access = Access::Read) { return read(v, name, access, -1); }
  Napi::Value field(const Napi::Object& o, const char* key);
  // Element j of a JS array of tensors (read with Get: runs JavaScript; no layout slot).
  Ref element(const Napi::Array& a, uint32_t j, const char* name, Access access = Access::Read);
  bool full() const { return count_ == kMaxTensors; }
  double number(size_t i, const char* name) const;
  // An integer in [lo, hi], else "op: <what>".
  int64_t integer(size_t i, const char* name, double lo, double hi, const char* what) const;
  bool flag(size_t i) const { return info_.Length() > i && info_[i].ToBoolean(); }
  bool given(size_t i) const { return info_.Length() > i && !info_[i].IsNull() && !info_[i].IsUndefined(); }
  ActivationSpec activation(size_t i) const;
  // A SparsePlan (sparsePlan()) at argument i, for the tensors `owner` names.
  void plan(size_t i, const char* owner);
  // A BlockPlan (blockPlan()) at argument i, or null or undefined (absent: returns null).
  BlockPlanObject* block_plan(size_t i, const char* owner);

  // ---- phase 2 ----
  Backend& bind(Devices devices = Devices::Same);
  const TensorView& view(Ref r) const;
  const TensorView* maybe(Ref r) const { return r.present() ? &view(r) : nullptr; }
  const std::shared_ptr<Buffer>& buffer(Ref r) const;
  const SparsePlan* sparse_plan() const { return plan_ ? &plan_->view() : nullptr; }
  BlockPlan* block_plan() const { return block_plan_.get(); }
  std::shared_ptr<Backend> backend_ptr() const;
  // Dispatches after bind(): native exceptions become JS Errors naming the op.
  template <typename Fn>
  auto run(Fn&& fn) -> decltype(fn()) {
    if (!bound_) fail("internal: run before bind");
    return guarded(env_, op_, fn);
  }

 private:
  struct Entry {
    const char* name = nullptr;
    std::shared_ptr<Buffer> buffer;  // held for the call
    TensorView view;                 // data filled by bind()
    size_t byte_offset = 0;
    bool empty = false;
  };
  Ref read(const Napi::Value& v, const char* name, Access access, int slot);
  [[noreturn]] void fail_tensor(const char* name, const char* why) const;
  // The buffer of a Storage read now, or a refusal naming why it has no memory.
  void require_alive(const Entry& e) const;

  const Napi::CallbackInfo& info_;
  Napi::Env env_;
  const char* op_;
  const ArgLayouts& layouts_;
  double* slots_ = nullptr;  // the layout slots, fetched once per call; dropped whenever JavaScript runs
  Entry entries_[kMaxTensors];
  int count_ = 0;
  bool bound_ = false;
  bool has_plan_ = false, has_block_plan_ = false;
  const char* plan_owner_ = nullptr;
  // Held for the call, as a tensor's Buffer is.
  std::shared_ptr<CsrPlan> plan_;
  std::shared_ptr<BlockPlan> block_plan_;
};

}  // namespace nf::addon
