// CpuStream (cpu_stream.h): a FIFO of work items served by one thread, with ticketed waits.
#include "cpu_stream.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "../core/error.h"

namespace nf::cpu {
namespace {

bool queue_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("NODEFORMERS_CPU_QUEUE");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return enabled;
}

}  // namespace

CpuStream::CpuStream() {
  if (queue_enabled()) worker_ = std::thread([this] { worker_loop(); });
}

CpuStream::~CpuStream() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lk(m_);
    stopping_ = true;
  }
  work_ready_.notify_one();
  // The last owner may drop the backend from a work item (nothing does today): never self-join.
  if (worker_.get_id() == std::this_thread::get_id()) worker_.detach();
  else worker_.join();
}

void CpuStream::enqueue(std::function<void()> work) {
  if (!asynchronous()) return work();
  {
    std::unique_lock<std::mutex> lk(m_);
    space_.wait(lk, [&] { return queue_.size() < kMaxQueued; });
    queue_.push_back(std::move(work));
    ++enqueued_;
  }
  work_ready_.notify_one();
}

void CpuStream::run_now_or_enqueue(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lk(m_);
    if (enqueued_ != completed_) {
      queue_.push_back(std::move(work));
      ++enqueued_;
      work_ready_.notify_one();
      return;
    }
  }
  work();
}

void CpuStream::synchronize() {
  std::unique_lock<std::mutex> lk(m_);
  const uint64_t ticket = enqueued_;
  work_done_.wait(lk, [&] { return completed_ >= ticket; });
  rethrow_error(lk);
}

bool CpuStream::idle() {
  std::lock_guard<std::mutex> lk(m_);
  return enqueued_ == completed_;
}

void CpuStream::rethrow_error(std::unique_lock<std::mutex>& lk) {
  if (!error_) return;
  std::exception_ptr error = std::exchange(error_, nullptr);
  lk.unlock();
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    throw Error(e.code(), std::string("an earlier CPU op failed: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, "an earlier CPU op failed: out of host memory");
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Internal, std::string("an earlier CPU op failed: ") + e.what());
  }
}

void CpuStream::run(const std::function<void()>& work) {
  try {
    work();
  } catch (...) {
    std::lock_guard<std::mutex> lk(m_);
    if (!error_) error_ = std::current_exception();
  }
}

void CpuStream::worker_loop() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lk(m_);
      work_ready_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    space_.notify_one();
    run(work);
    work = nullptr;  // what the item captured goes before it counts as done
    {
      std::lock_guard<std::mutex> lk(m_);
      ++completed_;
    }
    work_done_.notify_all();
  }
}

}  // namespace nf::cpu
