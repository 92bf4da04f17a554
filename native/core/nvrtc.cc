// nvrtc.h: NVRTC through dlopen. The entry points are declared here from NVRTC's C ABI
// (nvrtc.h of the CUDA toolkit): the toolkit's header need not be on the build machine.
#include "nvrtc.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "error.h"

#ifndef _WIN32
#include <dlfcn.h>
#endif

namespace nf::nvrtc {
namespace {

using Result = int;  // nvrtcResult: NVRTC_SUCCESS is 0, NVRTC_ERROR_COMPILATION 6
using Program = struct ProgramHandle*;
constexpr Result kSuccess = 0;
constexpr Result kCompilationError = 6;

struct Api {
  const char* (*get_error_string)(Result);
  Result (*version)(int*, int*);
  Result (*num_supported_archs)(int*);
  Result (*supported_archs)(int*);
  Result (*create)(Program*, const char*, const char*, int, const char* const*, const char* const*);
  Result (*destroy)(Program*);
  Result (*compile)(Program, int, const char* const*);
  Result (*ptx_size)(Program, size_t*);
  Result (*ptx)(Program, char*);
  Result (*cubin_size)(Program, size_t*);
  Result (*cubin)(Program, char*);
  Result (*log_size)(Program, size_t*);
  Result (*log)(Program, char*);
  Result (*add_name_expression)(Program, const char*);
  Result (*lowered_name)(Program, const char*, const char**);
};

// Where libnvrtc may be, in order: the build's own toolkit first, whose version matches the
// CUDA runtime the addon was built with.
std::vector<std::string> candidates() {
  std::vector<std::string> c;
#ifdef NODEFORMERS_CUDA_LIBDIR
  c.push_back(std::string(NODEFORMERS_CUDA_LIBDIR) + "/libnvrtc.so");
#endif
  for (const char* name : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so"}) c.emplace_back(name);
  return c;
}

bool file_exists(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f != nullptr) std::fclose(f);
  return f != nullptr;
}

// A directory holding CUDA's device headers (cuda_fp16.h and the rest), which NVRTC does not
// bring: NODEFORMERS_CUDA_INCLUDE, else the build's toolkit, else the usual install.
std::string find_include_dir() {
  std::vector<std::string> dirs;
  if (const char* e = std::getenv("NODEFORMERS_CUDA_INCLUDE"); e != nullptr && *e != '\0') dirs.emplace_back(e);
#ifdef NODEFORMERS_CUDA_INCLUDE_DIR
  dirs.emplace_back(NODEFORMERS_CUDA_INCLUDE_DIR);
#endif
  dirs.emplace_back("/usr/local/cuda/include");
  for (const std::string& d : dirs) {
    if (file_exists(d + "/cuda_fp16.h")) return d;
  }
  return "";
}

struct Loaded {
  Status status;
  Api api{};
};

#ifndef _WIN32
template <typename Fn>
bool bind(void* lib, const char* symbol, Fn* out, std::string* missing) {
  *out = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (*out == nullptr && missing->empty()) *missing = symbol;
  return *out != nullptr;
}

Loaded load() {
  Loaded l;
  std::vector<std::string> tried;
  const char* explicit_path = std::getenv("NODEFORMERS_NVRTC");
  const std::vector<std::string> names = explicit_path != nullptr && *explicit_path != '\0' ? std::vector<std::string>{explicit_path} : candidates();
  void* lib = nullptr;
  for (const std::string& name : names) {
    lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) {
      l.status.library = name;
      break;
    }
    const char* why = dlerror();
    tried.push_back(name + " (" + (why != nullptr ? why : "not found") + ")");
  }
  if (lib == nullptr) {
    l.status.error = "libnvrtc was not found: tried";
    for (size_t i = 0; i < tried.size(); ++i) l.status.error += (i == 0 ? " " : "; ") + tried[i];
    l.status.error += ". Install the CUDA toolkit's NVRTC, or set NODEFORMERS_NVRTC to the library's path";
    return l;
  }
  std::string missing;
  Api& a = l.api;
  bind(lib, "nvrtcGetErrorString", &a.get_error_string, &missing);
  bind(lib, "nvrtcVersion", &a.version, &missing);
  bind(lib, "nvrtcGetNumSupportedArchs", &a.num_supported_archs, &missing);
  bind(lib, "nvrtcGetSupportedArchs", &a.supported_archs, &missing);
  bind(lib, "nvrtcCreateProgram", &a.create, &missing);
  bind(lib, "nvrtcDestroyProgram", &a.destroy, &missing);
  bind(lib, "nvrtcCompileProgram", &a.compile, &missing);
  bind(lib, "nvrtcGetPTXSize", &a.ptx_size, &missing);
  bind(lib, "nvrtcGetPTX", &a.ptx, &missing);
  bind(lib, "nvrtcGetCUBINSize", &a.cubin_size, &missing);
  bind(lib, "nvrtcGetCUBIN", &a.cubin, &missing);
  bind(lib, "nvrtcGetProgramLogSize", &a.log_size, &missing);
  bind(lib, "nvrtcGetProgramLog", &a.log, &missing);
  bind(lib, "nvrtcAddNameExpression", &a.add_name_expression, &missing);
  bind(lib, "nvrtcGetLoweredName", &a.lowered_name, &missing);
  if (!missing.empty()) {
    l.status.error = l.status.library + " lacks " + missing + " (NVRTC 11.2 or newer is needed)";
    return l;  // the library stays open: a handle is cheap, and unloading a half-bound one gains nothing
  }
  int count = 0;
  if (a.version(&l.status.major, &l.status.minor) != kSuccess || a.num_supported_archs(&count) != kSuccess || count < 0) {
    l.status.error = l.status.library + " did not report its version";
    return l;
  }
  // NVRTC opens its builtins library by name: one beside a libnvrtc loaded by path (a pip
  // wheel's, say) is off the loader's path, so it is opened first and found by that name.
  if (const size_t slash = l.status.library.rfind('/'); slash != std::string::npos) {
    const std::string builtins = l.status.library.substr(0, slash) + "/libnvrtc-builtins.so." + std::to_string(l.status.major) + "." +
                                 std::to_string(l.status.minor);
    if (file_exists(builtins)) dlopen(builtins.c_str(), RTLD_NOW | RTLD_GLOBAL);
  }
  l.status.archs.resize(static_cast<size_t>(count));
  if (count > 0 && a.supported_archs(l.status.archs.data()) != kSuccess) {
    l.status.error = l.status.library + " did not report its architectures";
    return l;
  }
  l.status.include_dir = find_include_dir();
  l.status.available = true;
  return l;
}
#else
Loaded load() {
  Loaded l;
  l.status.error = "loading NVRTC is implemented for Linux only";
  return l;
}
#endif

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

[[noreturn]] void fail(const Api& a, const char* call, Result r) {
  throw Error(ErrorCode::Internal, std::string(call) + " failed: " + (a.get_error_string != nullptr ? a.get_error_string(r) : "?"));
}

// Owns a program: destroyed on every path out of compile().
struct ProgramGuard {
  const Api& api;
  Program program = nullptr;
  ~ProgramGuard() {
    if (program != nullptr) api.destroy(&program);
  }
};

}  // namespace

const Status& status() { return loaded().status; }

Output compile(const std::string& source, const std::string& program, const std::string& name_expression,
               const std::vector<std::string>& options) {
  const Loaded& l = loaded();
  if (!l.status.available) throw Error(ErrorCode::InvalidArg, "NVRTC is not available: " + l.status.error);
  const Api& a = l.api;
  ProgramGuard guard{a};
  Result r = a.create(&guard.program, source.c_str(), program.c_str(), 0, nullptr, nullptr);
  if (r != kSuccess) fail(a, "nvrtcCreateProgram", r);
  if ((r = a.add_name_expression(guard.program, name_expression.c_str())) != kSuccess) fail(a, "nvrtcAddNameExpression", r);
  std::vector<const char*> argv;
  argv.reserve(options.size());
  for (const std::string& o : options) argv.push_back(o.c_str());
  const Result compiled = a.compile(guard.program, static_cast<int>(argv.size()), argv.data());
  Output out;
  size_t size = 0;
  if ((r = a.log_size(guard.program, &size)) != kSuccess) fail(a, "nvrtcGetProgramLogSize", r);
  out.log.assign(size, '\0');
  if (size > 0 && (r = a.log(guard.program, &out.log[0])) != kSuccess) fail(a, "nvrtcGetProgramLog", r);
  while (!out.log.empty() && (out.log.back() == '\0' || out.log.back() == '\n')) out.log.pop_back();
  if (compiled == kCompilationError) return out;
  // An invalid option, or a name expression naming no __global__ function, is the user's too.
  if (compiled != kSuccess) {
    out.log += (out.log.empty() ? "" : "\n") + std::string(a.get_error_string(compiled));
    return out;
  }
  const char* lowered = nullptr;
  if (a.lowered_name(guard.program, name_expression.c_str(), &lowered) != kSuccess || lowered == nullptr) {
    out.log += (out.log.empty() ? "" : "\n") + ("'" + name_expression + "' names no __global__ function of the source");
    return out;
  }
  out.lowered_name = lowered;
  // A real architecture gives a cubin; a virtual one (compute_XY) PTX alone, and a cubin of 0 bytes.
  if ((r = a.cubin_size(guard.program, &size)) != kSuccess) fail(a, "nvrtcGetCUBINSize", r);
  out.ptx = size == 0;
  if (out.ptx && (r = a.ptx_size(guard.program, &size)) != kSuccess) fail(a, "nvrtcGetPTXSize", r);
  out.image.assign(size, '\0');
  if (size > 0) {
    r = out.ptx ? a.ptx(guard.program, &out.image[0]) : a.cubin(guard.program, &out.image[0]);
    if (r != kSuccess) fail(a, out.ptx ? "nvrtcGetPTX" : "nvrtcGetCUBIN", r);
  }
  if (out.ptx) {
    while (!out.image.empty() && out.image.back() == '\0') out.image.pop_back();  // the PTX text, without its terminator
  }
  out.ok = true;
  return out;
}

}  // namespace nf::nvrtc
