// HostCache (host_cache.h). Every block carries a 64-byte header with its rounded size, so a
// free needs no lookup; the data starts after it, still 64-byte aligned.
#include "host_cache.h"

#include <cstdint>
#include <cstdlib>
#include <iterator>

namespace nf::cpu {
namespace {

constexpr size_t kHeader = 64;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheOn = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kCacheOn = false;
#else
constexpr bool kCacheOn = true;
#endif
#else
constexpr bool kCacheOn = true;
#endif

// The size a request is served at: whole 64-byte lines, and whole pages where the cache may keep it.
size_t rounded(size_t bytes) {
  const size_t unit = kCacheOn && bytes >= HostCache::kMinCached ? 4096 : 64;
  return (bytes + unit - 1) / unit * unit;
}

void* data_of(void* base) { return static_cast<char*>(base) + kHeader; }
void* base_of(void* data) { return static_cast<char*>(data) - kHeader; }

}  // namespace

HostCache::~HostCache() {
  std::lock_guard<std::mutex> lk(m_);
  while (!by_age_.empty()) evict_oldest_locked();
}

void HostCache::evict_oldest_locked() {
  const Block b = by_age_.front();
  std::vector<std::list<Block>::iterator>& same = by_size_[b.size];
  same.erase(same.begin());  // the oldest of its size is the oldest in the list
  if (same.empty()) by_size_.erase(b.size);
  by_age_.pop_front();
  cached_ -= b.size;
  std::free(b.base);
}

void* HostCache::allocate(size_t bytes) {
  if (bytes > SIZE_MAX / 2) return nullptr;  // no system has it, and the rounding below must not wrap
  const size_t size = rounded(bytes);
  {
    std::lock_guard<std::mutex> lk(m_);
    auto it = by_size_.find(size);
    if (it != by_size_.end()) {
      const std::list<Block>::iterator newest = it->second.back();
      void* base = newest->base;
      it->second.pop_back();
      if (it->second.empty()) by_size_.erase(it);
      by_age_.erase(newest);
      cached_ -= size;
      return data_of(base);
    }
  }
  void* base = std::aligned_alloc(64, kHeader + size);
  if (base == nullptr) {  // give the cached blocks back and try once more
    {
      std::lock_guard<std::mutex> lk(m_);
      while (!by_age_.empty()) evict_oldest_locked();
    }
    base = std::aligned_alloc(64, kHeader + size);
    if (base == nullptr) return nullptr;
  }
  *static_cast<size_t*>(base) = size;
  return data_of(base);
}

void HostCache::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  void* base = base_of(ptr);
  const size_t size = *static_cast<size_t*>(base);
  if (!kCacheOn || size < kMinCached || size > kMaxBlock) return std::free(base);
  std::lock_guard<std::mutex> lk(m_);
  by_age_.push_back(Block{base, size});
  by_size_[size].push_back(std::prev(by_age_.end()));
  cached_ += size;
  while (cached_ > kMaxCached) evict_oldest_locked();
}

size_t HostCache::cached_bytes() {
  std::lock_guard<std::mutex> lk(m_);
  return cached_;
}

}  // namespace nf::cpu
