#include "errors.h"

#include <exception>
#include <new>

#include "../core/error.h"

namespace nf::addon {

void throw_js(Napi::Env env, const char* code, const std::string& message, bool type_error) {
  Napi::Error err = type_error ? Napi::TypeError::New(env, message) : Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

void throw_arg(Napi::Env env, const char* op, const std::string& what) {
  throw_js(env, "ERR_INVALID_ARG", std::string(op) + ": " + what, true);
}

void rethrow_as_js(Napi::Env env, const char* op) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw_js(env, error_code_name(e.code()), std::string(op) + ": " + e.what(), e.code() == ErrorCode::InvalidArg);
  } catch (const std::bad_alloc&) {
    throw_js(env, error_code_name(ErrorCode::OutOfMemory), std::string(op) + ": out of host memory");
  } catch (const std::exception& e) {
    throw_js(env, "ERR_INTERNAL", std::string(op) + ": " + e.what());
  } catch (...) {
    throw_js(env, "ERR_INTERNAL", std::string(op) + ": an unknown native exception");
  }
}

}  // namespace nf::addon
