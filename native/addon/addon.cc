// The Node-API glue: unwraps JS arguments into the plain structs of native/core, checks
// them once more (so a direct call into the addon cannot crash the process either),
// dispatches to the backend of the tensors' device, and turns nf::Error into JS Errors
// with a `code`. No op semantics live here.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/attention_limits.h"
#include "../core/backend.h"
#include "../core/encoder_block.h"
#include "../core/error.h"
#include "../core/tensor.h"
#ifdef NODEFORMERS_WITH_CUDA
#include "../cuda/check.h"
#include "../cuda/cuda_backend.h"
#endif

namespace nf::addon {
namespace {

// The largest element count, index, offset or stride a tensor argument may hold: 2^53, so
// that every one is exact in a double and no product of them overflows int64_t.
constexpr double kMaxIndex = 9007199254740992.0;

// Marks the JS objects that wrap a Storage (Node-API type tagging).
constexpr napi_type_tag kStorageTag = {0x6e6f6465666f726dULL, 0x73746f7261676531ULL};
constexpr napi_type_tag kSparsePlanTag = {0x6e6f6465666f726dULL, 0x7370617273653031ULL};

// Why a tensor made inside a CUDA graph capture can hold no memory (Buffer::orphaned).
constexpr const char* kOrphanedWhy =
    "was made inside a CUDA graph capture that failed, or by a graph disposed before it ever ran: it has no memory";

// Tensor layouts written by ts/native.ts before each op call: one slot of kSlotDoubles per
// argument position (kArgSlots of them), {dtype code, offset, rank, shape[8], strides[8],
// strides' rank}, in a Float64Array each addon instance keeps (setArgLayouts). An
// argument given as its Storage object reads its layout from its slot: no N-API call per
// field (the reads of a tensor given as an object cost ~20 calls, ~1 us). A slot is marked
// read (dtype code -1) as it is read, so a Storage passed without a fresh layout is refused.
constexpr int kArgSlots = 16;
constexpr int kSlotDoubles = 20;

// ---- errors ---------------------------------------------------------------------------

[[noreturn]] void throw_js(Napi::Env env, const char* code, const std::string& message, bool type_error = false) {
  Napi::Error err = type_error ? Napi::TypeError::New(env, message) : Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

#ifndef NODEFORMERS_WITH_CUDA
// What a CUDA-only call does in a build without the CUDA backend.
[[noreturn]] void throw_no_cuda(Napi::Env env, const char* op) {
  throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": this build has no CUDA backend", true);
}
#endif

// Runs fn, turning native exceptions into JS Errors that name `op`.
template <typename Fn>
auto guarded(Napi::Env env, const char* op, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw_js(env, error_code_name(e.code()), std::string(op) + ": " + e.what(), e.code() == ErrorCode::InvalidArg);
  } catch (const std::bad_alloc&) {
    throw_js(env, "ERR_OUT_OF_MEMORY", std::string(op) + ": out of host memory");
  } catch (const std::exception& e) {
    throw_js(env, "ERR_INTERNAL", std::string(op) + ": " + e.what());
  }
}

// ---- per-context state ----------------------------------------------------------------

class Addon;

struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;
};

// ---- Storage: a Buffer owned by a JS object ---------------------------------------------

class Storage : public Napi::ObjectWrap<Storage> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Storage",
                       {InstanceMethod("dispose", &Storage::Dispose), InstanceAccessor("bytes", &Storage::Bytes, nullptr),
                        InstanceAccessor("device", &Storage::DeviceName, nullptr),
                        InstanceAccessor("disposed", &Storage::Disposed, nullptr),
                        InstanceMethod("upload", &Storage::Upload), InstanceMethod("readSync", &Storage::ReadSync),
                        InstanceMethod("read", &Storage::Read)});
  }
  explicit Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) {}

  void Init(std::shared_ptr<Buffer> buffer) { buffer_ = std::move(buffer); }
  Buffer* buffer() const { return buffer_ ? buffer_.get() : nullptr; }
  const std::shared_ptr<Buffer>& shared_buffer() const { return buffer_; }
  bool alive() const { return buffer_ && !buffer_->released(); }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (buffer_) buffer_->release();
    return info.Env().Undefined();
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), buffer_ ? static_cast<double>(buffer_->bytes()) : 0);
  }
  Napi::Value DeviceName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), buffer_ ? buffer_->backend().name() : "none");
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !alive()); }

  // Checks that [byte_offset, byte_offset + length) lies inside the live buffer.
  void check_range(Napi::Env env, const char* op, double byte_offset, size_t length) const {
    if (!alive()) {
      throw_js(env, "ERR_INVALID_ARG", std::string(op) + (buffer_ && buffer_->orphaned()
          ? std::string(": the tensor ") + kOrphanedWhy
          : std::string(": the tensor's storage has been disposed")), true);
    }
    if (buffer_->backend().capturing()) {
      throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": host transfers cannot be captured into a CUDA graph (" + buffer_->backend().name() + " is capturing)", true);
    }
    if (!(byte_offset >= 0) || byte_offset != std::floor(byte_offset) ||
        byte_offset + static_cast<double>(length) > static_cast<double>(buffer_->bytes())) {
      throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": byte range is outside the storage", true);
    }
  }

  static Napi::Uint8Array bytes_arg(const Napi::CallbackInfo& info, size_t i, const char* op) {
    if (info.Length() <= i || !info[i].IsTypedArray() ||
        info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw_js(info.Env(), "ERR_INVALID_ARG", std::string(op) + ": expected a Uint8Array", true);
    }
    return info[i].As<Napi::Uint8Array>();
  }

  // upload(byteOffset, bytes: Uint8Array)
  Napi::Value Upload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const double offset = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    Napi::Uint8Array src = bytes_arg(info, 1, "upload");
    check_range(env, "upload", offset, src.ByteLength());
    guarded(env, "upload", [&] {
      buffer_->backend().copy_from_host(static_cast<char*>(buffer_->data()) + static_cast<size_t>(offset), src.Data(),
                                        src.ByteLength());
      return 0;
    });
    return env.Undefined();
  }

  // readSync(byteOffset, into: Uint8Array): blocks until the bytes are there.
  Napi::Value ReadSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const double offset = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    Napi::Uint8Array dst = bytes_arg(info, 1, "readSync");
    check_range(env, "readSync", offset, dst.ByteLength());
    guarded(env, "readSync", [&] {
      buffer_->backend().copy_to_host(dst.Data(), static_cast<char*>(buffer_->data()) + static_cast<size_t>(offset),
                                      dst.ByteLength());
      return 0;
    });
    return env.Undefined();
  }

  // read(byteOffset, into: Uint8Array) -> Promise<void>. On a GPU the bytes are first
  // snapshotted on the stream (so later in-place ops cannot change what is read), then a
  // worker thread waits for them: the event loop never blocks.
  Napi::Value Read(const Napi::CallbackInfo& info);

  std::shared_ptr<Buffer> buffer_;
};

// The Storage that `v` wraps, or null: only an object this addon made is unwrapped (the
// type tag rules out another addon's wrapped object, whose native pointer is no Storage).
Storage* unwrap_storage(napi_env env, const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kStorageTag)) return nullptr;
  void* unwrapped = nullptr;
  return napi_unwrap(env, v, &unwrapped) == napi_ok ? static_cast<Storage*>(unwrapped) : nullptr;
}

class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, std::shared_ptr<Buffer> snapshot, Napi::Uint8Array dst)
      : Napi::AsyncWorker(env, "nodeformers.read"),
        deferred_(Napi::Promise::Deferred::New(env)),
        snapshot_(std::move(snapshot)),
        dst_(Napi::Persistent(dst)),
        dst_data_(dst.Data()),
        bytes_(dst.ByteLength()) {}
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      snapshot_->backend().copy_to_host(dst_data_, snapshot_->data(), bytes_);
    } catch (const Error& e) {
      code_ = error_code_name(e.code());
      SetError(std::string("read: ") + e.what());
    }
  }
  void OnOK() override {
    snapshot_->release();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    snapshot_->release();
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Buffer> snapshot_;
  Napi::Reference<Napi::Uint8Array> dst_;
  void* dst_data_;
  size_t bytes_;
  std::string code_ = "ERR_CUDA";
};

Napi::Value Storage::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double offset = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  Napi::Uint8Array dst = bytes_arg(info, 1, "read");
  check_range(env, "read", offset, dst.ByteLength());
  Backend& backend = buffer_->backend();
  if (backend.kind() == DeviceKind::CPU || dst.ByteLength() == 0) {
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

// ---- SparsePlan: a CSR mask and its kernel schedule, checked once -------------------------

// What sparseAttention reads of a SparseMask besides q, k and v: the row offsets, column
// indices, work items and merges (int32 device tensors, held here so they outlive no use)
// and the counts, checked when the plan is made, so that each call reads one argument
// instead of four tensors (a tensor argument costs about 1 us of the host's time).
class SparsePlan : public Napi::ObjectWrap<SparsePlan> {
 public:
  static Napi::Function Define(Napi::Env env) { return DefineClass(env, "SparsePlan", {}); }
  explicit SparsePlan(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SparsePlan>(info) {}

  std::shared_ptr<Buffer> buffers[4];  // row offsets, column indices, items, merges
  const int32_t* row_offsets = nullptr;
  const int32_t* col_indices = nullptr;
  const int32_t* items = nullptr;
  const int32_t* merges = nullptr;
  int64_t mask_heads = 1, rows = 0, nnz = 0, num_items = 0, lead_items = 0, num_merges = 0, num_slots = 0;

  Backend& backend() const { return buffers[0]->backend(); }
  bool alive() const {
    for (const auto& b : buffers) {
      if (!b || b->released()) return false;
    }
    return true;
  }
  // The mask and schedule fields of `p` (the attention's own fields are the caller's).
  void describe(SparseAttentionParams& p) const {
    p.mask_heads = mask_heads;
    p.row_offsets = row_offsets;
    p.col_indices = col_indices;
    p.nnz = nnz;
    p.items = items;
    p.num_items = num_items;
    p.lead_items = lead_items;
    p.merges = merges;
    p.num_merges = num_merges;
    p.num_slots = num_slots;
  }
};

// ---- Graph: an instantiated CUDA graph owned by a JS object --------------------------------

#ifdef NODEFORMERS_WITH_CUDA
class Graph : public Napi::ObjectWrap<Graph> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Graph", {InstanceMethod("launch", &Graph::Launch), InstanceMethod("dispose", &Graph::Dispose),
                                      InstanceAccessor("disposed", &Graph::Disposed, nullptr)});
  }
  explicit Graph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Graph>(info) {}
  ~Graph() override { destroy(); }

  void Init(std::shared_ptr<Backend> backend, cudaGraphExec_t exec) {
    backend_ = std::move(backend);
    exec_ = exec;
  }

 private:
  cuda::CudaBackend& cuda() const { return static_cast<cuda::CudaBackend&>(*backend_); }
  // An executable graph still running is freed by the driver when it completes.
  void destroy() {
    if (exec_ == nullptr) return;
    cuda().destroy_graph(exec_);
    exec_ = nullptr;
  }
  Napi::Value Launch(const Napi::CallbackInfo& info) {
    if (exec_ == nullptr) throw_js(info.Env(), "ERR_INVALID_ARG", "graph.launch: the graph has been disposed", true);
    guarded(info.Env(), "graph.launch", [&] { cuda().launch_graph(exec_); return 0; });
    return info.Env().Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    guarded(info.Env(), "graph.dispose", [&] { destroy(); return 0; });
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), exec_ == nullptr); }

  std::shared_ptr<Backend> backend_;
  cudaGraphExec_t exec_ = nullptr;
};
#endif

// A JS string of at most kShortString - 1 UTF-8 bytes, read without a heap allocation (the
// device and dtype names every op call reads); a longer one, or none, reads as "".
constexpr size_t kShortString = 16;
// After a raw N-API call failed: an exception it raised in JavaScript (a getter, a Proxy)
// goes on as it is; otherwise the caller reports the wrong type.
inline void rethrow_pending(Napi::Env env) {
  if (env.IsExceptionPending()) throw env.GetAndClearPendingException();
}

inline std::string_view short_string(Napi::Env env, const Napi::Value& v, char (&buf)[kShortString]) {
  size_t len = 0;
  if (!v.IsString() || napi_get_value_string_utf8(env, v, buf, kShortString, &len) != napi_ok || len >= kShortString - 1) return {};
  return std::string_view(buf, len);
}

// ---- the addon instance -----------------------------------------------------------------

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    cpu_ = make_cpu_backend();
    storage_ctor_ = Napi::Persistent(Storage::Define(env));
    sparse_plan_ctor_ = Napi::Persistent(SparsePlan::Define(env));
#ifdef NODEFORMERS_WITH_CUDA
    graph_ctor_ = Napi::Persistent(Graph::Define(env));
#endif
    DefineAddon(exports,
                {
                    InstanceMethod("backends", &Addon::Backends),
                    InstanceMethod("allocate", &Addon::Allocate),
                    InstanceMethod("bufferBytes", &Addon::BufferBytes),
                    InstanceMethod("setArgLayouts", &Addon::SetArgLayouts),
                    InstanceMethod("copy", &Addon::Copy),
                    InstanceMethod("copyPeer", &Addon::CopyPeer),
                    InstanceMethod("fill", &Addon::Fill),
                    InstanceMethod("gemm", &Addon::Gemm),
                    InstanceMethod("norm", &Addon::Norm),
                    InstanceMethod("softmax", &Addon::Softmax),
                    InstanceMethod("biasActivation", &Addon::BiasActivation),
                    InstanceMethod("binary", &Addon::Binary),
                    InstanceMethod("mean", &Addon::Mean),
                    InstanceMethod("patchGather", &Addon::PatchGather),
                    InstanceMethod("attention", &Addon::Attention),
                    InstanceMethod("sparsePlan", &Addon::SparsePlanNew),
                    InstanceMethod("sparseAttention", &Addon::SparseAttention),
                    InstanceMethod("encoderBlock", &Addon::EncoderBlock),
                    InstanceMethod("attentionTileShape", &Addon::AttentionTileShape),
                    InstanceMethod("synchronize", &Addon::Synchronize),
                    InstanceMethod("cudaDeviceCount", &Addon::CudaDeviceCount),
                    InstanceMethod("cudaMemory", &Addon::CudaMemory),
                    InstanceMethod("cudaResetPeak", &Addon::CudaResetPeak),
                    InstanceMethod("cudaEmptyCache", &Addon::CudaEmptyCache),
                    InstanceMethod("cudaHostTimes", &Addon::CudaHostTimes),
                    InstanceMethod("cudaDeviceInfo", &Addon::CudaDeviceInfo),
                    InstanceMethod("cudaTimeRegion", &Addon::CudaTimeRegion),
                    InstanceMethod("cudaCaptureBegin", &Addon::CudaCaptureBegin),
                    InstanceMethod("cudaCaptureEnd", &Addon::CudaCaptureEnd),
                    InstanceMethod("cudaCaptureAbort", &Addon::CudaCaptureAbort),
                    InstanceMethod("cudaGraphMemTrim", &Addon::CudaGraphMemTrim),
                    InstanceValue("buildInfo", BuildInfo(env)),
                });
  }

 private:
  static Napi::Object BuildInfo(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
#ifdef NODEFORMERS_WITH_CUDA
    o.Set("cuda", true);
    o.Set("cudaArchitectures", NODEFORMERS_CUDA_ARCHITECTURES);
#else
    o.Set("cuda", false);
#endif
    o.Set("napiVersion", NAPI_VERSION);
    o.Set("maxHeadDim", static_cast<double>(kMaxAttentionHeadDim));
    return o;
  }

  // -- devices --

  static Device parse_device(Napi::Env env, const Napi::Value& v, const char* op) {
    if (!v.IsString()) throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": device must be a string", true);
    char buf[kShortString];
    const std::string_view s = short_string(env, v, buf);
    Device d;
    if (s == "cpu") return d;
    if (s == "cuda") { d.kind = DeviceKind::CUDA; return d; }
    if (s.substr(0, 5) == "cuda:" && s.size() > 5 && s.size() < 9 && s.find_first_not_of("0123456789", 5) == std::string_view::npos) {
      d.kind = DeviceKind::CUDA;
      d.index = std::stoi(std::string(s.substr(5)));
      return d;
    }
    throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": unknown device '" + v.As<Napi::String>().Utf8Value() + "' (expected 'cpu', 'cuda' or 'cuda:N')", true);
  }

  std::shared_ptr<Backend> backend_for(Napi::Env env, const Device& d, const char* op) {
    if (d.kind == DeviceKind::CPU) return cpu_;
#ifdef NODEFORMERS_WITH_CUDA
    if (static_cast<size_t>(d.index) >= cuda_.size()) cuda_.resize(d.index + 1);
    if (!cuda_[d.index]) cuda_[d.index] = guarded(env, op, [&] { return make_cuda_backend(d.index); });
    return cuda_[d.index];
#else
    throw_js(env, "ERR_INVALID_ARG",
             std::string(op) + ": this build of nodeformers has no CUDA backend (built without nvcc or cuBLASLt)", true);
#endif
  }

#ifdef NODEFORMERS_WITH_CUDA
  cuda::CudaBackend& cuda_backend(const Napi::CallbackInfo& info, const char* op) {
    const Device d = info.Length() > 0 && !info[0].IsUndefined() ? parse_device(info.Env(), info[0], op)
                                                                   : Device{DeviceKind::CUDA, 0};
    if (d.kind != DeviceKind::CUDA) throw_js(info.Env(), "ERR_INVALID_ARG", std::string(op) + ": not a CUDA device", true);
    return static_cast<cuda::CudaBackend&>(*backend_for(info.Env(), d, op));
  }
#endif

  Napi::Value Backends(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env());
    a.Set(0u, "cpu");
#ifdef NODEFORMERS_WITH_CUDA
    if (cuda_device_count() > 0) a.Set(1u, "cuda");
#endif
    return a;
  }

  Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    return Napi::Number::New(info.Env(), cuda_device_count());
#else
    return Napi::Number::New(info.Env(), 0);
#endif
  }

  // setArgLayouts(Float64Array of kArgSlots * kSlotDoubles): the buffer ts/native.ts writes
  // tensor layouts into before each call to this instance (arg_layouts_data_). Kept alive
  // here; every slot starts marked read.
  Napi::Value SetArgLayouts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[0].As<Napi::Float64Array>().ElementLength() != static_cast<size_t>(kArgSlots * kSlotDoubles)) {
      throw_js(env, "ERR_INVALID_ARG", "setArgLayouts: expected a Float64Array of " + std::to_string(kArgSlots * kSlotDoubles) + " elements", true);
    }
    Napi::Float64Array layouts = info[0].As<Napi::Float64Array>();
    arg_layouts_ = Napi::Persistent(layouts);
    arg_layouts_data_ = layouts.Data();
    for (int i = 0; i < kArgSlots; ++i) arg_layouts_data_[i * kSlotDoubles] = -1;
    return env.Undefined();
  }

  // allocate(device, bytes[, spare]) -> Storage. `spare`, a Storage of this addon's whose
  // buffer was disposed, takes the new memory and is returned in place of a new Storage:
  // making a wrapped object (and collecting it later) costs the host more than the cached
  // allocation itself, so ts/tensor.ts hands back its retired storages. A Storage still in
  // use (or one that lost its memory with a failed capture but was never disposed) is no spare.
  Napi::Value Allocate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Device d = parse_device(env, info[0], "allocate");
    const double bytes = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (!(bytes >= 0) || bytes != std::floor(bytes) || bytes > 9007199254740991.0) {
      throw_js(env, "ERR_INVALID_ARG", "allocate: byte count must be a non-negative integer", true);
    }
    Storage* spare = nullptr;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      spare = unwrap_storage(env, info[2]);
      if (spare == nullptr) throw_js(env, "ERR_INVALID_ARG", "allocate: spare must be a Storage", true);
      if (spare->buffer() != nullptr && !spare->buffer()->disposed()) {
        throw_js(env, "ERR_INVALID_ARG", "allocate: spare is a Storage still in use (dispose it first)", true);
      }
    }
    auto backend = backend_for(env, d, "allocate");
    auto buffer = guarded(env, "allocate", [&] { return std::make_shared<Buffer>(backend, static_cast<size_t>(bytes)); });
    if (spare != nullptr) {
      spare->Init(std::move(buffer));
      return info[2];
    }
    Napi::Object obj = storage_ctor_.New({});
    Storage::Unwrap(obj)->Init(std::move(buffer));
    obj.TypeTag(&kStorageTag);
    return obj;
  }

  // -- tensors --

  struct Arg {
    TensorView view;
    Buffer* buffer = nullptr;
    Storage* storage = nullptr;
  };

  // Reads a tensor argument, given either as the TS Tensor class lays it out ({ _storage,
  // offset, shape, strides, dtype }) or as its Storage with the layout in argument slot
  // `slot` (ts/native.ts packs Tensors so), and checks that every element it can address
  // lies inside its live storage.
  Arg tensor_arg(Napi::Env env, const Napi::Value& v, const char* op, const char* name, bool dense = false,
                        int slot = -1) {
    auto fail = [&](const std::string& why) -> void {
      throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": " + name + " " + why, true);
    };
    if (!v.IsObject()) fail("must be a Tensor");
    auto check_alive = [&](const Storage* st) {
      if (!st->alive()) fail(st->buffer() != nullptr && st->buffer()->orphaned() ? kOrphanedWhy : "has been disposed");
    };
    double offset = 0, shape[kMaxDims] = {}, strides[kMaxDims] = {};
    double rank = 0, strides_rank = 0, code = -1;
    Storage* storage = slot >= 0 && slot < kArgSlots && arg_layouts_data_ != nullptr ? unwrap_storage(env, v) : nullptr;
    if (storage != nullptr) {
      double* layout = arg_layouts_data_ + slot * kSlotDoubles;
      code = layout[0];
      layout[0] = -1;
      if (code == -1) fail("must be a Tensor");  // a Storage without a layout written for this call
      check_alive(storage);
      offset = layout[1];
      rank = layout[2];
      strides_rank = layout[3 + 2 * kMaxDims];
      if (!(rank >= 0 && rank <= kMaxDims && rank == std::floor(rank)) || strides_rank != rank) fail("has a bad rank");
      for (int d = 0; d < static_cast<int>(rank); ++d) {
        shape[d] = layout[3 + d];
        strides[d] = layout[3 + kMaxDims + d];
      }
    } else {
      Napi::Object o = v.As<Napi::Object>();
      storage = unwrap_storage(env, o.Get("_storage"));
      if (storage == nullptr) fail("must be a Tensor");
      check_alive(storage);
      char dtype_buf[kShortString];
      DType dt;
      if (!dtype_from_name(short_string(env, o.Get("dtype"), dtype_buf), &dt)) fail("has an unknown dtype");
      code = static_cast<double>(dt);
      // The reads below are N-API's own calls, each of which fails on a value of the wrong
      // type: no separate type test before it.
      Napi::Value shape_v = o.Get("shape"), strides_v = o.Get("strides"), offset_v = o.Get("offset");
      uint32_t r = 0, sr = 0;
      if (napi_get_array_length(env, shape_v, &r) != napi_ok || napi_get_array_length(env, strides_v, &sr) != napi_ok ||
          napi_get_value_double(env, offset_v, &offset) != napi_ok) {
        rethrow_pending(env);
        fail("must be a Tensor");
      }
      if (r > static_cast<uint32_t>(kMaxDims) || sr != r) fail("has a bad rank");
      rank = strides_rank = r;
      for (uint32_t d = 0; d < r; ++d) {
        napi_value sh = nullptr, st = nullptr;
        if (napi_get_element(env, shape_v, d, &sh) != napi_ok || napi_get_element(env, strides_v, d, &st) != napi_ok ||
            napi_get_value_double(env, sh, &shape[d]) != napi_ok || napi_get_value_double(env, st, &strides[d]) != napi_ok) {
          rethrow_pending(env);
          fail("has a bad shape");
        }
      }
    }
    Arg arg;
    arg.buffer = storage->buffer();
    arg.storage = storage;
    if (!(code >= 0 && code <= static_cast<double>(DType::UInt8) && code == std::floor(code))) fail("has an unknown dtype");
    arg.view.dtype = static_cast<DType>(static_cast<int>(code));
    arg.view.ndim = static_cast<int>(rank);
    if (!(offset >= 0) || offset != std::floor(offset) || offset > kMaxIndex) fail("has a bad offset");
    double last = offset;  // the furthest element the view can address
    double elements = 1;   // the product of the non-zero sizes: bounded, so no int64 product overflows
    bool empty = false;
    for (int d = 0; d < arg.view.ndim; ++d) {
      const double sv = shape[d], stv = strides[d];
      if (!(sv >= 0) || sv != std::floor(sv) || !(stv >= 0) || stv != std::floor(stv) || sv > kMaxIndex || stv > kMaxIndex) {
        fail("has a bad shape or strides");
      }
      arg.view.shape[d] = static_cast<int64_t>(sv);
      arg.view.strides[d] = static_cast<int64_t>(stv);
      if (sv == 0) empty = true;
      else elements *= sv;
      if (sv != 0) last += (sv - 1) * stv;
    }
    if (elements > kMaxIndex) fail("has too many elements");
    const size_t elem = dtype_size(arg.view.dtype);
    const double capacity = static_cast<double>(arg.buffer->bytes()) / static_cast<double>(elem);
    if (!empty && last + 1 > capacity) fail("addresses elements outside its storage");
    // A view that is written, or read whole (q, k, v), is no broadcast: no stride 0 where
    // its size is above 1, and no more elements than its storage holds. Besides refusing
    // a forged output (threads writing one element), this bounds every kernel's loop by
    // the memory it touches.
    if (!empty && dense) {
      bool broadcast = elements > capacity;
      for (int d = 0; d < arg.view.ndim; ++d) broadcast = broadcast || (arg.view.shape[d] > 1 && arg.view.strides[d] == 0);
      if (broadcast) fail("is a broadcast view (stride 0), which cannot be written");
    }
    // An empty view is never dereferenced: point it at the buffer, not past it.
    arg.view.data = empty ? arg.buffer->data() : static_cast<char*>(arg.buffer->data()) + static_cast<size_t>(offset) * elem;
    return arg;
  }

  const void* optional_pointer(Napi::Env env, const Napi::CallbackInfo& info, size_t i, const char* op,
                                      const char* name, const Arg& like, int64_t length, Backend** backend) {
    const Napi::Value v = info[i];
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    Arg a = tensor_arg(env, v, op, name, false, static_cast<int>(i));
    if (&a.buffer->backend() != *backend) throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": " + name + " is on another device", true);
    if (a.view.dtype != like.view.dtype || a.view.numel() != length || !a.view.is_contiguous()) {
      throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": " + name + " must be contiguous, of length " + std::to_string(length) + " and dtype " + dtype_name(like.view.dtype), true);
    }
    return a.view.data;
  }

  // All tensors of one op must share a device; returns its backend.
  static Backend& same_backend(Napi::Env env, const char* op, std::initializer_list<const Arg*> args) {
    Backend* b = nullptr;
    for (const Arg* a : args) {
      if (b == nullptr) b = &a->buffer->backend();
      else if (&a->buffer->backend() != b) {
        throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": tensors are on different devices (" + b->name() + " and " + a->buffer->backend().name() + ")", true);
      }
    }
    return *b;
  }

  // Throws ERR_INVALID_ARG "op: what" unless ok. The message is a literal, so that a check
  // that passes (every one, on every call of every op) builds no string; where the message
  // is computed, the call site tests first: if (!ok) fail_arg(env, op, ...).
  static void require(Napi::Env env, bool ok, const char* op, const char* what) {
    if (!ok) fail_arg(env, op, what);
  }
  [[noreturn]] static void fail_arg(Napi::Env env, const char* op, const std::string& what) {
    throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": " + what, true);
  }
  static bool same_shape(const TensorView& a, const TensorView& b) {
    if (a.ndim != b.ndim) return false;
    for (int d = 0; d < a.ndim; ++d) if (a.shape[d] != b.shape[d]) return false;
    return true;
  }
  static double number_arg(Napi::Env env, const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
    if (info.Length() <= i || !info[i].IsNumber()) throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": " + name + " must be a number", true);
    return info[i].As<Napi::Number>().DoubleValue();
  }
  static ActivationSpec activation_arg(Napi::Env env, const Napi::CallbackInfo& info, size_t i, const char* op) {
    ActivationSpec a;
    const double kind = number_arg(env, info, i, op, "activation");
    require(env, kind >= 0 && kind <= 7 && kind == std::floor(kind), op, "unknown activation");
    a.kind = static_cast<Activation>(static_cast<int>(kind));
    a.param = static_cast<float>(number_arg(env, info, i + 1, op, "activation parameter"));
    a.param2 = static_cast<float>(number_arg(env, info, i + 2, op, "activation parameter"));
    return a;
  }

  // copy(dst, src): same shape, any dtypes and strides.
  Napi::Value Copy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Arg dst = tensor_arg(env, info[0], "copy", "dst", true, 0), src = tensor_arg(env, info[1], "copy", "src", false, 1);
    require(env, same_shape(dst.view, src.view), "copy", "dst and src shapes differ");
    Backend& b = same_backend(env, "copy", {&dst, &src});
    guarded(env, "copy", [&] { b.copy(dst.view, src.view); return 0; });
    return env.Undefined();
  }

  // copyPeer(dst, src) -> boolean: dst and src contiguous, of one dtype and size, on two
  // devices; copies device to device and returns true where the pair has a path for it
  // (two GPUs with peer access), else false and copies nothing (the caller goes through
  // the host).
  Napi::Value CopyPeer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "copyPeer";
    Arg dst = tensor_arg(env, info[0], op, "dst", true, 0), src = tensor_arg(env, info[1], op, "src", false, 1);
    require(env, dst.view.is_contiguous() && src.view.is_contiguous(), op, "dst and src must be contiguous");
    require(env, dst.view.dtype == src.view.dtype && dst.view.numel() == src.view.numel(), op, "dst and src must have one dtype and size");
    Backend& to = dst.buffer->backend();
    Backend& from = src.buffer->backend();
    require(env, &to != &from, op, "dst and src are on one device (use copy)");
    const size_t bytes = static_cast<size_t>(src.view.numel()) * dtype_size(src.view.dtype);
    bool done = false;
    guarded(env, op, [&] { done = to.copy_from_peer(dst.view.data, from, src.view.data, bytes); return 0; });
    return Napi::Boolean::New(env, done);
  }

  // fill(dst, value)
  Napi::Value Fill(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Arg dst = tensor_arg(env, info[0], "fill", "dst", true, 0);
    const double value = number_arg(env, info, 1, "fill", "value");
    guarded(env, "fill", [&] { dst.buffer->backend().fill(dst.view, value); return 0; });
    return env.Undefined();
  }

  // gemm(a, b, c, bias|null, transA, transB, alpha, activation, param, param2, allowTF32, residual|null)
  // a, b, c are 3-D views [batch, rows, cols] with unit last stride; a batch stride of 0
  // broadcasts. c is [batch, m, n] contiguous.
  Napi::Value Gemm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "gemm";
    Arg a = tensor_arg(env, info[0], op, "a", false, 0), b = tensor_arg(env, info[1], op, "b", false, 1), c = tensor_arg(env, info[2], op, "c", true, 2);
    Backend* backend = &same_backend(env, op, {&a, &b, &c});
    require(env, a.view.ndim == 3 && b.view.ndim == 3 && c.view.ndim == 3, op, "a, b and c must be 3-D views");
    require(env, is_float(a.view.dtype) && a.view.dtype == b.view.dtype && a.view.dtype == c.view.dtype, op, "a, b and c must share one float dtype");
    require(env, a.view.strides[2] == 1 && b.view.strides[2] == 1 && c.view.is_contiguous(), op, "matrices need a unit last stride and c must be contiguous");
    GemmParams p;
    p.dtype = a.view.dtype;
    p.trans_a = info[4].ToBoolean();
    p.trans_b = info[5].ToBoolean();
    p.batch = c.view.shape[0];
    p.m = c.view.shape[1];
    p.n = c.view.shape[2];
    p.k = p.trans_a ? a.view.shape[1] : a.view.shape[2];
    const int64_t am = p.trans_a ? a.view.shape[2] : a.view.shape[1];
    const int64_t bk = p.trans_b ? b.view.shape[2] : b.view.shape[1];
    const int64_t bn = p.trans_b ? b.view.shape[1] : b.view.shape[2];
    require(env, am == p.m && bk == p.k && bn == p.n, op, "inner dimensions do not agree");
    require(env, (a.view.shape[0] == p.batch || (a.view.shape[0] == 1 && a.view.strides[0] == 0)) &&
                     (b.view.shape[0] == p.batch || (b.view.shape[0] == 1 && b.view.strides[0] == 0)),
            op, "batch sizes do not agree");
    p.a = a.view.data;
    p.b = b.view.data;
    p.c = c.view.data;
    p.lda = a.view.strides[1];
    p.ldb = b.view.strides[1];
    p.ldc = c.view.strides[1];
    p.batch_stride_a = a.view.shape[0] == 1 ? 0 : a.view.strides[0];
    p.batch_stride_b = b.view.shape[0] == 1 ? 0 : b.view.strides[0];
    p.batch_stride_c = c.view.strides[0];
    require(env, p.lda >= a.view.shape[2] && p.ldb >= b.view.shape[2], op, "leading dimensions are too small");
    p.bias = optional_pointer(env, info, 3, op, "bias", c, p.n, &backend);
    p.alpha = static_cast<float>(number_arg(env, info, 6, op, "alpha"));
    p.activation = activation_arg(env, info, 7, op);
    p.allow_tf32 = info[10].ToBoolean();
    if (info.Length() > 11 && !info[11].IsNull() && !info[11].IsUndefined()) {
      // Added into c: c's own layout, and either c itself (in place) or apart from it.
      Arg r = tensor_arg(env, info[11], op, "residual", false, 11);
      same_backend(env, op, {&c, &r});
      require(env, r.view.dtype == c.view.dtype && same_shape(r.view, c.view) && r.view.is_contiguous(), op,
              "residual must be contiguous, of c's shape and dtype");
      const auto* r0 = static_cast<const char*>(r.view.data);
      const auto* c0 = static_cast<const char*>(c.view.data);
      const int64_t bytes = c.view.numel() * static_cast<int64_t>(dtype_size(c.view.dtype));
      require(env, r0 == c0 || r0 + bytes <= c0 || c0 + bytes <= r0, op, "residual must be c itself or not overlap it");
      require(env, p.activation.kind == Activation::None, op, "a residual cannot be combined with an activation");
      p.residual = r.view.data;
    }
    guarded(env, op, [&] { backend->gemm(p); return 0; });
    return env.Undefined();
  }

  // norm(out, x, weight|null, bias|null, eps, rms): x and out contiguous, same shape.
  Napi::Value Norm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "norm";
    Arg out = tensor_arg(env, info[0], op, "out", true, 0), x = tensor_arg(env, info[1], op, "x", false, 1);
    Backend* backend = &same_backend(env, op, {&out, &x});
    require(env, same_shape(out.view, x.view) && x.view.ndim >= 1, op, "out and x must have one shape of rank >= 1");
    require(env, out.view.is_contiguous() && x.view.is_contiguous(), op, "out and x must be contiguous");
    require(env, is_float(x.view.dtype) && out.view.dtype == x.view.dtype, op, "out and x must share one float dtype");
    NormParams p;
    p.out = out.view;
    p.x = x.view;
    p.weight = optional_pointer(env, info, 2, op, "weight", x, x.view.cols(), &backend);
    p.bias = optional_pointer(env, info, 3, op, "bias", x, x.view.cols(), &backend);
    p.eps = static_cast<float>(number_arg(env, info, 4, op, "eps"));
    p.rms = info[5].ToBoolean();
    guarded(env, op, [&] { backend->norm(p); return 0; });
    return env.Undefined();
  }

  // softmax(out, x, mask|null, scale): the mask a uint8 view broadcast to x's shape.
  Napi::Value Softmax(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "softmax";
    Arg out = tensor_arg(env, info[0], op, "out", true, 0), x = tensor_arg(env, info[1], op, "x", false, 1);
    require(env, same_shape(out.view, x.view) && x.view.ndim >= 1, op, "out and x must have one shape of rank >= 1");
    require(env, out.view.is_contiguous() && x.view.is_contiguous(), op, "out and x must be contiguous");
    require(env, is_float(x.view.dtype) && out.view.dtype == x.view.dtype, op, "out and x must share one float dtype");
    SoftmaxParams p;
    p.out = out.view;
    p.x = x.view;
    Backend* backend = &same_backend(env, op, {&out, &x});
    if (!info[2].IsNull() && !info[2].IsUndefined()) {
      Arg mask = tensor_arg(env, info[2], op, "mask", false, 2);
      same_backend(env, op, {&out, &mask});
      require(env, mask.view.dtype == DType::UInt8 && same_shape(mask.view, x.view), op, "mask must be uint8 and broadcast to x's shape");
      p.has_mask = true;
      p.mask = mask.view;
    }
    p.scale = static_cast<float>(number_arg(env, info, 3, op, "scale"));
    guarded(env, op, [&] { backend->softmax(p); return 0; });
    return env.Undefined();
  }

  // biasActivation(out, x, bias|null, activation, param, param2)
  Napi::Value BiasActivation(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "biasActivation";
    Arg out = tensor_arg(env, info[0], op, "out", true, 0), x = tensor_arg(env, info[1], op, "x", false, 1);
    Backend* backend = &same_backend(env, op, {&out, &x});
    require(env, same_shape(out.view, x.view), op, "out and x shapes differ");
    require(env, out.view.is_contiguous() && x.view.is_contiguous(), op, "out and x must be contiguous");
    require(env, is_float(x.view.dtype) && out.view.dtype == x.view.dtype, op, "out and x must share one float dtype");
    BiasActivationParams p;
    p.out = out.view;
    p.x = x.view;
    p.bias = optional_pointer(env, info, 2, op, "bias", x, x.view.cols(), &backend);
    p.activation = activation_arg(env, info, 3, op);
    guarded(env, op, [&] { backend->bias_activation(p); return 0; });
    return env.Undefined();
  }

  // binary(out, a, b, op, alpha): a and b views broadcast to out's shape; out contiguous.
  Napi::Value Binary(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "binary";
    Arg out = tensor_arg(env, info[0], op, "out", true, 0), a = tensor_arg(env, info[1], op, "a", false, 1), b = tensor_arg(env, info[2], op, "b", false, 2);
    Backend& backend = same_backend(env, op, {&out, &a, &b});
    require(env, same_shape(out.view, a.view) && same_shape(out.view, b.view), op, "a and b must be broadcast to out's shape");
    require(env, out.view.is_contiguous(), op, "out must be contiguous");
    require(env, is_float(out.view.dtype) && a.view.dtype == out.view.dtype && b.view.dtype == out.view.dtype, op, "out, a and b must share one float dtype");
    BinaryParams p;
    p.out = out.view;
    p.a = a.view;
    p.b = b.view;
    const double kind = number_arg(env, info, 3, op, "op");
    require(env, kind >= 0 && kind <= 2 && kind == std::floor(kind), op, "unknown binary op");
    p.op = static_cast<BinaryOp>(static_cast<int>(kind));
    p.alpha = static_cast<float>(number_arg(env, info, 4, op, "alpha"));
    guarded(env, op, [&] { backend.binary(p); return 0; });
    return env.Undefined();
  }

  // mean(out, x, outer, n, inner): x contiguous [outer, n, inner], out contiguous [outer, inner].
  Napi::Value Mean(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "mean";
    Arg out = tensor_arg(env, info[0], op, "out", true, 0), x = tensor_arg(env, info[1], op, "x", false, 1);
    Backend& backend = same_backend(env, op, {&out, &x});
    MeanParams p;
    p.out = out.view;
    p.x = x.view;
    // Checked as doubles before any conversion: a NaN or huge size must neither convert
    // (undefined behaviour) nor overflow a product into a match.
    const double outer = number_arg(env, info, 2, op, "outer"), n = number_arg(env, info, 3, op, "n"),
                 inner = number_arg(env, info, 4, op, "inner");
    for (const double d : {outer, n, inner}) {
      require(env, d >= 0 && d == std::floor(d) && d <= kMaxIndex, op, "outer, n and inner must be non-negative integers");
    }
    require(env, static_cast<double>(x.view.numel()) == outer * n * inner && static_cast<double>(out.view.numel()) == outer * inner,
            op, "sizes do not match the tensors");
    p.outer = static_cast<int64_t>(outer);
    p.n = static_cast<int64_t>(n);
    p.inner = static_cast<int64_t>(inner);
    require(env, out.view.is_contiguous() && x.view.is_contiguous(), op, "out and x must be contiguous");
    require(env, is_float(x.view.dtype) && out.view.dtype == x.view.dtype, op, "out and x must share one float dtype");
    guarded(env, op, [&] { backend.mean(p); return 0; });
    return env.Undefined();
  }

  // patchGather(out, images, patch)
  Napi::Value PatchGather(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "patchGather";
    Arg out = tensor_arg(env, info[0], op, "out", true, 0), images = tensor_arg(env, info[1], op, "images", false, 1);
    Backend& backend = same_backend(env, op, {&out, &images});
    PatchGatherParams p;
    p.out = out.view;
    p.images = images.view;
    const double patch = number_arg(env, info, 2, op, "patch");
    require(env, patch >= 1 && patch == std::floor(patch) && patch <= kMaxIndex, op, "patch must be a positive integer");
    p.patch = static_cast<int64_t>(patch);
    const TensorView& im = images.view;
    require(env, im.ndim == 4 && im.is_contiguous() && out.view.ndim == 3 && out.view.is_contiguous(), op, "images must be contiguous [B, C, H, W] and out contiguous 3-D");
    require(env, im.shape[2] % p.patch == 0 && im.shape[3] % p.patch == 0, op, "image size must be a multiple of the patch");
    require(env, out.view.shape[0] == im.shape[0] && out.view.shape[1] == (im.shape[2] / p.patch) * (im.shape[3] / p.patch) &&
                     out.view.shape[2] == im.shape[1] * p.patch * p.patch,
            op, "out must be [B, patches, C * P * P]");
    require(env, is_float(im.dtype) && is_float(out.view.dtype), op, "images and out must be float tensors");
    guarded(env, op, [&] { backend.patch_gather(p); return 0; });
    return env.Undefined();
  }

  // attention(out, q, k, v, mask|null, bias|null, scale, causal, blockSparse?, precision?): q, k,
  // v, out are [B, N, H, D] views with unit last stride; mask (uint8) and bias (float) are
  // [B, H, Nq, Nk] views, stride 0 where broadcast; blockSparse as block_sparse_args says;
  // precision (float32) an AttentionPrecision: 0 high (the default), 1 highest.
  Napi::Value Attention(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "attention";
    Arg out = tensor_arg(env, info[0], op, "out", true, 0), q = tensor_arg(env, info[1], op, "q", true, 1), k = tensor_arg(env, info[2], op, "k", true, 2),
        v = tensor_arg(env, info[3], op, "v", true, 3);
    Backend& backend = same_backend(env, op, {&out, &q, &k, &v});
    const TensorView &qv = q.view, &kv = k.view, &vv = v.view, &ov = out.view;
    require(env, qv.ndim == 4 && kv.ndim == 4 && vv.ndim == 4 && ov.ndim == 4, op, "q, k, v and out must be [B, N, H, D]");
    require(env, qv.strides[3] == 1 && kv.strides[3] == 1 && vv.strides[3] == 1 && ov.strides[3] == 1, op, "q, k, v and out need a unit stride along D");
    require(env, is_float(qv.dtype) && kv.dtype == qv.dtype && vv.dtype == qv.dtype && ov.dtype == qv.dtype, op, "q, k, v and out must share one float dtype");
    require(env, same_shape(qv, ov) && same_shape(kv, vv) && kv.shape[0] == qv.shape[0] && kv.shape[2] == qv.shape[2] && kv.shape[3] == qv.shape[3],
            op, "shapes disagree: q and out [B, Nq, H, D], k and v [B, Nk, H, D]");
    AttentionParams p;
    p.dtype = qv.dtype;
    p.q = qv.data; p.k = kv.data; p.v = vv.data; p.out = ov.data;
    p.batch = qv.shape[0]; p.nq = qv.shape[1]; p.heads = qv.shape[2]; p.head_dim = qv.shape[3]; p.nk = kv.shape[1];
    for (int d = 0; d < 3; ++d) {
      p.q_strides[d] = qv.strides[d]; p.k_strides[d] = kv.strides[d]; p.v_strides[d] = vv.strides[d]; p.out_strides[d] = ov.strides[d];
    }
    const int64_t expect[4] = {p.batch, p.heads, p.nq, p.nk};
    // Reads an optional [B, H, Nq, Nk] broadcast view into `a`; false when absent.
    auto broadcast_view = [&](int slot, const char* name, Arg& a, int64_t* strides) {
      const Napi::Value value = info[slot];
      if (value.IsNull() || value.IsUndefined()) return false;
      a = tensor_arg(env, value, op, name, false, slot);
      same_backend(env, op, {&out, &a});
      if (a.view.ndim != 4) fail_arg(env, op, std::string(name) + " must be a [B, H, Nq, Nk] view");
      for (int d = 0; d < 4; ++d) {
        if (a.view.shape[d] != expect[d]) fail_arg(env, op, std::string(name) + " must be broadcast to [B, H, Nq, Nk]");
        strides[d] = a.view.strides[d];
      }
      return true;
    };
    Arg mask, bias;
    if (broadcast_view(4, "mask", mask, p.mask_strides)) {
      require(env, mask.view.dtype == DType::UInt8, op, "mask must be uint8");
      p.mask = static_cast<const uint8_t*>(mask.view.data);
    }
    if (broadcast_view(5, "bias", bias, p.bias_strides)) {
      require(env, is_float(bias.view.dtype), op, "bias must be a float tensor");
      p.bias = bias.view.data;
      p.bias_dtype = bias.view.dtype;
    }
    p.scale = static_cast<float>(number_arg(env, info, 6, op, "scale"));
    p.causal = info[7].ToBoolean();
    Arg layout, tile_offsets, tile_cols;
    if (info.Length() > 8 && info[8].IsObject()) block_sparse_args(env, info[8].As<Napi::Object>(), out, p, layout, tile_offsets, tile_cols);
    if (info.Length() > 9 && !info[9].IsUndefined()) {
      const double precision = number_arg(env, info, 9, op, "precision");
      require(env, precision == 0 || precision == 1, op, "precision must be 0 (high) or 1 (highest)");
      p.precision = static_cast<AttentionPrecision>(static_cast<int>(precision));
    }
    guarded(env, op, [&] { backend.attention(p); return 0; });
    return env.Undefined();
  }

  // The block_sparse part of attention(): { layout: uint8 [LH, rows, cols] | null, block,
  // tileOffsets: int32 | null, tileCols: int32 | null, tileM, tileN }. Sizes are checked
  // here; the kernels clamp every offset and index they read from the lists, so forged
  // contents cannot make them read outside q, k, v or the lists.
  void block_sparse_args(Napi::Env env, Napi::Object o, Arg& out, AttentionParams& p, Arg& layout, Arg& offsets, Arg& cols) {
    const char* op = "attention";
    auto integer = [&](const char* name) {
      Napi::Value v = o.Get(name);
      if (!v.IsNumber()) fail_arg(env, op, std::string("block-sparse ") + name + " must be a number");
      const double d = v.As<Napi::Number>().DoubleValue();
      if (!(d >= 0 && d == std::floor(d) && d < 2147483648.0)) fail_arg(env, op, std::string("block-sparse ") + name + " must be a non-negative integer");
      return static_cast<int64_t>(d);
    };
    Napi::Value lv = o.Get("layout");
    if (!lv.IsNull() && !lv.IsUndefined()) {
      layout = tensor_arg(env, lv, op, "layout");
      same_backend(env, op, {&out, &layout});
      p.layout_block = integer("block");
      require(env, p.layout_block >= 1, op, "layout block size must be positive");
      p.layout_rows = (p.nq + p.layout_block - 1) / p.layout_block;
      p.layout_cols = (p.nk + p.layout_block - 1) / p.layout_block;
      const TensorView& l = layout.view;
      require(env, l.dtype == DType::UInt8 && l.ndim == 3 && l.is_contiguous() && (l.shape[0] == 1 || l.shape[0] == p.heads) &&
                       l.shape[1] == p.layout_rows && l.shape[2] == p.layout_cols,
              op, "layout must be a contiguous uint8 [1 or H, ceil(Nq / block), ceil(Nk / block)] tensor");
      p.layout = static_cast<const uint8_t*>(l.data);
      p.layout_heads = l.shape[0];
    }
    Napi::Value ov = o.Get("tileOffsets"), cv = o.Get("tileCols");
    if (!ov.IsNull() && !ov.IsUndefined()) {
      offsets = tensor_arg(env, ov, op, "tileOffsets");
      cols = tensor_arg(env, cv, op, "tileCols");
      same_backend(env, op, {&out, &offsets, &cols});
      p.tile_m = integer("tileM");
      p.tile_n = integer("tileN");
      require(env, p.tile_m >= 1 && p.tile_n >= 1, op, "tile sizes must be positive");
      const int64_t m_tiles = (p.nq + p.tile_m - 1) / p.tile_m;
      const TensorView &ot = offsets.view, &ct = cols.view;
      require(env, ot.dtype == DType::Int32 && ct.dtype == DType::Int32 && ot.ndim == 1 && ct.ndim == 1 && ot.is_contiguous() && ct.is_contiguous(),
              op, "tileOffsets and tileCols must be contiguous 1-D int32 tensors");
      require(env, ot.shape[0] == m_tiles + 1 || ot.shape[0] == p.heads * m_tiles + 1, op,
              "tileOffsets must hold (1 or H) * ceil(Nq / tileM) + 1 entries");
      p.tile_heads = m_tiles == 0 ? 1 : (ot.shape[0] - 1) / m_tiles;
      p.tile_offsets = static_cast<const int32_t*>(ot.data);
      p.tile_cols = static_cast<const int32_t*>(ct.data);
      p.tile_cols_count = ct.shape[0];
    }
  }

  // sparsePlan(rowOffsets, colIndices, maskHeads, items, merges, slots, leadItems?) -> SparsePlan:
  // a CSR mask and its schedule as SparseAttentionParams says, each an int32 contiguous 1-D
  // tensor on one device (items and merges may be empty); maskHeads 1 or H, leadItems
  // (default 0) at most the number of items. Checked here, once, for every later call.
  Napi::Value SparsePlanNew(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "sparsePlan";
    Arg offsets = tensor_arg(env, info[0], op, "rowOffsets", false, 0), cols = tensor_arg(env, info[1], op, "colIndices", false, 1),
        items = tensor_arg(env, info[3], op, "items", false, 3), merges = tensor_arg(env, info[4], op, "merges", false, 4);
    const Arg* args[4] = {&offsets, &cols, &items, &merges};  // in SparsePlan::buffers' order
    same_backend(env, op, {&offsets, &cols, &items, &merges});
    for (const Arg* a : args) {
      require(env, a->view.dtype == DType::Int32 && a->view.ndim == 1 && a->view.is_contiguous(), op,
              "rowOffsets, colIndices, items and merges must be contiguous 1-D int32 tensors");
    }
    const double mask_heads = number_arg(env, info, 2, op, "maskHeads");
    require(env, mask_heads >= 1 && mask_heads == std::floor(mask_heads) && mask_heads < 2147483648.0, op, "maskHeads must be a positive integer");
    require(env, offsets.view.shape[0] >= 1 && (offsets.view.shape[0] - 1) % static_cast<int64_t>(mask_heads) == 0, op,
            "rowOffsets must hold maskHeads * Nq + 1 entries");
    require(env, items.view.shape[0] % 4 == 0 && merges.view.shape[0] % 3 == 0, op, "items must hold 4 int32 a record and merges 3");
    require(env, cols.view.shape[0] < 2147483648LL, op, "a mask holds at most 2^31 - 1 entries");
    const double slots = number_arg(env, info, 5, op, "slots");
    require(env, slots >= 0 && slots == std::floor(slots) && slots < 2147483648.0, op, "slots must be a non-negative integer");
    double lead = 0;
    if (info.Length() > 6 && !info[6].IsUndefined()) {
      lead = number_arg(env, info, 6, op, "leadItems");
      require(env, lead >= 0 && lead == std::floor(lead) && lead <= static_cast<double>(items.view.shape[0] / 4), op,
              "leadItems must be an integer from 0 to the number of items");
    }
    Napi::Object obj = sparse_plan_ctor_.New({});
    SparsePlan* plan = SparsePlan::Unwrap(obj);
    for (int i = 0; i < 4; ++i) plan->buffers[i] = args[i]->storage->shared_buffer();
    plan->row_offsets = static_cast<const int32_t*>(offsets.view.data);
    plan->col_indices = static_cast<const int32_t*>(cols.view.data);
    plan->items = static_cast<const int32_t*>(items.view.data);
    plan->merges = static_cast<const int32_t*>(merges.view.data);
    plan->mask_heads = static_cast<int64_t>(mask_heads);
    plan->rows = (offsets.view.shape[0] - 1) / plan->mask_heads;
    plan->nnz = cols.view.shape[0];
    plan->num_items = items.view.shape[0] / 4;
    plan->num_merges = merges.view.shape[0] / 3;
    plan->num_slots = static_cast<int64_t>(slots);
    plan->lead_items = static_cast<int64_t>(lead);
    obj.TypeTag(&kSparsePlanTag);
    return obj;
  }

  // sparseAttention(out, q, k, v, plan, scale): q, k, v, out as attention(); plan a
  // SparsePlan (sparsePlan()) on their device, for Nq rows and 1 or H mask heads.
  // Argument i as a live SparsePlan on `backend` (whose tensors are `owner`'s).
  static SparsePlan* plan_arg(Napi::Env env, const Napi::CallbackInfo& info, size_t i, const char* op, Backend& backend,
                              const char* owner) {
    SparsePlan* plan = nullptr;
    if (info[i].IsObject() && info[i].As<Napi::Object>().CheckTypeTag(&kSparsePlanTag)) plan = SparsePlan::Unwrap(info[i].As<Napi::Object>());
    require(env, plan != nullptr, op, "plan must be a SparsePlan (from sparsePlan())");
    require(env, plan->alive(), op, "the plan's mask has been disposed");
    if (&plan->backend() != &backend) fail_arg(env, op, "the plan is on " + plan->backend().name() + " but " + owner + " is on " + backend.name());
    return plan;
  }

  Napi::Value SparseAttention(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "sparseAttention";
    Arg out = tensor_arg(env, info[0], op, "out", false, 0), q = tensor_arg(env, info[1], op, "q", false, 1), k = tensor_arg(env, info[2], op, "k", false, 2),
        v = tensor_arg(env, info[3], op, "v", false, 3);
    Backend& backend = same_backend(env, op, {&out, &q, &k, &v});
    SparsePlan* plan = plan_arg(env, info, 4, op, backend, "q");
    const TensorView &qv = q.view, &kv = k.view, &vv = v.view, &ov = out.view;
    require(env, qv.ndim == 4 && kv.ndim == 4 && vv.ndim == 4 && ov.ndim == 4, op, "q, k, v and out must be [B, N, H, D]");
    require(env, qv.strides[3] == 1 && kv.strides[3] == 1 && vv.strides[3] == 1 && ov.strides[3] == 1, op, "q, k, v and out need a unit stride along D");
    require(env, is_float(qv.dtype) && kv.dtype == qv.dtype && vv.dtype == qv.dtype && ov.dtype == qv.dtype, op, "q, k, v and out must share one float dtype");
    require(env, same_shape(qv, ov) && same_shape(kv, vv) && kv.shape[0] == qv.shape[0] && kv.shape[2] == qv.shape[2] && kv.shape[3] == qv.shape[3],
            op, "shapes disagree: q and out [B, Nq, H, D], k and v [B, Nk, H, D]");
    SparseAttentionParams p;
    p.dtype = qv.dtype;
    p.q = qv.data; p.k = kv.data; p.v = vv.data; p.out = ov.data;
    p.batch = qv.shape[0]; p.nq = qv.shape[1]; p.heads = qv.shape[2]; p.head_dim = qv.shape[3]; p.nk = kv.shape[1];
    for (int d = 0; d < 3; ++d) {
      p.q_strides[d] = qv.strides[d]; p.k_strides[d] = kv.strides[d]; p.v_strides[d] = vv.strides[d]; p.out_strides[d] = ov.strides[d];
    }
    require(env, plan->mask_heads == 1 || plan->mask_heads == p.heads, op, "maskHeads must be 1 or H");
    require(env, plan->rows == p.nq, op, "rowOffsets must hold maskHeads * Nq + 1 entries");
    plan->describe(p);
    p.scale = static_cast<float>(number_arg(env, info, 5, op, "scale"));
    guarded(env, op, [&] { backend.sparse_attention(p); return 0; });
    return env.Undefined();
  }

  // encoderBlock(out, x, norm1W, norm1B, qkvW, qkvB|null, projW, projB|null, norm2W, norm2B, fc1W,
  //              fc1B|null, fc2W, fc2B|null, heads, eps1, eps2, activation, param, param2, scale,
  //              plan|null)
  // One pre-norm encoder block without layer scale (native/core/encoder_block.h says what it
  // computes): x and out contiguous [B, N, C], apart; weights [out features, in features]
  // and vectors contiguous, of x's dtype and device; attention memory_efficient's kernel
  // (dense, unmasked) or, given a SparsePlan, the sparse CSR kernel.
  Napi::Value EncoderBlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "encoderBlock";
    Arg out = tensor_arg(env, info[0], op, "out", true, 0), x = tensor_arg(env, info[1], op, "x", false, 1);
    Backend* backend = &same_backend(env, op, {&out, &x});
    const TensorView& xv = x.view;
    require(env, xv.ndim == 3 && is_float(xv.dtype) && xv.is_contiguous(), op, "x must be a contiguous float [B, N, C]");
    require(env, out.view.dtype == xv.dtype && same_shape(out.view, xv) && out.view.is_contiguous(), op,
            "out must be a contiguous tensor of x's shape and dtype");
    const int64_t B = xv.shape[0], N = xv.shape[1], C = xv.shape[2], M = B * N;
    const size_t elem = dtype_size(xv.dtype);
    const auto* x0 = static_cast<const char*>(xv.data);
    const auto* o0 = static_cast<const char*>(out.view.data);
    const int64_t bytes = M * C * static_cast<int64_t>(elem);
    require(env, M == 0 || o0 + bytes <= x0 || x0 + bytes <= o0, op, "out must not overlap x");
    const double heads_d = number_arg(env, info, 14, op, "heads");
    require(env, heads_d >= 1 && heads_d == std::floor(heads_d) && heads_d <= static_cast<double>(std::max<int64_t>(C, 1)), op,
            "heads must be a positive integer of at most C");
    const int64_t H = static_cast<int64_t>(heads_d);
    require(env, C >= 1 && C % H == 0, op, "C must be a positive multiple of heads");
    // A weight [rows, cols] (cols = its input features), contiguous, like x.
    auto matrix = [&](int slot, const char* name, int64_t rows, int64_t cols) -> Arg {
      Arg w = tensor_arg(env, info[slot], op, name, false, slot);
      same_backend(env, op, {&x, &w});
      if (w.view.dtype != xv.dtype || w.view.ndim != 2 || (rows >= 0 && w.view.shape[0] != rows) || w.view.shape[1] != cols ||
          w.view.shape[0] < 1 || !w.view.is_contiguous()) {
        fail_arg(env, op, std::string(name) + " must be a contiguous [" + (rows >= 0 ? std::to_string(rows) : std::string("hidden")) + ", " +
                              std::to_string(cols) + "] tensor of x's dtype");
      }
      return w;
    };
    const Arg qkv_w = matrix(4, "qkv weight", 3 * C, C), proj_w = matrix(6, "proj weight", C, C), fc1_w = matrix(10, "fc1 weight", -1, C);
    const int64_t hidden = fc1_w.view.shape[0];
    const Arg fc2_w = matrix(12, "fc2 weight", C, hidden);
    const void* norm1_w = optional_pointer(env, info, 2, op, "norm1 weight", x, C, &backend);
    const void* norm1_b = optional_pointer(env, info, 3, op, "norm1 bias", x, C, &backend);
    const void* qkv_b = optional_pointer(env, info, 5, op, "qkv bias", x, 3 * C, &backend);
    const void* proj_b = optional_pointer(env, info, 7, op, "proj bias", x, C, &backend);
    const void* norm2_w = optional_pointer(env, info, 8, op, "norm2 weight", x, C, &backend);
    const void* norm2_b = optional_pointer(env, info, 9, op, "norm2 bias", x, C, &backend);
    const void* fc1_b = optional_pointer(env, info, 11, op, "fc1 bias", x, hidden, &backend);
    const void* fc2_b = optional_pointer(env, info, 13, op, "fc2 bias", x, C, &backend);
    const float eps1 = static_cast<float>(number_arg(env, info, 15, op, "eps1"));
    const float eps2 = static_cast<float>(number_arg(env, info, 16, op, "eps2"));
    const ActivationSpec act = activation_arg(env, info, 17, op);
    const float scale = static_cast<float>(number_arg(env, info, 20, op, "scale"));
    SparsePlan* plan = nullptr;
    if (info.Length() > 21 && !info[21].IsNull() && !info[21].IsUndefined()) {
      plan = plan_arg(env, info, 21, op, *backend, "x");
      require(env, plan->mask_heads == 1 || plan->mask_heads == H, op, "the plan's maskHeads must be 1 or heads");
      require(env, plan->rows == N, op, "the plan's mask must have N rows");
    }
    if (M == 0) return env.Undefined();
    EncoderBlockParams p;
    p.dtype = xv.dtype;
    p.batch = B; p.tokens = N; p.dim = C; p.heads = H; p.hidden = hidden;
    p.x = xv.data; p.out = out.view.data;
    p.norm1_weight = norm1_w; p.norm1_bias = norm1_b; p.norm2_weight = norm2_w; p.norm2_bias = norm2_b;
    p.qkv_weight = qkv_w.view.data; p.qkv_bias = qkv_b;
    p.proj_weight = proj_w.view.data; p.proj_bias = proj_b;
    p.fc1_weight = fc1_w.view.data; p.fc1_bias = fc1_b;
    p.fc2_weight = fc2_w.view.data; p.fc2_bias = fc2_b;
    p.eps1 = eps1; p.eps2 = eps2; p.activation = act; p.scale = scale;
    if (plan != nullptr) {
      plan->describe(p.sparse);
      p.use_sparse = true;
    }
    guarded(env, op, [&] { encoder_block(x.buffer->backend_ptr(), p); return 0; });
    return env.Undefined();
  }

  // attentionTileShape(device, dtype, headDim) -> [tileM, tileN] of the kernel serving them
  // there ([0, 0] on the CPU, which needs no tile lists).
  Napi::Value AttentionTileShape(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "attentionTileShape";
    const Device d = parse_device(env, info[0], op);
    auto backend = backend_for(env, d, op);
    DType dtype = DType::Float32;
    char dtype_buf[kShortString];
    require(env, info.Length() > 1 && dtype_from_name(short_string(env, info[1], dtype_buf), &dtype) && is_float(dtype),
            op, "dtype must be a float dtype name");
    const double head_dim = number_arg(env, info, 2, op, "headDim");
    require(env, head_dim >= 1 && head_dim <= kMaxAttentionHeadDim && head_dim == std::floor(head_dim), op, "headDim must be an integer in [1, maxHeadDim]");
    int64_t tm = 0, tn = 0;
    guarded(env, op, [&] { backend->attention_tile_shape(dtype, static_cast<int64_t>(head_dim), &tm, &tn); return 0; });
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set(0u, static_cast<double>(tm));
    a.Set(1u, static_cast<double>(tn));
    return a;
  }

  // synchronize(device)
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Device d = parse_device(env, info[0], "synchronize");
    auto backend = backend_for(env, d, "synchronize");
    guarded(env, "synchronize", [&] { backend->synchronize(); return 0; });
    return env.Undefined();
  }

  // bufferBytes(device, resetPeak): { bytes, peak } of the device backend's Buffers (Backend::
  // buffer_bytes), the peak taken before a reset that resetPeak asks for. For tests of an op's memory.
  Napi::Value BufferBytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Device d = parse_device(env, info[0], "bufferBytes");
    auto backend = backend_for(env, d, "bufferBytes");
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytes", static_cast<double>(backend->buffer_bytes()));
    o.Set("peak", static_cast<double>(backend->buffer_peak()));
    if (info.Length() > 1 && info[1].ToBoolean()) backend->reset_buffer_peak();
    return o;
  }

  Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    Napi::Env env = info.Env();
    const cuda::MemoryStats m = guarded(env, "cuda.memory", [&] { return cuda_backend(info, "cuda.memory").memory(); });
    Napi::Object o = Napi::Object::New(env);
    o.Set("allocated", static_cast<double>(m.allocated));
    o.Set("reserved", static_cast<double>(m.reserved));
    o.Set("peak", static_cast<double>(m.peak));
    o.Set("cached", static_cast<double>(m.cached));
    o.Set("poolUsed", static_cast<double>(m.pool_used));
    return o;
#else
    throw_no_cuda(info.Env(), "cuda.memory");
#endif
  }

  // cudaHostTimes(device, reset): the host's time inside the backend's calls by kind
  // ({ allocate, free, gemm, kernel, wait }: each { calls, us }), 0 unless the process runs
  // with NODEFORMERS_HOST_TIMES=1; reset starts them from 0 after reading.
  Napi::Value CudaHostTimes(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    Napi::Env env = info.Env();
    cuda::CudaBackend& b = cuda_backend(info, "cuda.hostTimes");
    const cuda::HostTimes t = b.host_times();
    if (info.Length() > 1 && info[1].ToBoolean()) b.reset_host_times();
    static const char* const kNames[cuda::kHostParts] = {"allocate", "free", "gemm", "kernel", "wait"};
    Napi::Object o = Napi::Object::New(env);
    for (int i = 0; i < cuda::kHostParts; ++i) {
      Napi::Object part = Napi::Object::New(env);
      part.Set("calls", static_cast<double>(t.calls[i]));
      part.Set("us", static_cast<double>(t.ns[i]) / 1e3);
      o.Set(kNames[i], part);
    }
    return o;
#else
    throw_no_cuda(info.Env(), "cuda.hostTimes");
#endif
  }

  Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    guarded(info.Env(), "cuda.emptyCache", [&] { cuda_backend(info, "cuda.emptyCache").empty_cache(); return 0; });
    return info.Env().Undefined();
#else
    throw_no_cuda(info.Env(), "cuda.emptyCache");
#endif
  }

  Napi::Value CudaResetPeak(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    guarded(info.Env(), "cuda.resetPeak", [&] { cuda_backend(info, "cuda.resetPeak").reset_peak(); return 0; });
    return info.Env().Undefined();
#else
    throw_no_cuda(info.Env(), "cuda.resetPeak");
#endif
  }

  Napi::Value CudaDeviceInfo(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    Napi::Env env = info.Env();
    const cuda::DeviceInfo d = guarded(env, "cuda.device", [&] { return cuda_backend(info, "cuda.device").info(); });
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    o.Set("totalMemory", static_cast<double>(d.total_memory));
    o.Set("smCount", d.sm_count);
    o.Set("l2CacheBytes", d.l2_bytes);
    o.Set("runtimeVersion", d.runtime_version);
    o.Set("driverVersion", d.driver_version);
    o.Set("cublasLtVersion", static_cast<double>(d.cublaslt_version));
    return o;
#else
    throw_no_cuda(info.Env(), "cuda.device");
#endif
  }

  // cudaTimeRegion(device, fn): records an event, calls fn (which enqueues work), records a
  // second event, waits for it, and returns the milliseconds between the two.
  Napi::Value CudaTimeRegion(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    Napi::Env env = info.Env();
    cuda::CudaBackend& b = cuda_backend(info, "cuda.time");
    if (info.Length() < 2 || !info[1].IsFunction()) throw_js(env, "ERR_INVALID_ARG", "cuda.time: expected a function", true);
    cudaEvent_t start = nullptr, stop = nullptr;
    float ms = 0;
    guarded(env, "cuda.time", [&] {
      b.activate();
      if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) throw Error(ErrorCode::Cuda, "cudaEventCreate failed");
      cudaEventRecord(start, b.stream());
      return 0;
    });
    Napi::Value result;
    try {
      result = info[1].As<Napi::Function>().Call({});
    } catch (...) {
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      throw;
    }
    guarded(env, "cuda.time", [&] {
      b.activate();
      const cudaError_t e1 = cudaEventRecord(stop, b.stream());
      const cudaError_t e2 = e1 == cudaSuccess ? cudaEventSynchronize(stop) : e1;
      const cudaError_t e3 = e2 == cudaSuccess ? cudaEventElapsedTime(&ms, start, stop) : e2;
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      if (e3 != cudaSuccess) cuda::throw_cuda(e3, "cuda event timing", __FILE__, __LINE__);
      return 0;
    });
    return Napi::Number::New(env, ms);
#else
    throw_no_cuda(info.Env(), "cuda.time");
#endif
  }

  // cudaCaptureBegin(device): the device's stream records from now on (see CudaBackend).
  Napi::Value CudaCaptureBegin(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    guarded(info.Env(), "capture", [&] { cuda_backend(info, "capture").begin_capture(); return 0; });
    return info.Env().Undefined();
#else
    throw_no_cuda(info.Env(), "capture");
#endif
  }

  // cudaCaptureEnd(device) -> Graph: ends the capture and instantiates what it recorded.
  Napi::Value CudaCaptureEnd(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    Napi::Env env = info.Env();
    cuda::CudaBackend& b = cuda_backend(info, "capture");
    cudaGraphExec_t exec = guarded(env, "capture", [&] { return b.end_capture(); });
    Napi::Object obj = graph_ctor_.New({});
    Graph::Unwrap(obj)->Init(b.shared_from_this(), exec);
    return obj;
#else
    throw_no_cuda(info.Env(), "capture");
#endif
  }

  // cudaCaptureAbort(device): drops a capture (after an error in the captured code).
  Napi::Value CudaCaptureAbort(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    guarded(info.Env(), "capture", [&] { cuda_backend(info, "capture").abort_capture(); return 0; });
#endif
    return info.Env().Undefined();
  }

  // cudaGraphMemTrim(device): waits for the device, then returns unused graph memory.
  Napi::Value CudaGraphMemTrim(const Napi::CallbackInfo& info) {
#ifdef NODEFORMERS_WITH_CUDA
    guarded(info.Env(), "capture", [&] { cuda_backend(info, "capture").trim_graph_memory(); return 0; });
#endif
    return info.Env().Undefined();
  }

  std::shared_ptr<Backend> cpu_;
#ifdef NODEFORMERS_WITH_CUDA
  std::vector<std::shared_ptr<Backend>> cuda_;
  Napi::FunctionReference graph_ctor_;
#endif
  Napi::FunctionReference storage_ctor_;
  Napi::FunctionReference sparse_plan_ctor_;
  // The layout buffer (setArgLayouts) and its elements: one per instance, so that two
  // instances on one thread (the addon loaded twice) never read each other's layouts.
  Napi::Reference<Napi::Float64Array> arg_layouts_;
  double* arg_layouts_data_ = nullptr;
};

}  // namespace
}  // namespace nf::addon

using NodeformersAddon = nf::addon::Addon;
NODE_API_ADDON(NodeformersAddon)
