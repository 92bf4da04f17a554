// HostTimer: the host time of a CudaBackend call, by part, when NODEFORMERS_HOST_TIMES=1
// (bench/host_breakdown.ts reads the parts).
#pragma once
#include <chrono>
#include <cstdint>

#include "../core/device.h"
#include "check.h"

namespace nf::cuda {

inline bool host_times_on() {
  static const bool on = env_flag("NODEFORMERS_HOST_TIMES");
  return on;
}

// Adds the host time of its scope to one HostTimes part, when NODEFORMERS_HOST_TIMES=1, less
// the time of the timers inside it (an attention's workspace allocation counts as an
// allocation only), so that the parts add up to the time spent in the backend.
class HostTimer {
 public:
  HostTimer(HostTimes& times, HostPart part) : times_(host_times_on() ? &times : nullptr), part_(part) {
    if (times_ == nullptr) return;
    parent_ = active_;
    active_ = this;
    start_ = std::chrono::steady_clock::now();
  }
  ~HostTimer() {
    if (times_ == nullptr) return;
    const auto elapsed = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count());
    times_->calls[part_] += 1;
    times_->ns[part_] += elapsed > inner_ns_ ? elapsed - inner_ns_ : 0;
    if (parent_ != nullptr) parent_->inner_ns_ += elapsed;
    active_ = parent_;
  }
  HostTimer(const HostTimer&) = delete;
  HostTimer& operator=(const HostTimer&) = delete;

 private:
  static inline thread_local HostTimer* active_ = nullptr;  // the innermost timer running on this thread
  HostTimes* times_;
  HostPart part_;
  HostTimer* parent_ = nullptr;
  uint64_t inner_ns_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace nf::cuda
