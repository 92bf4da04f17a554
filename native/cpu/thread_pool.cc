// The process's CPU thread pool (thread_pool.h): persistent workers and one atomic word per
// call, (generation << 32 | next task), from which the caller and the workers claim tasks by
// compare-and-swap. A call ends when its tasks are done, counted as they finish: the caller
// never waits for a worker that claimed nothing (one the OS has not run yet, as when the
// JavaScript thread takes a core of two), only for tasks in flight. Between calls a worker
// spins for a while (kSpins pauses, tens of microseconds) before it parks on a condition
// variable, and the caller spins likewise for the last task: a forward's calls come back to
// back, and a futex wake costs more than most of its ops (BENCHMARKS.md, the CPU backend).
#include "thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NF_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define NF_PAUSE() asm volatile("yield")
#else
#define NF_PAUSE()
#endif

#include "../core/error.h"

namespace nf::cpu {
namespace {

// True on a pool worker, and on a caller while its call runs: a nested call then runs inline.
thread_local bool t_in_pool = false;

constexpr int kSpins = 1 << 12;

// Spins until done() or kSpins pauses pass; true when done() held.
template <typename F>
bool spin_until(F done) {
  for (int i = 0; i < kSpins; ++i) {
    if (done()) return true;
    NF_PAUSE();
  }
  return done();
}

int default_threads() {
  if (const char* env = std::getenv("NODEFORMERS_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= kMaxThreads) return static_cast<int>(n);
    // Anything else falls back to the core count (the variable is read once, at first use).
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw < unsigned(kMaxThreads) ? hw : unsigned(kMaxThreads));
}

class Pool {
 public:
  Pool() : threads_(default_threads()) { start(); }

  int threads() {
    std::lock_guard<std::mutex> lk(m_);
    return threads_;
  }

  void resize(int n) {
    std::lock_guard<std::mutex> run(run_mutex_);  // no call in flight while the workers change
    stop();
    {
      std::lock_guard<std::mutex> lk(m_);
      threads_ = n;
    }
    start();
  }

  void run(int64_t n_tasks, TaskRef fn) {
    std::unique_lock<std::mutex> run(run_mutex_, std::try_to_lock);
    if (t_in_pool || !run.owns_lock() || workers_.empty() || n_tasks == 1 || static_cast<uint64_t>(n_tasks) >= kClosed) return run_inline(n_tasks, fn);
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      n_tasks_.store(n_tasks, std::memory_order_release);  // after the previous call's close (see claim_tasks)
      done_.store(0, std::memory_order_relaxed);
      failed_.store(false, std::memory_order_relaxed);
      error_ = nullptr;
      generation = (work_.load(std::memory_order_relaxed) >> 32) + 1;
      work_.store(generation << 32, std::memory_order_release);  // publishes the fields above
    }
    wake_.notify_all();
    t_in_pool = true;
    claim_tasks(generation, 0);
    t_in_pool = false;
    const auto finished = [&] { return done_.load(std::memory_order_acquire) == n_tasks; };
    std::unique_lock<std::mutex> lk(m_, std::defer_lock);
    if (!spin_until(finished)) {
      lk.lock();
      caller_waiting_ = true;
      all_done_.wait(lk, finished);
      caller_waiting_ = false;
    } else {
      lk.lock();  // error_ is read under the lock
    }
    // Closed before the fields change for the next call: a worker still holding this
    // generation's word can no longer claim from it.
    work_.store(generation << 32 | kClosed, std::memory_order_release);
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static constexpr uint64_t kClosed = 0xffffffffu;  // a task index no call reaches

  static void run_inline(int64_t n_tasks, TaskRef fn) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
  }

  // Claims and runs `generation`'s tasks until none is left; a task claimed after an error
  // is counted without running, so the call still ends.
  void claim_tasks(uint64_t generation, int worker) {
    for (;;) {
      uint64_t w = work_.load(std::memory_order_acquire);
      if (w >> 32 != generation) return;
      const uint64_t task = w & kClosed;
      // A count read from a later call follows this call's close, so the exchange below fails.
      if (task >= static_cast<uint64_t>(n_tasks_.load(std::memory_order_acquire))) return;
      if (!work_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      if (!failed_.load(std::memory_order_relaxed)) {
        try {
          (*fn_)(static_cast<int64_t>(task), worker);
        } catch (...) {
          std::lock_guard<std::mutex> lk(m_);
          if (!error_) error_ = std::current_exception();
          failed_.store(true, std::memory_order_relaxed);
        }
      }
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_tasks_.load(std::memory_order_relaxed)) {
        std::lock_guard<std::mutex> lk(m_);  // so the caller cannot miss the wake between its check and its wait
        if (caller_waiting_) all_done_.notify_one();
      }
    }
  }

  void worker_loop(int worker) {
    t_in_pool = true;
    uint64_t seen = work_.load(std::memory_order_acquire) >> 32;
    const auto woken = [&] { return stopping_.load(std::memory_order_acquire) || work_.load(std::memory_order_acquire) >> 32 != seen; };
    for (;;) {
      if (!spin_until(woken)) {
        std::unique_lock<std::mutex> lk(m_);
        wake_.wait(lk, woken);
      }
      if (stopping_.load(std::memory_order_acquire)) return;
      seen = work_.load(std::memory_order_acquire) >> 32;
      claim_tasks(seen, worker);
    }
  }

  void start() {
    std::lock_guard<std::mutex> lk(m_);
    stopping_.store(false, std::memory_order_relaxed);
    for (int w = 1; w < threads_; ++w) workers_.emplace_back([this, w] { worker_loop(w); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stopping_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex run_mutex_;  // held by the one call the workers serve
  std::mutex m_;          // guards the waits and error_; the call's fields are published by work_
  std::condition_variable wake_, all_done_;
  std::vector<std::thread> workers_;
  int threads_;
  std::atomic<bool> stopping_{false};
  const TaskRef* fn_ = nullptr;
  std::atomic<int64_t> n_tasks_{0};
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
  bool caller_waiting_ = false;  // under m_
  alignas(64) std::atomic<uint64_t> work_{kClosed};  // generation << 32 | next task; every thread writes it
  alignas(64) std::atomic<int64_t> done_{0};         // tasks finished (or skipped after an error)
};

// Never destroyed: workers parked at exit are harmless, and joining them from a static
// destructor could race a worker_thread's teardown.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int num_threads() { return pool().threads(); }

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    throw Error(ErrorCode::InvalidArg, "cpu.setNumThreads: expected a thread count in [1, " + std::to_string(kMaxThreads) + "], got " + std::to_string(n));
  pool().resize(n);
}

void parallel_for(int64_t n_tasks, TaskRef fn) {
  if (n_tasks <= 0) return;
  pool().run(n_tasks, fn);
}

}  // namespace nf::cpu
