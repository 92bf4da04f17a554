// The device beyond ops: synchronization, memory counters, device facts, host times, event
// timing and graph capture, each a Backend method (native/core/device.h) turned into JS
// values; and the Graph object. Backends without a meaning for one (the CPU) refuse it.
#include <string>

#include "errors.h"
#include "handles.h"
#include "module.h"
#include "wrapped.h"

namespace nf::addon {

// ---- Graph ------------------------------------------------------------------------------------

Napi::Function GraphObject::Define(Napi::Env env) {
  // Here, where the private members can be named; static, so their addresses stay valid.
  static const Member<GraphObject> members[] = {
      {"launch", &GraphObject::Launch}, {"dispose", &GraphObject::Dispose}, {"disposed", &GraphObject::Disposed}};
  Napi::Function ctor = DefineClass(env, kName, {checked_getter(members[2])});
  for (const int i : {0, 1}) add_checked_method(env, ctor, members[i]);
  return ctor;
}

GraphObject::GraphObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GraphObject>(info) { tag_instance<GraphObject>(info); }

Napi::Value GraphObject::Launch(const Napi::CallbackInfo& info) {
  if (!graph_) throw_arg(info.Env(), "graph.launch", "the graph has been disposed");
  guarded(info.Env(), "graph.launch", [&] { graph_->launch(); });
  return info.Env().Undefined();
}

Napi::Value GraphObject::Dispose(const Napi::CallbackInfo& info) {
  guarded(info.Env(), "graph.dispose", [&] { graph_.reset(); });
  return info.Env().Undefined();
}

Napi::Value GraphObject::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !graph_); }

// ---- the addon's device methods ------------------------------------------------------------------

// synchronize(device)
Napi::Value Addon::Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto backend = backend_for(env, parse_device(env, info[0], "synchronize"), "synchronize");
  guarded(env, "synchronize", [&] { backend->synchronize(); });
  return env.Undefined();
}

// bufferBytes(device, resetPeak): { bytes, peak } of the device backend's Buffers (Backend::
// buffer_bytes), the peak taken before a reset that resetPeak asks for. For tests of an op's memory.
Napi::Value Addon::BufferBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto backend = backend_for(env, parse_device(env, info[0], "bufferBytes"), "bufferBytes");
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytes", static_cast<double>(backend->buffer_bytes()));
  o.Set("peak", static_cast<double>(backend->buffer_peak()));
  if (info.Length() > 1 && info[1].ToBoolean()) backend->reset_buffer_peak();
  return o;
}

// cudaMemory(device?) -> { allocated, reserved, peak, cached, poolUsed }
Napi::Value Addon::CudaMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto backend = device_arg(info, "cuda.memory");
  const DeviceMemory m = guarded(env, "cuda.memory", [&] { return backend->memory(); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("allocated", static_cast<double>(m.allocated));
  o.Set("reserved", static_cast<double>(m.reserved));
  o.Set("peak", static_cast<double>(m.peak));
  o.Set("cached", static_cast<double>(m.cached));
  o.Set("poolUsed", static_cast<double>(m.pool_used));
  return o;
}

// cudaHostTimes(device, reset): the host's time inside the backend's calls by kind
// ({ allocate, free, gemm, kernel, wait }: each { calls, us }), 0 unless the process runs
// with NODEFORMERS_HOST_TIMES=1; reset starts them from 0 after reading.
Napi::Value Addon::CudaHostTimes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto backend = device_arg(info, "cuda.hostTimes");
  const HostTimes t = guarded(env, "cuda.hostTimes", [&] { return backend->host_times(); });
  if (info.Length() > 1 && info[1].ToBoolean()) backend->reset_host_times();
  Napi::Object o = Napi::Object::New(env);
  for (int i = 0; i < kHostParts; ++i) {
    Napi::Object part = Napi::Object::New(env);
    part.Set("calls", static_cast<double>(t.calls[i]));
    part.Set("us", static_cast<double>(t.ns[i]) / 1e3);
    o.Set(host_part_name(i), part);
  }
  return o;
}

Napi::Value Addon::CudaEmptyCache(const Napi::CallbackInfo& info) {
  auto backend = device_arg(info, "cuda.emptyCache");
  guarded(info.Env(), "cuda.emptyCache", [&] { backend->empty_cache(); });
  return info.Env().Undefined();
}

Napi::Value Addon::CudaResetPeak(const Napi::CallbackInfo& info) {
  auto backend = device_arg(info, "cuda.resetPeak");
  guarded(info.Env(), "cuda.resetPeak", [&] { backend->reset_peak(); });
  return info.Env().Undefined();
}

Napi::Value Addon::CudaDeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto backend = device_arg(info, "cuda.device");
  const DeviceInfo d = guarded(env, "cuda.device", [&] { return backend->device_info(); });
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
}

// cudaTimeRegion(device, fn): starts a timer on the device's stream, calls fn (which enqueues
// work), stops it, waits for it, and returns the milliseconds between the two.
Napi::Value Addon::CudaTimeRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto backend = device_arg(info, "cuda.time");
  if (info.Length() < 2 || !info[1].IsFunction()) throw_arg(env, "cuda.time", "expected a function");
  std::unique_ptr<Timer> timer = guarded(env, "cuda.time", [&] { return backend->start_timer(); });
  info[1].As<Napi::Function>().Call({});  // an exception goes on as it is; the timer goes with its scope
  const float ms = guarded(env, "cuda.time", [&] { return timer->stop_ms(); });
  return Napi::Number::New(env, ms);
}

// cudaCaptureBegin(device): the device's stream records from now on (Backend::begin_capture).
Napi::Value Addon::CudaCaptureBegin(const Napi::CallbackInfo& info) {
  auto backend = device_arg(info, "capture");
  guarded(info.Env(), "capture", [&] { backend->begin_capture(); });
  return info.Env().Undefined();
}

// cudaCaptureEnd(device) -> Graph: ends the capture and instantiates what it recorded.
Napi::Value Addon::CudaCaptureEnd(const Napi::CallbackInfo& info) {
  auto backend = device_arg(info, "capture");
  std::unique_ptr<Graph> graph = guarded(info.Env(), "capture", [&] { return backend->end_capture(); });
  Napi::Object obj = graph_ctor_.New({});
  GraphObject::Unwrap(obj)->Init(std::move(graph));
  return obj;
}

// cudaCaptureAbort(device): drops a capture (after an error in the captured code).
Napi::Value Addon::CudaCaptureAbort(const Napi::CallbackInfo& info) {
  auto backend = device_arg(info, "capture");
  guarded(info.Env(), "capture", [&] { backend->abort_capture(); });
  return info.Env().Undefined();
}

// cudaGraphMemTrim(device): waits for the device, then returns unused graph memory.
Napi::Value Addon::CudaGraphMemTrim(const Napi::CallbackInfo& info) {
  auto backend = device_arg(info, "capture");
  guarded(info.Env(), "capture", [&] { backend->trim_graph_memory(); });
  return info.Env().Undefined();
}

}  // namespace nf::addon
