// The CPU backend's host memory: 64-byte-aligned blocks, and a bounded cache of freed large
// ones. glibc gives large blocks back to the kernel (and trims its heap) on free, so an op
// that makes a fresh output faults in and zeroes its pages again; with forwards queued back
// to back this cost a third of a batch-1 ViT forward (BENCHMARKS.md, the CPU backend). Freed
// blocks of 64 KiB to 16 MiB wait here, in lists by 4 KiB-rounded size, for the next
// allocation of that size; past 64 MiB in all the oldest go back to the system, so dropped
// tensors the GC has not yet freed never sit beside a large cache. Off under AddressSanitizer,
// which must see every free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace nf::cpu {

class HostCache {
 public:
  static constexpr size_t kMinCached = size_t{64} << 10;
  static constexpr size_t kMaxBlock = size_t{16} << 20;
  static constexpr size_t kMaxCached = size_t{64} << 20;

  HostCache() = default;
  ~HostCache();
  HostCache(const HostCache&) = delete;
  HostCache& operator=(const HostCache&) = delete;

  // A block of at least `bytes`, 64-byte aligned; null when the system has none (after the
  // cache gave its blocks back).
  void* allocate(size_t bytes);
  // Takes back a block allocate() returned (null is ignored); any thread.
  void deallocate(void* ptr);
  size_t cached_bytes();

 private:
  struct Block {
    void* base;  // what the system allocated: the 64-byte header holding the size, then the data
    size_t size;
  };
  void evict_oldest_locked();

  std::mutex m_;
  std::list<Block> by_age_;  // oldest first
  std::unordered_map<size_t, std::vector<std::list<Block>::iterator>> by_size_;  // newest last
  size_t cached_ = 0;
};

}  // namespace nf::cpu
