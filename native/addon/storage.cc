// Storage's members and the ReadWorker behind read().
#include "storage.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../core/error.h"
#include "errors.h"
#include "wrapped.h"

namespace nf::addon {
namespace {

Napi::Uint8Array bytes_arg(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_arg(info.Env(), op, "expected a Uint8Array");
  }
  return info[i].As<Napi::Uint8Array>();
}

double offset_arg(const Napi::CallbackInfo& info) {
  return info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
}

// Waits for a device read on a worker thread. The bytes land in a staging block of the
// worker's own and reach the caller's array in OnOK, on the JS thread, after its length is
// checked again: JavaScript may detach or shrink that array's buffer while the read is pending
// (writing into it from the worker then crashed: the hostile fuzz's CUDA run, 2026-12-07).
class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, std::shared_ptr<Buffer> snapshot, Napi::Uint8Array dst)
      : Napi::AsyncWorker(env, "nodeformers.read"),
        deferred_(Napi::Promise::Deferred::New(env)),
        snapshot_(std::move(snapshot)),
        dst_(Napi::Persistent(dst)),
        staging_(dst.ByteLength()) {}
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      snapshot_->backend().copy_to_host(staging_.data(), snapshot_->data(), staging_.size());
    } catch (const Error& e) {
      code_ = error_code_name(e.code());
      SetError(std::string("read: ") + e.what());
    }
  }
  void OnOK() override {
    snapshot_->release();
    Napi::Uint8Array dst = dst_.Value();
    if (dst.ByteLength() != staging_.size()) {
      reject("ERR_INVALID_ARG", "read: the destination array's buffer was detached or resized while the read was pending");
      return;
    }
    std::memcpy(dst.Data(), staging_.data(), staging_.size());
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    snapshot_->release();
    reject(code_, e.Message());
  }

 private:
  void reject(const std::string& code, const std::string& message) {
    Napi::Error err = Napi::Error::New(Env(), message);
    err.Set("code", Napi::String::New(Env(), code));
    deferred_.Reject(err.Value());
  }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Buffer> snapshot_;
  Napi::Reference<Napi::Uint8Array> dst_;
  std::vector<uint8_t> staging_;
  std::string code_ = "ERR_CUDA";
};

}  // namespace

Napi::Function Storage::Define(Napi::Env env) {
  // Here, where the private members can be named; static, so their addresses stay valid.
  static const Member<Storage> members[] = {
      {"dispose", &Storage::Dispose}, {"bytes", &Storage::Bytes},       {"device", &Storage::DeviceName},
      {"disposed", &Storage::Disposed}, {"upload", &Storage::Upload}, {"readSync", &Storage::ReadSync},
      {"read", &Storage::Read}};
  Napi::Function ctor = DefineClass(env, kName, {checked_getter(members[1]), checked_getter(members[2]), checked_getter(members[3])});
  for (const int i : {0, 4, 5, 6}) add_checked_method(env, ctor, members[i]);
  return ctor;
}

Storage::Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) { tag_instance<Storage>(info); }

Storage::~Storage() {
  if (accounted_ != 0) {
    int64_t ignored = 0;
    napi_adjust_external_memory(Env(), -accounted_, &ignored);
  }
}

void Storage::account(Napi::Env env, int64_t bytes) {
  if (bytes == 0) return;
  int64_t ignored = 0;
  if (napi_adjust_external_memory(env, bytes, &ignored) == napi_ok) accounted_ += bytes;
}

void Storage::Init(Napi::Env env, std::shared_ptr<Buffer> buffer) {
  account(env, -accounted_);
  buffer_ = std::move(buffer);
  // Host memory only: V8 answers external memory with collections on the allocation path,
  // which made an eager float32 vanilla ViT forward on an H100 2.2x slower when device
  // bytes were reported too (BENCHMARKS.md, the forward A/B of 2026-12-07).
  if (buffer_ && buffer_->backend().kind() == DeviceKind::CPU) account(env, static_cast<int64_t>(buffer_->bytes()));
}

Napi::Value Storage::Dispose(const Napi::CallbackInfo& info) {
  if (buffer_) buffer_->release();
  account(info.Env(), -accounted_);
  return info.Env().Undefined();
}

Napi::Value Storage::Bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), buffer_ ? static_cast<double>(buffer_->bytes()) : 0);
}

Napi::Value Storage::DeviceName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), buffer_ ? buffer_->backend().name() : "none");
}

Napi::Value Storage::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !alive()); }

void Storage::check_range(Napi::Env env, const char* op, double byte_offset, size_t length) const {
  if (!alive()) {
    throw_arg(env, op, buffer_ && buffer_->orphaned() ? std::string("the tensor ") + kOrphanedWhy : "the tensor's storage has been disposed");
  }
  if (buffer_->backend().capturing()) {
    throw_arg(env, op, "host transfers cannot be captured into a CUDA graph (" + buffer_->backend().name() + " is capturing)");
  }
  if (!(byte_offset >= 0) || byte_offset != std::floor(byte_offset) ||
      byte_offset + static_cast<double>(length) > static_cast<double>(buffer_->bytes())) {
    throw_arg(env, op, "byte range is outside the storage");
  }
}

Napi::Value Storage::Upload(const Napi::CallbackInfo& info) { return transfer(info, "upload", true); }
Napi::Value Storage::ReadSync(const Napi::CallbackInfo& info) { return transfer(info, "readSync", false); }

Napi::Value Storage::transfer(const Napi::CallbackInfo& info, const char* op, bool upload) {
  Napi::Env env = info.Env();
  const double offset = offset_arg(info);
  Napi::Uint8Array host = bytes_arg(info, 1, op);
  check_range(env, op, offset, host.ByteLength());
  char* at = static_cast<char*>(buffer_->data()) + static_cast<size_t>(offset);
  guarded(env, op, [&] {
    if (upload) buffer_->backend().copy_from_host(at, host.Data(), host.ByteLength());
    else buffer_->backend().copy_to_host(host.Data(), at, host.ByteLength());
  });
  return env.Undefined();
}

Napi::Value Storage::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double offset = offset_arg(info);
  Napi::Uint8Array dst = bytes_arg(info, 1, "read");
  check_range(env, "read", offset, dst.ByteLength());
  Backend& backend = buffer_->backend();
  // An idle CPU queue has the bytes ready: read them now, without a trip to a worker thread.
  if ((backend.kind() == DeviceKind::CPU && backend.idle()) || dst.ByteLength() == 0) {
    ReadSync(info);
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  return guarded(env, "read", [&]() -> Napi::Value {
    auto snapshot = std::make_shared<Buffer>(buffer_->backend_ptr(), dst.ByteLength());
    TensorView src, dst_view;
    src.data = static_cast<char*>(buffer_->data()) + static_cast<size_t>(offset);
    dst_view.data = snapshot->data();
    src.dtype = dst_view.dtype = DType::UInt8;
    src.ndim = dst_view.ndim = 1;
    src.shape[0] = dst_view.shape[0] = static_cast<int64_t>(dst.ByteLength());
    src.strides[0] = dst_view.strides[0] = 1;
    backend.copy(dst_view, src);
    auto* worker = new ReadWorker(env, std::move(snapshot), dst);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace nf::addon
