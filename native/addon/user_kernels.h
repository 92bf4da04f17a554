// The JS object that owns a loaded user kernel (core/user_kernel.h): its function on one
// device and the parameters its signature declared, which kernelLaunch checks each launch's
// arguments against. Made by the addon's loadKernel (user_kernels.cc); never from JS.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "../core/backend.h"
#include "../core/user_kernel.h"

namespace nf::addon {

class KernelObject : public Napi::ObjectWrap<KernelObject> {
 public:
  static constexpr const char* kName = "Kernel";
  static constexpr napi_type_tag kTag = {0x6e6f6465666f726dULL, 0x6b65726e656c3031ULL};

  static Napi::Function Define(Napi::Env env);
  explicit KernelObject(const Napi::CallbackInfo& info);
  void Init(std::shared_ptr<Backend> backend, std::unique_ptr<UserKernel> kernel, std::vector<KernelParam> params, std::string name);

  // Null for a Kernel made from JS (new Kernel()), which launches nothing.
  UserKernel* kernel() const { return kernel_.get(); }
  Backend& backend() const { return *backend_; }
  const std::vector<KernelParam>& params() const { return params_; }
  const std::string& name() const { return name_; }

 private:
  // attributes() -> { name, device, maxThreadsPerBlock, numRegs, staticSharedBytes, localBytes,
  //   maxDynamicSharedBytes, ptxVersion, binaryVersion, paramSizes (null where the driver cannot say) }
  Napi::Value Attributes(const Napi::CallbackInfo& info);

  std::shared_ptr<Backend> backend_;  // declared first: outlives the kernel, whose module it holds
  std::unique_ptr<UserKernel> kernel_;
  std::vector<KernelParam> params_;
  std::string name_;
};

}  // namespace nf::addon
