// Args (args.h): the two phases of reading a call's arguments.
#include "args.h"

#include <cmath>
#include <string>

#include "plans.h"
#include "storage.h"
#include "wrapped.h"

namespace nf::addon {

Device parse_device(Napi::Env env, const Napi::Value& v, const char* op) {
  if (!v.IsString()) throw_arg(env, op, "device must be a string");
  char buf[kShortString];
  const std::string_view s = short_string(env, v, buf);
  Device d;
  if (s == "cpu") return d;
  if (s == "cuda") {
    d.kind = DeviceKind::CUDA;
    return d;
  }
  if (s.substr(0, 5) == "cuda:" && s.size() > 5 && s.size() < 9 && s.find_first_not_of("0123456789", 5) == std::string_view::npos) {
    d.kind = DeviceKind::CUDA;
    d.index = std::stoi(std::string(s.substr(5)));
    return d;
  }
  throw_arg(env, op, "unknown device '" + v.As<Napi::String>().Utf8Value() + "' (expected 'cpu', 'cuda' or 'cuda:N')");
}

std::string_view short_string(Napi::Env env, const Napi::Value& v, char (&buf)[kShortString]) {
  size_t len = 0;
  if (!v.IsString() || napi_get_value_string_utf8(env, v, buf, kShortString, &len) != napi_ok || len >= kShortString - 1) return {};
  return std::string_view(buf, len);
}

// ---- the layout slots ----------------------------------------------------------------------

void ArgLayouts::set(Napi::Env env, const Napi::CallbackInfo& info) {
  constexpr size_t kLength = static_cast<size_t>(kSlots) * kSlotDoubles;
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::Float64Array>().ElementLength() != kLength) {
    throw_arg(env, "setArgLayouts", "expected a Float64Array of " + std::to_string(kLength) + " elements");
  }
  buffer_ = Napi::Persistent(info[0].As<Napi::Float64Array>());
  double* slots = data(env, "setArgLayouts");
  for (int i = 0; i < kSlots; ++i) slots[i * kSlotDoubles] = -1;
}

double* ArgLayouts::data(Napi::Env env, const char* op) const {
  if (buffer_.IsEmpty()) return nullptr;
  napi_value array = buffer_.Value();
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0, byte_offset = 0;
  void* data = nullptr;
  napi_value arraybuffer = nullptr;
  if (napi_get_typedarray_info(env, array, &type, &length, &data, &arraybuffer, &byte_offset) != napi_ok || data == nullptr ||
      length != static_cast<size_t>(kSlots) * kSlotDoubles) {
    throw_arg(env, op, "the argument layout buffer was detached or resized (setArgLayouts)");
  }
  return static_cast<double*>(data);
}

// ---- phase 1 --------------------------------------------------------------------------------

void Args::fail_tensor(const char* name, const char* why) const { fail(std::string(name) + " " + why); }

void Args::require_alive(const Entry& e) const {
  if (e.buffer && !e.buffer->released()) return;
  fail_tensor(e.name, e.buffer && e.buffer->orphaned() ? kOrphanedWhy : "has been disposed");
}

Args::Ref Args::tensor(size_t i, const char* name, Access access) {
  return read(info_[i], name, access, static_cast<int>(i));
}

Args::Ref Args::optional_tensor(size_t i, const char* name, Access access) {
  return given(i) ? read(info_[i], name, access, static_cast<int>(i)) : Ref{};
}

Napi::Value Args::field(const Napi::Object& o, const char* key) {
  slots_ = nullptr;  // Get runs JavaScript: the layout buffer may be gone after it
  return o.Get(key);
}

Args::Ref Args::element(const Napi::Array& a, uint32_t j, const char* name, Access access) {
  slots_ = nullptr;  // Get runs JavaScript: the layout buffer may be gone after it
  return read(a.Get(j), name, access, -1);
}

Args::Ref Args::optional_field(const Napi::Object& o, const char* key) {
  const Napi::Value v = field(o, key);
  return v.IsNull() || v.IsUndefined() ? Ref{} : read(v, key, Access::Read, -1);
}

// Reads a tensor, given either as the TS Tensor class lays it out ({ _storage, offset, shape,
// strides, dtype }) or as its Storage with the layout in argument slot `slot` (ts/native.ts
// packs Tensors so), and checks that every element it can address lies inside its storage.
Args::Ref Args::read(const Napi::Value& v, const char* name, Access access, int slot) {
  if (count_ == kMaxTensors) fail("internal: too many tensor arguments");
  Entry& e = entries_[count_];
  e = Entry{};
  e.name = name;
  if (!v.IsObject()) fail_tensor(name, "must be a Tensor");
  double offset = 0, shape[kMaxDims] = {}, strides[kMaxDims] = {};
  double rank = 0, strides_rank = 0, code = -1;
  Storage* storage = slot >= 0 && slot < ArgLayouts::kSlots ? unwrap_as<Storage>(env_, v) : nullptr;
  if (storage != nullptr) {
    if (slots_ == nullptr) slots_ = layouts_.data(env_, op_);
    if (slots_ == nullptr) fail_tensor(name, "must be a Tensor");  // no layout buffer set
    double layout[ArgLayouts::kSlotDoubles];
    double* at = slots_ + slot * ArgLayouts::kSlotDoubles;
    for (int j = 0; j < ArgLayouts::kSlotDoubles; ++j) layout[j] = at[j];
    at[0] = -1;
    code = layout[0];
    if (code == -1) fail_tensor(name, "must be a Tensor");  // a Storage without a layout written for this call
    e.buffer = storage->buffer();
    require_alive(e);
    offset = layout[1];
    rank = layout[2];
    strides_rank = layout[3 + 2 * kMaxDims];
    if (!(rank >= 0 && rank <= kMaxDims && rank == std::floor(rank)) || strides_rank != rank) fail_tensor(name, "has a bad rank");
    for (int d = 0; d < static_cast<int>(rank); ++d) {
      shape[d] = layout[3 + d];
      strides[d] = layout[3 + kMaxDims + d];
    }
  } else {
    slots_ = nullptr;  // the Gets below run JavaScript
    Napi::Object o = v.As<Napi::Object>();
    storage = unwrap_as<Storage>(env_, o.Get("_storage"));
    if (storage == nullptr) fail_tensor(name, "must be a Tensor");
    e.buffer = storage->buffer();  // held now: the getters below may dispose or refill the Storage
    storage = nullptr;
    require_alive(e);
    char dtype_buf[kShortString];
    DType dt;
    if (!dtype_from_name(short_string(env_, o.Get("dtype"), dtype_buf), &dt)) fail_tensor(name, "has an unknown dtype");
    code = static_cast<double>(dt);
    // The reads below are N-API's own calls, each of which fails on a value of the wrong
    // type: no separate type test before it. An exception a getter raised goes on as it is.
    Napi::Value shape_v = o.Get("shape"), strides_v = o.Get("strides"), offset_v = o.Get("offset");
    uint32_t r = 0, sr = 0;
    auto rethrow_pending = [&] {
      if (env_.IsExceptionPending()) throw env_.GetAndClearPendingException();
    };
    if (napi_get_array_length(env_, shape_v, &r) != napi_ok || napi_get_array_length(env_, strides_v, &sr) != napi_ok ||
        napi_get_value_double(env_, offset_v, &offset) != napi_ok) {
      rethrow_pending();
      fail_tensor(name, "must be a Tensor");
    }
    if (r > static_cast<uint32_t>(kMaxDims) || sr != r) fail_tensor(name, "has a bad rank");
    rank = strides_rank = r;
    for (uint32_t d = 0; d < r; ++d) {
      napi_value sh = nullptr, st = nullptr;
      if (napi_get_element(env_, shape_v, d, &sh) != napi_ok || napi_get_element(env_, strides_v, d, &st) != napi_ok ||
          napi_get_value_double(env_, sh, &shape[d]) != napi_ok || napi_get_value_double(env_, st, &strides[d]) != napi_ok) {
        rethrow_pending();
        fail_tensor(name, "has a bad shape");
      }
    }
  }
  // From here on, plain values only.
  if (!(code >= 0 && code <= static_cast<double>(DType::UInt8) && code == std::floor(code))) fail_tensor(name, "has an unknown dtype");
  TensorView& view = e.view;
  view.dtype = static_cast<DType>(static_cast<int>(code));
  view.ndim = static_cast<int>(rank);
  if (!(offset >= 0) || offset != std::floor(offset) || offset > kMaxIndex) fail_tensor(name, "has a bad offset");
  double last = offset;  // the furthest element the view can address
  double elements = 1;   // the product of the non-zero sizes: bounded, so no int64 product overflows
  for (int d = 0; d < view.ndim; ++d) {
    const double sv = shape[d], stv = strides[d];
    if (!(sv >= 0) || sv != std::floor(sv) || !(stv >= 0) || stv != std::floor(stv) || sv > kMaxIndex || stv > kMaxIndex) {
      fail_tensor(name, "has a bad shape or strides");
    }
    view.shape[d] = static_cast<int64_t>(sv);
    view.strides[d] = static_cast<int64_t>(stv);
    if (sv == 0) e.empty = true;
    else elements *= sv;
    if (sv != 0) last += (sv - 1) * stv;
  }
  if (elements > kMaxIndex) fail_tensor(name, "has too many elements");
  const size_t elem = dtype_size(view.dtype);
  const double capacity = static_cast<double>(e.buffer->bytes()) / static_cast<double>(elem);
  if (!e.empty && last + 1 > capacity) fail_tensor(name, "addresses elements outside its storage");
  if (!e.empty && access == Access::Whole) {
    bool broadcast = elements > capacity;
    for (int d = 0; d < view.ndim; ++d) broadcast = broadcast || (view.shape[d] > 1 && view.strides[d] == 0);
    if (broadcast) fail_tensor(name, "is a broadcast view (stride 0), which cannot be written");
  }
  e.byte_offset = e.empty ? 0 : static_cast<size_t>(offset) * elem;  // an empty view is never dereferenced
  return Ref{count_++};
}

double Args::number(size_t i, const char* name) const {
  if (info_.Length() <= i || !info_[i].IsNumber()) fail(std::string(name) + " must be a number");
  return info_[i].As<Napi::Number>().DoubleValue();
}

int64_t Args::integer(size_t i, const char* name, double lo, double hi, const char* what) const {
  const double d = number(i, name);
  if (!(d >= lo && d <= hi && d == std::floor(d))) fail(what);
  return static_cast<int64_t>(d);
}

ActivationSpec Args::activation(size_t i) const {
  ActivationSpec a;
  a.kind = static_cast<Activation>(integer(i, "activation", 0, 7, "unknown activation"));
  a.param = static_cast<float>(number(i + 1, "activation parameter"));
  a.param2 = static_cast<float>(number(i + 2, "activation parameter"));
  return a;
}

void Args::plan(size_t i, const char* owner) {
  const SparsePlanObject* object = info_.Length() > i ? unwrap_as<SparsePlanObject>(env_, info_[i]) : nullptr;
  if (object == nullptr) fail("plan must be a SparsePlan (from sparsePlan())");
  plan_ = object->plan();
  has_plan_ = true;
  plan_owner_ = owner;
}

BlockPlanObject* Args::block_plan(size_t i, const char* owner) {
  if (!given(i)) return nullptr;
  BlockPlanObject* object = unwrap_as<BlockPlanObject>(env_, info_[i]);
  if (object == nullptr) fail("plan must be a BlockPlan (from blockPlan())");
  block_plan_ = object->plan();
  has_block_plan_ = true;
  plan_owner_ = owner;
  return object;
}

// ---- phase 2 --------------------------------------------------------------------------------

Backend& Args::bind(Devices devices) {
  Backend* backend = nullptr;
  for (int i = 0; i < count_; ++i) {
    Entry& e = entries_[i];
    require_alive(e);
    e.view.data = static_cast<char*>(e.buffer->data()) + e.byte_offset;
    Backend* mine = &e.buffer->backend();
    if (backend == nullptr) backend = mine;
    else if (devices == Devices::Same && mine != backend) {
      fail("tensors are on different devices (" + backend->name() + " and " + mine->name() + ")");
    }
  }
  if (backend == nullptr) fail("internal: a call without tensors");
  // A plan given, unwrapped in phase 1 (a constructor called from JS makes one with none).
  auto check_plan = [&](bool given, bool alive, Backend* theirs) {
    if (!given) return;
    if (!alive) fail("the plan has been disposed");
    if (theirs != backend) fail("the plan is on " + theirs->name() + " but " + plan_owner_ + " is on " + backend->name());
  };
  check_plan(has_plan_, plan_ && !plan_->released(), plan_ ? &plan_->backend() : nullptr);
  check_plan(has_block_plan_, block_plan_ && !block_plan_->released(), block_plan_ ? &block_plan_->backend() : nullptr);
  bound_ = true;
  return *backend;
}

const TensorView& Args::view(Ref r) const {
  if (!bound_ || !r.present()) fail("internal: a view read before bind");
  return entries_[r.index].view;
}

const std::shared_ptr<Buffer>& Args::buffer(Ref r) const { return entries_[r.index].buffer; }

std::shared_ptr<Backend> Args::backend_ptr() const { return entries_[0].buffer->backend_ptr(); }

}  // namespace nf::addon
