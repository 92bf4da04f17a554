// The one exception type native code throws. The addon turns it into a JS Error whose
// `code` is the code given here, so callers can tell out-of-memory from a bad argument.
#pragma once
#include <stdexcept>
#include <string>

namespace nf {

enum class ErrorCode { InvalidArg, OutOfMemory, CudaOom, Cuda, Internal };

inline const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::InvalidArg: return "ERR_INVALID_ARG";
    case ErrorCode::OutOfMemory: return "ERR_OUT_OF_MEMORY";  // host memory
    case ErrorCode::CudaOom: return "ERR_CUDA_OOM";
    case ErrorCode::Cuda: return "ERR_CUDA";
    case ErrorCode::Internal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] inline void throw_invalid(const std::string& message) { throw Error(ErrorCode::InvalidArg, message); }

}  // namespace nf
