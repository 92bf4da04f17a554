// JS Errors from native failures: every error the addon throws carries a `code`
// (ERR_INVALID_ARG as a TypeError; ERR_OUT_OF_MEMORY, ERR_CUDA_OOM, ERR_CUDA, ERR_INTERNAL as
// an Error) and a message that starts with the function's name.
#pragma once
#include <napi.h>

#include <string>

namespace nf::addon {

[[noreturn]] void throw_js(Napi::Env env, const char* code, const std::string& message, bool type_error = false);
// TypeError ERR_INVALID_ARG "op: what".
[[noreturn]] void throw_arg(Napi::Env env, const char* op, const std::string& what);
// Rethrows the exception being handled as a JS Error naming `op` (nf::Error by its code,
// std::bad_alloc as ERR_OUT_OF_MEMORY); a Napi::Error goes on as it is.
[[noreturn]] void rethrow_as_js(Napi::Env env, const char* op);

// Runs fn, turning native exceptions into JS Errors that name `op`.
template <typename Fn>
auto guarded(Napi::Env env, const char* op, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (...) {
    rethrow_as_js(env, op);
  }
}

}  // namespace nf::addon
