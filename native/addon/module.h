// The addon instance: per-context state (the backends by device, the classes' constructors,
// the layout slots) and its methods, each defined in the file of its area:
//   module.cc     the method table, devices and backends, allocate, setArgLayouts
//   ops.cc        copy, copyPeer, fill, gemm, norm, softmax, biasActivation, binary, mean, patchGather
//   attention.cc  attention, sparseAttention, attentionBackward, sparseAttentionBackward, encoderBlock
//   backward.cc   normBackward, softmaxBackward, activationBackward, sumRows
//   random.cc     dropout, philox
//   optimizer.cc  optimizerStep, unscaleGrads
//   training.cc   crossEntropy, crossEntropyBackward, patchScatter, multiNorm, multiScale
//   plans.cc      sparsePlan, blockPlan
//   mixing.cc     depthwiseConv2d, depthwiseConv2dBackward, avgPool2d, avgPool2dBackward, fourierMix
//   device.cc     synchronize, memory counters, device facts, host times, timing, graphs
//   cpu.cc        cpuNumThreads, cpuSetNumThreads, cpuGemmKernel (the CPU backend's pool and GEMM)
//   user_kernels.cc  nvrtcInfo, nvrtcCompile, loadKernel, kernelLaunch (kernels users bring)
// Every op method reads its arguments with Args (args.h) and calls native/core's dispatch.
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "../core/backend.h"
#include "args.h"

namespace nf::addon {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);

 private:
  std::shared_ptr<Backend> backend_for(Napi::Env env, const Device& d, const char* op);
  // The backend of argument i's device, 'cuda:0' when it is undefined (the cuda.* functions).
  std::shared_ptr<Backend> device_arg(const Napi::CallbackInfo& info, const char* op);

  // module.cc
  Napi::Value Backends(const Napi::CallbackInfo& info);
  Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info);
  Napi::Value SetArgLayouts(const Napi::CallbackInfo& info);
  Napi::Value Allocate(const Napi::CallbackInfo& info);
  // cpu.cc
  Napi::Value CpuNumThreads(const Napi::CallbackInfo& info);
  Napi::Value CpuSetNumThreads(const Napi::CallbackInfo& info);
  Napi::Value CpuGemmKernel(const Napi::CallbackInfo& info);
  Napi::Value CpuIdle(const Napi::CallbackInfo& info);
  // ops.cc
  Napi::Value Copy(const Napi::CallbackInfo& info);
  Napi::Value CopyPeer(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value Gemm(const Napi::CallbackInfo& info);
  Napi::Value Norm(const Napi::CallbackInfo& info);
  Napi::Value Softmax(const Napi::CallbackInfo& info);
  Napi::Value BiasActivation(const Napi::CallbackInfo& info);
  Napi::Value Binary(const Napi::CallbackInfo& info);
  Napi::Value Mean(const Napi::CallbackInfo& info);
  Napi::Value PatchGather(const Napi::CallbackInfo& info);
  // attention.cc
  Napi::Value Attention(const Napi::CallbackInfo& info);
  Napi::Value SparseAttention(const Napi::CallbackInfo& info);
  Napi::Value AttentionBackward(const Napi::CallbackInfo& info);
  Napi::Value SparseAttentionBackward(const Napi::CallbackInfo& info);
  Napi::Value EncoderBlock(const Napi::CallbackInfo& info);
  // backward.cc
  Napi::Value NormBackward(const Napi::CallbackInfo& info);
  Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info);
  Napi::Value ActivationBackward(const Napi::CallbackInfo& info);
  Napi::Value SumRows(const Napi::CallbackInfo& info);
  // random.cc
  Napi::Value Dropout(const Napi::CallbackInfo& info);
  Napi::Value Philox(const Napi::CallbackInfo& info);
  // optimizer.cc
  Napi::Value OptimizerStep(const Napi::CallbackInfo& info);
  Napi::Value UnscaleGrads(const Napi::CallbackInfo& info);
  // training.cc
  Napi::Value CrossEntropy(const Napi::CallbackInfo& info);
  Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info);
  Napi::Value PatchScatter(const Napi::CallbackInfo& info);
  Napi::Value MultiNorm(const Napi::CallbackInfo& info);
  Napi::Value MultiScale(const Napi::CallbackInfo& info);
  // mixing.cc
  Napi::Value DepthwiseConv2d(const Napi::CallbackInfo& info);
  Napi::Value DepthwiseConv2dBackward(const Napi::CallbackInfo& info);
  Napi::Value AvgPool2d(const Napi::CallbackInfo& info);
  Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info);
  Napi::Value FourierMix(const Napi::CallbackInfo& info);
  // plans.cc
  Napi::Value SparsePlanNew(const Napi::CallbackInfo& info);
  Napi::Value BlockPlanNew(const Napi::CallbackInfo& info);
  // device.cc
  Napi::Value Synchronize(const Napi::CallbackInfo& info);
  Napi::Value BufferBytes(const Napi::CallbackInfo& info);
  Napi::Value CudaMemory(const Napi::CallbackInfo& info);
  Napi::Value CudaResetPeak(const Napi::CallbackInfo& info);
  Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info);
  Napi::Value CudaHostTimes(const Napi::CallbackInfo& info);
  Napi::Value CudaDeviceInfo(const Napi::CallbackInfo& info);
  Napi::Value CudaTimeRegion(const Napi::CallbackInfo& info);
  Napi::Value CudaCaptureBegin(const Napi::CallbackInfo& info);
  Napi::Value CudaCaptureEnd(const Napi::CallbackInfo& info);
  Napi::Value CudaCaptureAbort(const Napi::CallbackInfo& info);
  Napi::Value CudaGraphMemTrim(const Napi::CallbackInfo& info);
  // user_kernels.cc
  Napi::Value NvrtcInfo(const Napi::CallbackInfo& info);
  Napi::Value NvrtcCompile(const Napi::CallbackInfo& info);
  Napi::Value LoadKernel(const Napi::CallbackInfo& info);
  Napi::Value KernelLaunch(const Napi::CallbackInfo& info);

  std::shared_ptr<Backend> cpu_;
  std::vector<std::shared_ptr<Backend>> cuda_;
  Napi::FunctionReference storage_ctor_;
  Napi::FunctionReference sparse_plan_ctor_;
  Napi::FunctionReference block_plan_ctor_;
  Napi::FunctionReference graph_ctor_;
  Napi::FunctionReference kernel_ctor_;
  // One per instance, so that two instances on one thread (the addon loaded twice) never
  // read each other's layouts.
  ArgLayouts layouts_;
};

}  // namespace nf::addon
