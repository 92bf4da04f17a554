// The process's CPU thread pool (thread_pool.h): persistent workers, a generation counter per
// call, tasks claimed from one atomic counter. Between calls a worker spins for a while
// (kSpins pauses, tens of microseconds) before it parks on a condition variable, and the
// caller spins likewise for the last task: a forward's calls come back to back, and a futex
// wake costs more than most of its ops (BENCHMARKS.md, the CPU backend).
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
    if (t_in_pool || !run.owns_lock() || workers_.empty() || n_tasks == 1) return run_inline(n_tasks, fn);
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      n_tasks_ = n_tasks;
      next_.store(0, std::memory_order_relaxed);
      active_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    t_in_pool = true;
    claim_tasks(0);
    t_in_pool = false;
    const auto finished = [&] { return active_.load(std::memory_order_acquire) == 0; };
    std::unique_lock<std::mutex> lk(m_, std::defer_lock);
    if (!spin_until(finished)) {
      lk.lock();
      done_.wait(lk, finished);
    } else {
      lk.lock();  // error_ is read under the lock
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static void run_inline(int64_t n_tasks, TaskRef fn) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
  }

  void claim_tasks(int worker) {
    for (int64_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < n_tasks_;) {
      try {
        (*fn_)(t, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_tasks_, std::memory_order_relaxed);  // the others stop claiming
      }
    }
  }

  // `seen`: the generation when the worker was made, so a call launched before it first runs is not missed.
  void worker_loop(int worker, uint64_t seen) {
    t_in_pool = true;
    const auto woken = [&] { return stopping_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
    for (;;) {
      if (!spin_until(woken)) {
        std::unique_lock<std::mutex> lk(m_);
        wake_.wait(lk, woken);
      }
      {
        std::lock_guard<std::mutex> lk(m_);  // the call's fields were written under it
        if (stopping_.load(std::memory_order_relaxed)) return;
        seen = generation_.load(std::memory_order_relaxed);
      }
      claim_tasks(worker);
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);  // so the caller cannot miss the wake between its check and its wait
        done_.notify_one();
      }
    }
  }

  void start() {
    std::lock_guard<std::mutex> lk(m_);
    stopping_.store(false, std::memory_order_relaxed);
    for (int w = 1; w < threads_; ++w) workers_.emplace_back([this, w, g = generation_.load()] { worker_loop(w, g); });
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
  std::mutex m_;          // guards everything below but next_ (the atomics are also read without it)
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  int threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> generation_{0};  // written under m_; read by spinning workers without it
  const TaskRef* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int> active_{0};  // workers still in the call
  std::exception_ptr error_;
  alignas(64) std::atomic<int64_t> next_{0};  // last, on its own line: every thread writes it
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
