// What a device offers besides ops: memory counters, its facts, the host's time inside the
// backend, event timing and graphs. Plain structs and handles that the addon turns into JS
// values; the CUDA backend implements them, and Backend's defaults refuse (a CUDA device is
// needed).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nf {

struct DeviceMemory {
  uint64_t allocated = 0;  // bytes of this backend's live blocks and graph allocations
  uint64_t reserved = 0;   // bytes the device's pools hold from the driver
  uint64_t peak = 0;       // high-water mark of allocated since the last reset
  uint64_t cached = 0;     // bytes of freed blocks kept for reuse (inside reserved, outside allocated)
  uint64_t pool_used = 0;  // bytes the device's pool has handed out to every backend of the process
};

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  uint64_t total_memory = 0;
  int sm_count = 0;
  int l2_bytes = 0;
  int runtime_version = 0, driver_version = 0;
  size_t cublaslt_version = 0;
};

// The host's time inside a backend's calls, by kind (NODEFORMERS_HOST_TIMES=1; off, they stay
// 0): allocations and frees, GEMMs, the other ops' launches, and host transfers and waits.
enum HostPart { kHostAllocate, kHostFree, kHostGemm, kHostKernel, kHostWait, kHostParts };
inline const char* host_part_name(int part) {
  static const char* const kNames[kHostParts] = {"allocate", "free", "gemm", "kernel", "wait"};
  return kNames[part];
}
struct HostTimes {
  uint64_t calls[kHostParts] = {};
  uint64_t ns[kHostParts] = {};
};

// A recorded sequence of device work (a CUDA graph), replayed by launch(); destroying the
// handle frees it (after a launch still running).
class Graph {
 public:
  virtual ~Graph() = default;
  virtual void launch() = 0;
};

// The device time between its start (Backend::start_timer) and stop(): stop() records the
// end on the device's stream, waits for it, and returns the milliseconds between the two.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual float stop_ms() = 0;
};

}  // namespace nf
