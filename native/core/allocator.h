// Device memory as the pieces that need scratch space see it (the cuBLASLt context, a
// kernel's workspace): allocate and free, nothing else of the backend.
#pragma once
#include <cstddef>

namespace nf {

class Allocator {
 public:
  virtual ~Allocator() = default;
  // allocate(0) may return null; a failed allocation throws nf::Error.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr) = 0;
};

}  // namespace nf
