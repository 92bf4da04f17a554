// One thread pool per process for the CPU kernels: workers sized to the machine's cores
// (NODEFORMERS_NUM_THREADS overrides; cpu.setNumThreads changes it), woken per parallel_for.
// Shared by every addon instance (main thread and worker_threads): the .node file is loaded
// once per process, and one pool keeps the thread count at the core count however many JS
// threads call in. A call that finds the pool busy (another JS thread, or a nested call from
// a task) runs its tasks inline on the calling thread: never a deadlock, never a wait.
#pragma once
#include <cstdint>

namespace nf::cpu {

// A borrowed callable (no allocation): fn(task, worker) for task in [0, n), worker in [0, threads).
class TaskRef {
 public:
  template <typename F>
  TaskRef(const F& f) : obj_(&f), call_([](const void* o, int64_t t, int w) { (*static_cast<const F*>(o))(t, w); }) {}
  void operator()(int64_t task, int worker) const { call_(obj_, task, worker); }

 private:
  const void* obj_;
  void (*call_)(const void*, int64_t, int);
};

// Threads the pool runs with (the caller counts as one).
int num_threads();
// Restarts the pool with n threads (1 <= n <= kMaxThreads); waits for a running call to end.
void set_num_threads(int n);
constexpr int kMaxThreads = 256;

// Runs fn(task, worker) for every task in [0, n_tasks), tasks claimed one by one by the
// caller and the workers; returns when all have run. worker < num_threads() indexes
// per-thread scratch. An exception in a task is rethrown here after the others finish.
void parallel_for(int64_t n_tasks, TaskRef fn);

// Splits [0, n) into about `threads` contiguous chunks of at least `grain` items and runs
// fn(begin, end) on each: for row loops where a task per row would cost more than the row.
template <typename F>
void parallel_range(int64_t n, int64_t grain, const F& fn) {
  if (n <= 0) return;
  const int64_t threads = num_threads();
  int64_t chunks = grain > 0 ? (n + grain - 1) / grain : n;
  if (chunks > threads * 4) chunks = threads * 4;
  if (chunks <= 1) return fn(int64_t{0}, n);
  const int64_t step = (n + chunks - 1) / chunks;
  parallel_for((n + step - 1) / step, [&](int64_t c, int) {
    const int64_t b = c * step, e = b + step < n ? b + step : n;
    fn(b, e);
  });
}

}  // namespace nf::cpu
