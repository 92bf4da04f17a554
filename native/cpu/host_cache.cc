// HostCache (host_cache.h).
#include "host_cache.h"

#include <cstdlib>

namespace nf::cpu {

HostCache::~HostCache() {
  std::lock_guard<std::mutex> lk(m_);
  release_all_locked();
}

void HostCache::release_all_locked() {
  for (auto& [size, blocks] : free_)
    for (void* p : blocks) std::free(p);
  free_.clear();
  cached_ = 0;
}

void* HostCache::allocate(size_t bytes) {
  if (bytes < kMinCached) return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  const size_t size = (bytes + 4095) / 4096 * 4096;
  std::lock_guard<std::mutex> lk(m_);
  auto it = free_.find(size);
  void* p = nullptr;
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    cached_ -= size;
  } else {
    p = std::aligned_alloc(64, size);
    if (p == nullptr && cached_ > 0) {  // give the cached blocks back and try once more
      release_all_locked();
      p = std::aligned_alloc(64, size);
    }
    if (p == nullptr) return nullptr;
  }
  sizes_[p] = size;
  return p;
}

void HostCache::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  {
    std::lock_guard<std::mutex> lk(m_);
    auto it = sizes_.find(ptr);
    if (it != sizes_.end()) {
      const size_t size = it->second;
      sizes_.erase(it);
      if (cached_ + size <= kMaxCached) {
        free_[size].push_back(ptr);
        cached_ += size;
        return;
      }
    }
  }
  std::free(ptr);
}

size_t HostCache::cached_bytes() {
  std::lock_guard<std::mutex> lk(m_);
  return cached_;
}

}  // namespace nf::cpu
