// Storage: a Buffer owned by a JS object (what a Tensor's _storage is). Its bytes count as
// V8 external memory while it holds them, so that the GC sees what dropped tensors keep.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>

#include "../core/backend.h"

namespace nf::addon {

// Why a tensor made inside a CUDA graph capture can hold no memory (Buffer::orphaned).
constexpr const char* kOrphanedWhy =
    "was made inside a CUDA graph capture that failed, or by a graph disposed before it ever ran: it has no memory";

class Storage : public Napi::ObjectWrap<Storage> {
 public:
  static constexpr const char* kName = "Storage";
  static constexpr napi_type_tag kTag = {0x6e6f6465666f726dULL, 0x73746f7261676531ULL};

  static Napi::Function Define(Napi::Env env);
  explicit Storage(const Napi::CallbackInfo& info);
  ~Storage() override;

  // Takes `buffer` (a new one, or new memory for a disposed spare).
  void Init(Napi::Env env, std::shared_ptr<Buffer> buffer);
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  bool alive() const { return buffer_ && !buffer_->released(); }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  // upload(byteOffset, bytes: Uint8Array)
  Napi::Value Upload(const Napi::CallbackInfo& info);
  // readSync(byteOffset, into: Uint8Array): blocks until the bytes are there.
  Napi::Value ReadSync(const Napi::CallbackInfo& info);
  // read(byteOffset, into: Uint8Array) -> Promise<void>. On a GPU the bytes are first
  // snapshotted on the stream (so later in-place ops cannot change what is read), then a
  // worker thread waits for them: the event loop never blocks.
  Napi::Value Read(const Napi::CallbackInfo& info);

  // upload (host to storage) or readSync (storage to host, waiting) of (byteOffset, Uint8Array).
  Napi::Value transfer(const Napi::CallbackInfo& info, const char* op, bool upload);
  // Checks that [byte_offset, byte_offset + length) lies inside the live buffer.
  void check_range(Napi::Env env, const char* op, double byte_offset, size_t length) const;
  // Reports `bytes` more (or fewer) bytes held to V8; only on the JS thread.
  void account(Napi::Env env, int64_t bytes);

  std::shared_ptr<Buffer> buffer_;
  int64_t accounted_ = 0;  // bytes reported to V8 as external memory
};

}  // namespace nf::addon
