// The CPU backend's queue, as a CUDA stream is the GPU's: one thread per backend runs the
// enqueued ops in order (each op may fan out over the thread pool), so that an op returns to
// JavaScript at once and only a read of the data waits. An op that throws is reported by the
// next synchronize(), as CUDA reports an asynchronous error at the next call that waits.
// NODEFORMERS_CPU_QUEUE=0 (read once) makes every stream run its work inline on the caller.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace nf::cpu {

class CpuStream {
 public:
  CpuStream();
  // Finishes the queued work, then stops the thread.
  ~CpuStream();
  CpuStream(const CpuStream&) = delete;
  CpuStream& operator=(const CpuStream&) = delete;

  // Runs `work` after everything enqueued before it; inline when the stream is synchronous.
  // Waits while kMaxQueued items are queued, as a CUDA launch blocks on a full queue: frees
  // wait behind the work, so an unbounded queue would hold memory without bound.
  void enqueue(std::function<void()> work);
  static constexpr size_t kMaxQueued = 1024;
  // Runs `work` now, on the caller, when nothing is queued or running; else enqueues it. For
  // work that is cheap and need not wait for room in the queue, such as a free.
  void run_now_or_enqueue(std::function<void()> work);
  // Waits until the work enqueued before this call has run; then rethrows the first error
  // an op raised since the last synchronize (as an nf::Error), if any.
  void synchronize();
  // True when nothing is queued or running.
  bool idle();
  // False when NODEFORMERS_CPU_QUEUE=0 runs every op inline.
  bool asynchronous() const { return worker_.joinable(); }

 private:
  void worker_loop();
  void run(const std::function<void()>& work);
  void rethrow_error(std::unique_lock<std::mutex>& lk);

  std::mutex m_;
  std::condition_variable work_ready_, work_done_, space_;
  std::deque<std::function<void()>> queue_;
  uint64_t enqueued_ = 0, completed_ = 0;  // counters of work items: a synchronize waits for its ticket
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace nf::cpu
