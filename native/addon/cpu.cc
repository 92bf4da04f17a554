// The CPU backend's process-wide settings: its thread pool's size and the GEMM kernel in use.
// They live in native/cpu (one pool per process, thread_pool.h), not behind a Backend method:
// no other backend has a meaning for them. Each JS thread's CPU
// backend has a queue of its own (queued_backend.cc); synchronize('cpu') waits for it.
#include <string>

#include "../cpu/gemm.h"
#include "../cpu/thread_pool.h"
#include "errors.h"
#include "module.h"

namespace nf::addon {

Napi::Value Addon::CpuNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), cpu::num_threads()); }

// cpuSetNumThreads(n): n an integer in [1, kMaxThreads].
Napi::Value Addon::CpuSetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "cpu.setNumThreads";
  if (info.Length() < 1 || !info[0].IsNumber()) throw_arg(env, op, "expected n to be a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= cpu::kMaxThreads) || n != static_cast<double>(static_cast<int>(n)))
    throw_arg(env, op, "expected n to be an integer in [1, " + std::to_string(cpu::kMaxThreads) + "], got " + std::to_string(n));
  guarded(env, op, [&] { cpu::set_num_threads(static_cast<int>(n)); });
  return env.Undefined();
}

// cpuIdle(): true when this thread's CPU queue has no work pending (for tests of the queue).
Napi::Value Addon::CpuIdle(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cpu_->idle()); }

// cpuGemmKernel(name?): the kernel in use ('avx512', 'avx2', 'neon', 'scalar' or 'reference');
// with a name ('best' or one of those) selects it first, or throws where the CPU lacks it.
Napi::Value Addon::CpuGemmKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsString()) throw_arg(env, "cpu.gemmKernel", "expected name to be a string");
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    // The ops queued so far run with the kernel that was in use when they were called.
    guarded(env, "cpu.gemmKernel", [&] { cpu_->synchronize(); });
    if (!cpu::set_gemm_kernel(name.c_str())) throw_arg(env, "cpu.gemmKernel", "no GEMM kernel '" + name + "' for this CPU");
  }
  return Napi::String::New(env, cpu::gemm_kernel_name());
}

}  // namespace nf::addon
