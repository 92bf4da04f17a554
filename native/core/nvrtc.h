// NVRTC, CUDA's run-time compiler (cuda.compile), loaded on first use with dlopen: the addon
// links no libnvrtc, so a build without CUDA, or a machine without the toolkit, still loads
// and can say why NVRTC is missing (`nodeformers info`). Compiling needs no GPU; loading and
// launching what it makes does (the CUDA backend's load_kernel).
#pragma once
#include <string>
#include <vector>

namespace nf::nvrtc {

struct Status {
  bool available = false;
  std::string library;      // the file or name that loaded
  std::string error;        // why NVRTC is not available ("" when it is)
  int major = 0, minor = 0;  // nvrtcVersion
  std::vector<int> archs;    // the SM architectures it compiles for (75, 80, 86, 90, ...)
  std::string include_dir;   // a CUDA include directory holding cuda_fp16.h, or ""
};

// The library found (NODEFORMERS_NVRTC names a file to load instead of searching), once a process.
const Status& status();

struct Output {
  bool ok = false;
  std::string log;           // NVRTC's program log (the errors when !ok)
  std::string image;         // a cubin, or PTX text where it compiled for a virtual architecture
  bool ptx = false;
  std::string lowered_name;  // the kernel's symbol: name_expression as NVRTC lowered it
};

// Compiles `source` (`program` names it in the log) with `options`; `name_expression` is the
// kernel, a name or a template instance such as "f<float>". Throws nf::Error when NVRTC is
// unavailable or fails other than by a compile error (which comes back as !ok and the log).
Output compile(const std::string& source, const std::string& program, const std::string& name_expression,
               const std::vector<std::string>& options);

}  // namespace nf::nvrtc
