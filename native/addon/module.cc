// The addon instance (module.h): its method table, backends by device, and allocation.
#include "module.h"

#include <cmath>
#include <string>

#include "../core/attention_limits.h"
#include "errors.h"
#include "handles.h"
#include "plans.h"
#include "sanitizer_canary.h"
#include "storage.h"
#include "user_kernels.h"
#include "wrapped.h"

namespace nf::addon {
namespace {

Napi::Object build_info(Napi::Env env) {
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

int device_count() {
#ifdef NODEFORMERS_WITH_CUDA
  return cuda_device_count();
#else
  return 0;
#endif
}

}  // namespace

Addon::Addon(Napi::Env env, Napi::Object exports) {
  cpu_ = make_cpu_backend();
  storage_ctor_ = Napi::Persistent(Storage::Define(env));
  sparse_plan_ctor_ = Napi::Persistent(SparsePlanObject::Define(env));
  block_plan_ctor_ = Napi::Persistent(BlockPlanObject::Define(env));
  graph_ctor_ = Napi::Persistent(GraphObject::Define(env));
  kernel_ctor_ = Napi::Persistent(KernelObject::Define(env));
  DefineAddon(exports, {
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
                           InstanceMethod("blockPlan", &Addon::BlockPlanNew),
                           InstanceMethod("sparseAttention", &Addon::SparseAttention),
                           InstanceMethod("encoderBlock", &Addon::EncoderBlock),
                           InstanceMethod("normBackward", &Addon::NormBackward),
                           InstanceMethod("softmaxBackward", &Addon::SoftmaxBackward),
                           InstanceMethod("activationBackward", &Addon::ActivationBackward),
                           InstanceMethod("sumRows", &Addon::SumRows),
                           InstanceMethod("dropout", &Addon::Dropout),
                           InstanceMethod("philox", &Addon::Philox),
                           InstanceMethod("optimizerStep", &Addon::OptimizerStep),
                           InstanceMethod("unscaleGrads", &Addon::UnscaleGrads),
                           InstanceMethod("attentionBackward", &Addon::AttentionBackward),
                           InstanceMethod("sparseAttentionBackward", &Addon::SparseAttentionBackward),
                           InstanceMethod("crossEntropy", &Addon::CrossEntropy),
                           InstanceMethod("crossEntropyBackward", &Addon::CrossEntropyBackward),
                           InstanceMethod("patchScatter", &Addon::PatchScatter),
                           InstanceMethod("multiNorm", &Addon::MultiNorm),
                           InstanceMethod("multiScale", &Addon::MultiScale),
                           InstanceMethod("depthwiseConv2d", &Addon::DepthwiseConv2d),
                           InstanceMethod("depthwiseConv2dBackward", &Addon::DepthwiseConv2dBackward),
                           InstanceMethod("avgPool2d", &Addon::AvgPool2d),
                           InstanceMethod("avgPool2dBackward", &Addon::AvgPool2dBackward),
                           InstanceMethod("fourierMix", &Addon::FourierMix),
                           InstanceMethod("synchronize", &Addon::Synchronize),
                           InstanceMethod("cudaDeviceCount", &Addon::CudaDeviceCount),
                           InstanceMethod("cpuNumThreads", &Addon::CpuNumThreads),
                           InstanceMethod("cpuSetNumThreads", &Addon::CpuSetNumThreads),
                           InstanceMethod("cpuGemmKernel", &Addon::CpuGemmKernel),
                           InstanceMethod("cpuIdle", &Addon::CpuIdle),
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
                           InstanceMethod("nvrtcInfo", &Addon::NvrtcInfo),
                           InstanceMethod("nvrtcCompile", &Addon::NvrtcCompile),
                           InstanceMethod("loadKernel", &Addon::LoadKernel),
                           InstanceMethod("kernelLaunch", &Addon::KernelLaunch),
                           InstanceValue("buildInfo", build_info(env)),
                       });
  register_sanitizer_canary(env, exports);  // test-only, sanitizer builds (an empty hook otherwise)
}

std::shared_ptr<Backend> Addon::backend_for(Napi::Env env, const Device& d, const char* op) {
  if (d.kind == DeviceKind::CPU) return cpu_;
#ifdef NODEFORMERS_WITH_CUDA
  if (static_cast<size_t>(d.index) >= cuda_.size()) cuda_.resize(d.index + 1);
  if (!cuda_[d.index]) cuda_[d.index] = guarded(env, op, [&] { return make_cuda_backend(d.index); });
  return cuda_[d.index];
#else
  throw_arg(env, op, "this build of nodeformers has no CUDA backend (built without nvcc or cuBLASLt)");
#endif
}

std::shared_ptr<Backend> Addon::device_arg(const Napi::CallbackInfo& info, const char* op) {
  const Device d = info.Length() > 0 && !info[0].IsUndefined() ? parse_device(info.Env(), info[0], op) : Device{DeviceKind::CUDA, 0};
  return backend_for(info.Env(), d, op);
}

Napi::Value Addon::Backends(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  a.Set(0u, "cpu");
  if (device_count() > 0) a.Set(1u, "cuda");
  return a;
}

Napi::Value Addon::CudaDeviceCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_count()); }

// setArgLayouts(Float64Array of ArgLayouts::kSlots * kSlotDoubles): the buffer ts/native.ts
// writes tensor layouts into before each call to this instance; every slot starts marked read.
Napi::Value Addon::SetArgLayouts(const Napi::CallbackInfo& info) {
  layouts_.set(info.Env(), info);
  return info.Env().Undefined();
}

// allocate(device, bytes[, spare]) -> Storage. `spare`, a Storage of this addon's whose
// buffer was disposed, takes the new memory and is returned in place of a new Storage:
// making a wrapped object (and collecting it later) costs the host more than the cached
// allocation itself, so ts/tensor.ts hands back its retired storages. A Storage still in
// use (or one that lost its memory with a failed capture but was never disposed) is no spare.
Napi::Value Addon::Allocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Device d = parse_device(env, info[0], "allocate");
  const double bytes = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(bytes >= 0) || bytes != std::floor(bytes) || bytes > 9007199254740991.0) {
    throw_arg(env, "allocate", "byte count must be a non-negative integer");
  }
  Storage* spare = nullptr;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    spare = unwrap_as<Storage>(env, info[2]);
    if (spare == nullptr) throw_arg(env, "allocate", "spare must be a Storage");
    if (spare->buffer() != nullptr && !spare->buffer()->disposed()) {
      throw_arg(env, "allocate", "spare is a Storage still in use (dispose it first)");
    }
  }
  auto backend = backend_for(env, d, "allocate");
  auto buffer = guarded(env, "allocate", [&] { return std::make_shared<Buffer>(backend, static_cast<size_t>(bytes)); });
  if (spare != nullptr) {
    spare->Init(env, std::move(buffer));
    return info[2];
  }
  Napi::Object obj = storage_ctor_.New({});
  Storage::Unwrap(obj)->Init(env, std::move(buffer));
  return obj;
}

}  // namespace nf::addon

using NodeformersAddon = nf::addon::Addon;
NODE_API_ADDON(NodeformersAddon)
