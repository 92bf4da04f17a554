// Kernels users bring (issue 26): a function of a compiled module (a cubin or PTX image, from
// NVRTC, Triton or anywhere) loaded on a device, its parameters as the user declared them, and
// one launch's configuration. Backend::load_kernel makes one (CUDA only); the addon checks a
// launch's arguments against the parameters, and UserKernel::launch enqueues it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dtype.h"

namespace nf {

// A parameter's kind, as ts/kernels/signature.ts codes it. NullPointer: a pointer the launch
// passes as null without a JS argument (the scratch pointers Triton appends to a kernel).
enum class ParamKind : int { Pointer = 0, I32 = 1, U32 = 2, I64 = 3, U64 = 4, F32 = 5, F64 = 6, NullPointer = 7 };
constexpr int kParamKinds = 8;

inline size_t param_bytes(ParamKind k) {
  return k == ParamKind::I32 || k == ParamKind::U32 || k == ParamKind::F32 ? 4 : 8;
}

struct KernelParam {
  ParamKind kind = ParamKind::Pointer;
  bool any_dtype = true;  // a Pointer: any tensor (ptr<void>), else one of `dtype`
  DType dtype = DType::Float32;
};

// What the driver says of a loaded function. param_sizes: each parameter's bytes as compiled,
// where the driver can say (params_known: CUDA 12.4 on).
struct KernelAttributes {
  int max_threads_per_block = 0;
  int num_regs = 0;
  int static_shared_bytes = 0;
  int local_bytes = 0;
  int max_dynamic_shared_bytes = 0;  // the most a launch may ask for (the device's opt-in limit less the static)
  int ptx_version = 0, binary_version = 0;
  bool params_known = false;
  std::vector<size_t> param_sizes;
};

struct LaunchConfig {
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t shared_mem = 0;  // dynamic shared memory, bytes
};

class UserKernel {
 public:
  virtual ~UserKernel() = default;
  virtual const KernelAttributes& attributes() const = 0;
  // Checks `c` against the function's limits, then enqueues one launch on the device's stream
  // with params[i] pointing at parameter i's value. Throws nf::Error for a refused launch.
  virtual void launch(const LaunchConfig& c, void** params) = 0;
};

}  // namespace nf
