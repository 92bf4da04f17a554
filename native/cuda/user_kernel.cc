// user_kernel.h: modules and launches of kernels users bring, through the driver API.
#include "user_kernel.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "check.h"
#include "cuda_backend.h"

namespace nf::cuda {

// The driver's entry points this file calls, each typed as cuda.h declares it.
struct DriverApi {
  decltype(&::cuGetErrorName) get_error_name = nullptr;
  decltype(&::cuModuleLoadDataEx) module_load_data = nullptr;
  decltype(&::cuModuleUnload) module_unload = nullptr;
  decltype(&::cuModuleGetFunction) module_get_function = nullptr;
  decltype(&::cuFuncGetAttribute) func_get_attribute = nullptr;
  decltype(&::cuFuncSetAttribute) func_set_attribute = nullptr;
  decltype(&::cuLaunchKernel) launch_kernel = nullptr;
  decltype(&::cuFuncGetParamInfo) func_get_param_info = nullptr;  // CUDA 12.4 on; null before
};

namespace {

// `symbol` at the ABI this file was compiled against; null where the driver lacks it.
template <typename Fn>
void entry_point(const char* symbol, Fn* out, bool required) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t err = cudaGetDriverEntryPointByVersion(symbol, &fn, CUDA_VERSION, cudaEnableDefault, &found);
  if (err != cudaSuccess || found != cudaDriverEntryPointSuccess || fn == nullptr) {
    cudaGetLastError();
    if (required) {
      throw Error(ErrorCode::Cuda, std::string("the CUDA driver does not provide ") + symbol + " (" +
                                       (err != cudaSuccess ? cudaGetErrorString(err) : "symbol not found") + ")");
    }
    fn = nullptr;
  }
  *out = reinterpret_cast<Fn>(fn);
}

DriverApi load_driver_api() {
  DriverApi a;
  entry_point("cuGetErrorName", &a.get_error_name, true);
  entry_point("cuModuleLoadDataEx", &a.module_load_data, true);
  entry_point("cuModuleUnload", &a.module_unload, true);
  entry_point("cuModuleGetFunction", &a.module_get_function, true);
  entry_point("cuFuncGetAttribute", &a.func_get_attribute, true);
  entry_point("cuFuncSetAttribute", &a.func_set_attribute, true);
  entry_point("cuLaunchKernel", &a.launch_kernel, true);
  entry_point("cuFuncGetParamInfo", &a.func_get_param_info, false);
  return a;
}

// Loaded once a process; a failure is thrown again on each use.
const DriverApi& driver_api() {
  static const DriverApi api = load_driver_api();
  return api;
}

// "<what> failed: CUDA_ERROR_X (n)", then `detail` (the JIT's log) where there is one.
[[noreturn]] void throw_driver(const DriverApi& api, CUresult r, const std::string& what, const std::string& detail = "") {
  const char* name = nullptr;
  if (api.get_error_name == nullptr || api.get_error_name(r, &name) != CUDA_SUCCESS || name == nullptr) name = "unknown CUresult";
  throw Error(r == CUDA_ERROR_OUT_OF_MEMORY ? ErrorCode::CudaOom : ErrorCode::Cuda,
              what + " failed: " + name + " (" + std::to_string(r) + ")" + (detail.empty() ? "" : ": " + detail));
}

int function_attribute(const DriverApi& api, CUfunction fn, CUfunction_attribute a, const char* what) {
  int v = 0;
  const CUresult r = api.func_get_attribute(&v, a, fn);
  if (r != CUDA_SUCCESS) throw_driver(api, r, std::string("cuFuncGetAttribute(") + what + ")");
  return v;
}

// Dynamic shared memory every function may take without opting in.
constexpr uint32_t kDefaultDynamicShared = 48 * 1024;

class CudaUserKernel final : public UserKernel {
 public:
  CudaUserKernel(CudaBackend& backend, const DriverApi& api, CUfunction fn, std::string name, KernelAttributes attributes)
      : backend_(backend), api_(api), fn_(fn), name_(std::move(name)), attributes_(std::move(attributes)) {}

  const KernelAttributes& attributes() const override { return attributes_; }

  void launch(const LaunchConfig& c, void** params) override {
    const uint64_t threads = uint64_t{c.block[0]} * c.block[1] * c.block[2];
    const auto dims = [](const uint32_t* d) { return "[" + std::to_string(d[0]) + ", " + std::to_string(d[1]) + ", " + std::to_string(d[2]) + "]"; };
    if (c.block[0] > 1024 || c.block[1] > 1024 || c.block[2] > 64 || threads > static_cast<uint64_t>(attributes_.max_threads_per_block)) {
      throw_invalid("block " + dims(c.block) + " (" + std::to_string(threads) + " threads) is more than '" + name_ + "' takes: at most " +
                    std::to_string(attributes_.max_threads_per_block) + " threads a block (it uses " + std::to_string(attributes_.num_regs) +
                    " registers a thread), and block dims of at most [1024, 1024, 64]");
    }
    if (c.grid[0] > 2147483647u || c.grid[1] > 65535 || c.grid[2] > 65535) {
      throw_invalid("grid " + dims(c.grid) + " is larger than CUDA allows ([2^31 - 1, 65535, 65535])");
    }
    if (c.shared_mem > static_cast<uint32_t>(attributes_.max_dynamic_shared_bytes)) {
      throw_invalid("sharedMem " + std::to_string(c.shared_mem) + " bytes is more than '" + name_ + "' may take on " + backend_.name() + ": " +
                    std::to_string(attributes_.max_dynamic_shared_bytes) + " (the device's limit less its " +
                    std::to_string(attributes_.static_shared_bytes) + " bytes of static shared memory)");
    }
    backend_.activate();
    // Opted in to all it may take, once: the attribute is the function's, which every Kernel of
    // the same module shares, so no launch may lower it under another's.
    if (c.shared_mem > kDefaultDynamicShared && !opted_in_) {
      const CUresult r = api_.func_set_attribute(fn_, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, attributes_.max_dynamic_shared_bytes);
      if (r != CUDA_SUCCESS) throw_driver(api_, r, "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES) of '" + name_ + "'");
      opted_in_ = true;
    }
    const CUresult r = api_.launch_kernel(fn_, c.grid[0], c.grid[1], c.grid[2], c.block[0], c.block[1], c.block[2], c.shared_mem,
                                          reinterpret_cast<CUstream>(backend_.stream()), params, nullptr);
    if (r != CUDA_SUCCESS) throw_driver(api_, r, "cuLaunchKernel of '" + name_ + "' (grid " + dims(c.grid) + ", block " + dims(c.block) + ")");
  }

 private:
  CudaBackend& backend_;  // kept alive by the caller's handle on it
  const DriverApi& api_;
  CUfunction fn_;
  std::string name_;
  KernelAttributes attributes_;
  bool opted_in_ = false;  // to more dynamic shared memory than kDefaultDynamicShared
};

}  // namespace

UserModules::UserModules(CudaBackend& backend) : backend_(backend), api_(driver_api()) {}

UserModules::~UserModules() {
  for (auto& [image, module] : modules_) api_.module_unload(module);  // nothing to report to, at teardown
}

std::unique_ptr<UserKernel> UserModules::load(const std::string& image, const std::string& function) {
  backend_.activate();  // the runtime's primary context, current on this thread: the driver calls run in it
  auto it = modules_.find(image);
  if (it == modules_.end()) {
    CUmodule module = nullptr;
    // A PTX image must end in a NUL, which c_str() gives; a cubin's bytes are read by their own
    // headers. The JIT's log of a PTX that does not compile goes into the error.
    std::string log(8192, '\0');
    CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void* values[] = {&log[0], reinterpret_cast<void*>(static_cast<uintptr_t>(log.size()))};
    const CUresult r = api_.module_load_data(&module, image.c_str(), 2, options, values);
    if (r != CUDA_SUCCESS) {
      log.resize(std::strlen(log.c_str()));
      throw_driver(api_, r, "cuModuleLoadData (" + std::to_string(image.size()) + " bytes)", log);
    }
    it = modules_.emplace(image, module).first;
  }
  CUfunction fn = nullptr;
  const CUresult r = api_.module_get_function(&fn, it->second, function.c_str());
  if (r == CUDA_ERROR_NOT_FOUND) throw_invalid("the module has no kernel named '" + function + "'");
  if (r != CUDA_SUCCESS) throw_driver(api_, r, "cuModuleGetFunction('" + function + "')");
  KernelAttributes a;
  a.max_threads_per_block = function_attribute(api_, fn, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "MAX_THREADS_PER_BLOCK");
  a.num_regs = function_attribute(api_, fn, CU_FUNC_ATTRIBUTE_NUM_REGS, "NUM_REGS");
  a.static_shared_bytes = function_attribute(api_, fn, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, "SHARED_SIZE_BYTES");
  a.local_bytes = function_attribute(api_, fn, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, "LOCAL_SIZE_BYTES");
  a.ptx_version = function_attribute(api_, fn, CU_FUNC_ATTRIBUTE_PTX_VERSION, "PTX_VERSION");
  a.binary_version = function_attribute(api_, fn, CU_FUNC_ATTRIBUTE_BINARY_VERSION, "BINARY_VERSION");
  int optin = 0;
  NF_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, backend_.device_index()));
  a.max_dynamic_shared_bytes = optin > a.static_shared_bytes ? optin - a.static_shared_bytes : 0;
  if (api_.func_get_param_info != nullptr) {
    a.params_known = true;
    // Parameter i's size until the index runs past the last (CUDA_ERROR_INVALID_VALUE).
    for (size_t i = 0; i < 4096; ++i) {
      size_t offset = 0, size = 0;
      if (api_.func_get_param_info(fn, i, &offset, &size) != CUDA_SUCCESS) break;
      a.param_sizes.push_back(size);
    }
  }
  return std::make_unique<CudaUserKernel>(backend_, api_, fn, function, std::move(a));
}

std::unique_ptr<UserKernel> CudaBackend::load_kernel(const std::string& image, const std::string& function) {
  if (!user_modules_) user_modules_ = std::make_unique<UserModules>(*this);
  return user_modules_->load(image, function);
}

}  // namespace nf::cuda
