// Kernels users bring (issue 26): NVRTC (core/nvrtc.h), loading a compiled module's function
// on a device (Backend::load_kernel), and launching it with arguments checked against its
// declared parameters. ts/kernels/ makes every check first with the caller's names; these are
// the addon's own, so that a direct call cannot crash either.
#include "user_kernels.h"

#include <cmath>
#include <cstring>
#include <string>

#include "../core/nvrtc.h"
#include "args.h"
#include "errors.h"
#include "module.h"
#include "wrapped.h"

namespace nf::addon {

// ---- Kernel ---------------------------------------------------------------------------------

Napi::Function KernelObject::Define(Napi::Env env) {
  static const Member<KernelObject> members[] = {{"attributes", &KernelObject::Attributes}};
  Napi::Function ctor = DefineClass(env, kName, {});
  add_checked_method(env, ctor, members[0]);
  return ctor;
}

KernelObject::KernelObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KernelObject>(info) { tag_instance<KernelObject>(info); }

void KernelObject::Init(std::shared_ptr<Backend> backend, std::unique_ptr<UserKernel> kernel, std::vector<KernelParam> params, std::string name) {
  backend_ = std::move(backend);
  kernel_ = std::move(kernel);
  params_ = std::move(params);
  name_ = std::move(name);
}

Napi::Value KernelObject::Attributes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!kernel_) throw_arg(env, "kernel.attributes", "the Kernel was not made by loadKernel");
  const KernelAttributes& a = kernel_->attributes();
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", name_);
  o.Set("device", backend_->name());
  o.Set("maxThreadsPerBlock", a.max_threads_per_block);
  o.Set("numRegs", a.num_regs);
  o.Set("staticSharedBytes", a.static_shared_bytes);
  o.Set("localBytes", a.local_bytes);
  o.Set("maxDynamicSharedBytes", a.max_dynamic_shared_bytes);
  o.Set("ptxVersion", a.ptx_version);
  o.Set("binaryVersion", a.binary_version);
  if (a.params_known) {
    Napi::Array sizes = Napi::Array::New(env, a.param_sizes.size());
    for (size_t i = 0; i < a.param_sizes.size(); ++i) sizes.Set(static_cast<uint32_t>(i), static_cast<double>(a.param_sizes[i]));
    o.Set("paramSizes", sizes);
  } else {
    o.Set("paramSizes", env.Null());
  }
  return o;
}

// ---- NVRTC ----------------------------------------------------------------------------------

namespace {

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) throw_arg(info.Env(), op, std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Uint8Array bytes_of(Napi::Env env, const std::string& s) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, s.size());
  if (!s.empty()) std::memcpy(buffer.Data(), s.data(), s.size());
  return Napi::Uint8Array::New(env, s.size(), buffer, 0);
}

// The parameters a signature declares: (kind, dtype code or -1 for any) pairs.
std::vector<KernelParam> read_params(Napi::Env env, const Napi::Value& v, const char* op) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) throw_arg(env, op, "params must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  const size_t n = a.ElementLength();
  if (n % 2 != 0) throw_arg(env, op, "params must hold (kind, dtype) pairs");
  std::vector<KernelParam> params(n / 2);
  int pointers = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const int32_t kind = a[2 * i], dtype = a[2 * i + 1];
    if (kind < 0 || kind >= kParamKinds) throw_arg(env, op, "parameter " + std::to_string(i) + " has an unknown kind");
    KernelParam& p = params[i];
    p.kind = static_cast<ParamKind>(kind);
    if (p.kind == ParamKind::Pointer) {
      if (dtype < -1 || dtype > static_cast<int32_t>(DType::UInt8)) throw_arg(env, op, "parameter " + std::to_string(i) + " has an unknown dtype");
      p.any_dtype = dtype == -1;
      if (!p.any_dtype) p.dtype = static_cast<DType>(dtype);
      ++pointers;
    }
  }
  if (pointers > Args::kMaxTensors) throw_arg(env, op, "a kernel takes at most " + std::to_string(Args::kMaxTensors) + " tensor parameters");
  return params;
}

// The sizes the compiled function's parameters have, against those the signature declares.
void check_param_sizes(Napi::Env env, const KernelAttributes& a, const std::vector<KernelParam>& params, const std::string& name) {
  if (!a.params_known) return;
  bool same = a.param_sizes.size() == params.size();
  for (size_t i = 0; same && i < params.size(); ++i) same = a.param_sizes[i] == param_bytes(params[i].kind);
  if (same) return;
  auto list = [](auto size_of, size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i) s += (i == 0 ? "" : ", ") + std::to_string(size_of(i));
    return s + "]";
  };
  throw_arg(env, "loadKernel",
            "'" + name + "' takes " + std::to_string(a.param_sizes.size()) + " parameters of " +
                list([&](size_t i) { return a.param_sizes[i]; }, a.param_sizes.size()) + " bytes, but the signature declares " +
                std::to_string(params.size()) + " of " + list([&](size_t i) { return param_bytes(params[i].kind); }, params.size()) + " bytes");
}

}  // namespace

// nvrtcInfo() -> { available, library, error, version: [major, minor] | null, archs, includeDir }
Napi::Value Addon::NvrtcInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const nvrtc::Status& s = nvrtc::status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", s.available);
  o.Set("library", s.library);
  o.Set("error", s.error);
  if (s.available) {
    Napi::Array version = Napi::Array::New(env, 2);
    version.Set(0u, s.major);
    version.Set(1u, s.minor);
    o.Set("version", version);
  } else {
    o.Set("version", env.Null());
  }
  Napi::Array archs = Napi::Array::New(env, s.archs.size());
  for (size_t i = 0; i < s.archs.size(); ++i) archs.Set(static_cast<uint32_t>(i), s.archs[i]);
  o.Set("archs", archs);
  o.Set("includeDir", s.include_dir);
  return o;
}

// nvrtcCompile(source, program, nameExpression, options: string[]) -> { ok, log, image, ptx, loweredName }
Napi::Value Addon::NvrtcCompile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "cuda.compile";
  const std::string source = string_arg(info, 0, op, "source");
  const std::string program = string_arg(info, 1, op, "program");
  const std::string name = string_arg(info, 2, op, "name");
  if (info.Length() <= 3 || !info[3].IsArray()) throw_arg(env, op, "options must be an array of strings");
  Napi::Array list = info[3].As<Napi::Array>();
  std::vector<std::string> options;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const Napi::Value o = list.Get(i);  // may run JavaScript: each value is copied as it comes
    if (!o.IsString()) throw_arg(env, op, "options must be an array of strings");
    options.push_back(o.As<Napi::String>().Utf8Value());
  }
  const nvrtc::Output out = guarded(env, op, [&] { return nvrtc::compile(source, program, name, options); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", out.ok);
  o.Set("log", out.log);
  o.Set("image", out.ok ? Napi::Value(bytes_of(env, out.image)) : env.Null());
  o.Set("ptx", out.ptx);
  o.Set("loweredName", out.lowered_name);
  return o;
}

// ---- loading and launching ---------------------------------------------------------------------

// loadKernel(device, image: Uint8Array, function, params: Int32Array) -> Kernel
Napi::Value Addon::LoadKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "loadKernel";
  const Device d = parse_device(env, info[0], op);
  if (info.Length() <= 1 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_arg(env, op, "image must be a Uint8Array");
  }
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  std::string image;
  if (bytes.Data() != nullptr) image.assign(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
  if (image.empty()) throw_arg(env, op, "image is empty");
  const std::string function = string_arg(info, 2, op, "function");
  if (function.empty()) throw_arg(env, op, "function must name a kernel");
  std::vector<KernelParam> params = read_params(env, info.Length() > 3 ? info[3] : env.Undefined(), op);
  auto backend = backend_for(env, d, op);
  std::unique_ptr<UserKernel> kernel = guarded(env, op, [&] { return backend->load_kernel(image, function); });
  check_param_sizes(env, kernel->attributes(), params, function);
  Napi::Object obj = kernel_ctor_.New({});
  KernelObject::Unwrap(obj)->Init(std::move(backend), std::move(kernel), std::move(params), function);
  return obj;
}

namespace {

// One scalar argument's value as parameter `p` takes it, or a refusal naming argument `i`.
void scalar_value(const Args& args, const Napi::Value& v, ParamKind kind, size_t i, void* slot) {
  const std::string what = "argument " + std::to_string(i);
  if (v.IsBigInt()) {
    bool lossless = false;
    if (kind == ParamKind::U64 || kind == ParamKind::U32) {
      const uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless || (kind == ParamKind::U32 && u > UINT32_MAX)) args.fail(what + " is out of range for its " + (kind == ParamKind::U32 ? "u32" : "u64"));
      if (kind == ParamKind::U32) *static_cast<uint32_t*>(slot) = static_cast<uint32_t>(u);
      else *static_cast<uint64_t*>(slot) = u;
      return;
    }
    if (kind == ParamKind::I64 || kind == ParamKind::I32) {
      const int64_t s = v.As<Napi::BigInt>().Int64Value(&lossless);
      if (!lossless || (kind == ParamKind::I32 && (s < INT32_MIN || s > INT32_MAX))) args.fail(what + " is out of range for its " + (kind == ParamKind::I32 ? "i32" : "i64"));
      if (kind == ParamKind::I32) *static_cast<int32_t*>(slot) = static_cast<int32_t>(s);
      else *static_cast<int64_t*>(slot) = s;
      return;
    }
    args.fail(what + " must be a number (a bigint is only for integer parameters)");
  }
  if (!v.IsNumber()) args.fail(what + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (kind == ParamKind::F32) {
    *static_cast<float*>(slot) = static_cast<float>(d);
    return;
  }
  if (kind == ParamKind::F64) {
    *static_cast<double*>(slot) = d;
    return;
  }
  // Integers: exact in a double (|d| <= 2^53) and inside the parameter's range.
  double lo = 0, hi = 9007199254740991.0;
  if (kind == ParamKind::I32) lo = -2147483648.0, hi = 2147483647.0;
  if (kind == ParamKind::U32) hi = 4294967295.0;
  if (kind == ParamKind::I64) lo = -9007199254740991.0;
  if (!(d >= lo && d <= hi && d == std::floor(d))) args.fail(what + " must be an integer in [" + std::to_string(static_cast<int64_t>(lo)) + ", " +
                                                              std::to_string(static_cast<int64_t>(hi)) + "]");
  switch (kind) {
    case ParamKind::I32: *static_cast<int32_t*>(slot) = static_cast<int32_t>(d); break;
    case ParamKind::U32: *static_cast<uint32_t*>(slot) = static_cast<uint32_t>(d); break;
    case ParamKind::I64: *static_cast<int64_t*>(slot) = static_cast<int64_t>(d); break;
    default: *static_cast<uint64_t*>(slot) = static_cast<uint64_t>(d); break;
  }
}

}  // namespace

// kernelLaunch(kernel, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedMem, args: (Tensor | number | bigint)[])
Napi::Value Addon::KernelLaunch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "kernel.launch", layouts_);
  KernelObject* object = info.Length() > 0 ? unwrap_as<KernelObject>(env, info[0]) : nullptr;
  if (object == nullptr || object->kernel() == nullptr) args.fail("kernel must be a Kernel made by loadKernel");
  LaunchConfig c;
  const char* names[7] = {"gridX", "gridY", "gridZ", "blockX", "blockY", "blockZ", "sharedMem"};
  for (int i = 0; i < 7; ++i) {
    const double lo = i < 6 ? 1 : 0, hi = i < 6 ? 2147483647.0 : 4294967295.0;
    const int64_t v = args.integer(1 + i, names[i], lo, hi, (std::string(names[i]) + " must be an integer in [" + (i < 6 ? "1" : "0") + ", " +
                                                             std::to_string(static_cast<int64_t>(hi)) + "]").c_str());
    if (i < 3) c.grid[i] = static_cast<uint32_t>(v);
    else if (i < 6) c.block[i - 3] = static_cast<uint32_t>(v);
    else c.shared_mem = static_cast<uint32_t>(v);
  }
  if (info.Length() <= 8 || !info[8].IsArray()) args.fail("args must be an array");
  Napi::Array list = info[8].As<Napi::Array>();
  const std::vector<KernelParam>& params = object->params();
  size_t expected = 0;
  for (const KernelParam& p : params) expected += p.kind == ParamKind::NullPointer ? 0 : 1;
  if (list.Length() != expected) {
    args.fail("'" + object->name() + "' takes " + std::to_string(expected) + " arguments, got " + std::to_string(list.Length()));
  }
  // Phase 1 (args.h): every argument read; a getter may run JavaScript here, and only here.
  union Slot {
    void* pointer;
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f32;
    double f64;
  };
  std::vector<Slot> slots(params.size());
  std::vector<Args::Ref> refs(params.size());
  std::vector<std::string> labels(params.size());  // Args keeps each name's pointer for the call
  uint32_t j = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    slots[i].u64 = 0;
    if (params[i].kind == ParamKind::NullPointer) continue;
    labels[i] = "argument " + std::to_string(j);
    if (params[i].kind == ParamKind::Pointer) refs[i] = args.element(list, j, labels[i].c_str());
    else scalar_value(args, list.Get(j), params[i].kind, j, &slots[i]);
    ++j;
  }
  // Phase 2: every storage alive, on the kernel's device, of the declared dtype, contiguous.
  Backend& mine = object->backend();
  bool any_tensor = false;
  for (const Args::Ref& r : refs) any_tensor = any_tensor || r.present();
  if (any_tensor) args.bind(Devices::Any);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!refs[i].present()) continue;
    const TensorView& v = args.view(refs[i]);
    const Backend& theirs = args.buffer(refs[i])->backend();
    if (&theirs != &mine) args.fail(labels[i] + " is on " + theirs.name() + " but the kernel is on " + mine.name());
    if (!params[i].any_dtype && v.dtype != params[i].dtype) {
      args.fail(labels[i] + " is " + dtype_name(v.dtype) + " but the parameter is a pointer to " + dtype_name(params[i].dtype));
    }
    if (!v.is_contiguous()) args.fail(labels[i] + " must be contiguous");
    slots[i].pointer = v.data;
  }
  std::vector<void*> pointers(params.size());
  for (size_t i = 0; i < params.size(); ++i) pointers[i] = &slots[i];
  guarded(env, "kernel.launch", [&] { object->kernel()->launch(c, pointers.data()); });
  return env.Undefined();
}

}  // namespace nf::addon
