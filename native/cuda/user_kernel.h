// Kernels users bring, on a CudaBackend (core/user_kernel.h): modules loaded through the
// driver API from cubin or PTX images and kept while the backend lives (an image loaded
// twice loads once, and a CUDA graph that launched a function never outlives its module),
// and launches of their functions on the backend's stream. The driver's entry points come
// through the runtime (cudaGetDriverEntryPointByVersion): the addon links no libcuda, so a
// CUDA build still loads on a machine without a driver.
#pragma once
#include <cuda.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "../core/user_kernel.h"

namespace nf::cuda {

class CudaBackend;
struct DriverApi;  // user_kernel.cc

class UserModules {
 public:
  explicit UserModules(CudaBackend& backend);
  // Unloads every module (the backend has waited for its stream).
  ~UserModules();
  UserModules(const UserModules&) = delete;
  UserModules& operator=(const UserModules&) = delete;

  std::unique_ptr<UserKernel> load(const std::string& image, const std::string& function);

 private:
  CudaBackend& backend_;
  const DriverApi& api_;
  std::unordered_map<std::string, CUmodule> modules_;  // by image
};

}  // namespace nf::cuda
