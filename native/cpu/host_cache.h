// A cache of freed host blocks for the CPU backend: a block of 64 KiB or more goes back to a
// free list of its size (rounded to 4 KiB) instead of to the C library, which returns such
// blocks to the kernel (mmap) and makes the next op of that size fault in and zero every
// page again. A transformer's activations come in a handful of sizes, so a forward reuses
// the last one's blocks. At most kMaxCached bytes wait in the lists; freed beyond that, a
// block goes back to the C library. Thread-safe (allocations come from the JS thread, frees
// from the CPU queue's).
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace nf::cpu {

class HostCache {
 public:
  HostCache() = default;
  ~HostCache();
  HostCache(const HostCache&) = delete;
  HostCache& operator=(const HostCache&) = delete;

  // 64-byte aligned; nullptr when the C library has no memory left (after trimming the lists).
  void* allocate(size_t bytes);
  void deallocate(void* ptr);
  size_t cached_bytes();

  static constexpr size_t kMinCached = size_t{64} << 10;
  static constexpr size_t kMaxCached = size_t{512} << 20;

 private:
  void release_all_locked();

  std::mutex m_;
  std::unordered_map<void*, size_t> sizes_;              // live blocks of kMinCached or more: their rounded size
  std::unordered_map<size_t, std::vector<void*>> free_;  // rounded size -> freed blocks
  size_t cached_ = 0;
};

}  // namespace nf::cpu
