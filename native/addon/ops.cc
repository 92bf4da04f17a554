// The elementwise, GEMM, normalization and reduction ops: each reads its arguments (Args),
// builds the op's call, and runs it through native/core's dispatch (which checks it).
#include "../core/dispatch.h"
#include "module.h"

namespace nf::addon {

// copy(dst, src): same shape, any dtypes and strides.
Napi::Value Addon::Copy(const Napi::CallbackInfo& info) {
  Args args(info, "copy", layouts_);
  const auto dst = args.tensor(0, "dst", Access::Whole), src = args.tensor(1, "src");
  Backend& backend = args.bind();
  args.run([&] { dispatch::copy(backend, args.view(dst), args.view(src)); });
  return info.Env().Undefined();
}

// copyPeer(dst, src) -> boolean: dst and src contiguous, of one dtype and size, on two
// devices; copies device to device and returns true where the pair has a path for it (two
// GPUs with peer access), else false and copies nothing (the caller goes through the host).
Napi::Value Addon::CopyPeer(const Napi::CallbackInfo& info) {
  Args args(info, "copyPeer", layouts_);
  const auto dst = args.tensor(0, "dst", Access::Whole), src = args.tensor(1, "src");
  args.bind(Devices::Any);
  const bool done = args.run([&] {
    return dispatch::copy_peer(args.buffer(dst)->backend(), args.view(dst), args.buffer(src)->backend(), args.view(src));
  });
  return Napi::Boolean::New(info.Env(), done);
}

// fill(dst, value)
Napi::Value Addon::Fill(const Napi::CallbackInfo& info) {
  Args args(info, "fill", layouts_);
  const auto dst = args.tensor(0, "dst", Access::Whole);
  const double value = args.number(1, "value");
  Backend& backend = args.bind();
  args.run([&] { dispatch::fill(backend, args.view(dst), value); });
  return info.Env().Undefined();
}

// gemm(a, b, c, bias|null, transA, transB, alpha, activation, param, param2, allowTF32, residual|null)
// as GemmCall (native/core/calls.h) says.
Napi::Value Addon::Gemm(const Napi::CallbackInfo& info) {
  Args args(info, "gemm", layouts_);
  const auto a = args.tensor(0, "a"), b = args.tensor(1, "b"), c = args.tensor(2, "c", Access::Whole);
  const auto bias = args.optional_tensor(3, "bias"), residual = args.optional_tensor(11, "residual");
  GemmCall call;
  call.trans_a = args.flag(4);
  call.trans_b = args.flag(5);
  call.alpha = static_cast<float>(args.number(6, "alpha"));
  call.activation = args.activation(7);
  call.allow_tf32 = args.flag(10);
  Backend& backend = args.bind();
  call.a = args.view(a);
  call.b = args.view(b);
  call.c = args.view(c);
  call.bias = args.maybe(bias);
  call.residual = args.maybe(residual);
  args.run([&] { dispatch::gemm(backend, call); });
  return info.Env().Undefined();
}

// norm(out, x, weight|null, bias|null, eps, rms): x and out contiguous, same shape.
Napi::Value Addon::Norm(const Napi::CallbackInfo& info) {
  Args args(info, "norm", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x");
  const auto weight = args.optional_tensor(2, "weight"), bias = args.optional_tensor(3, "bias");
  NormCall call;
  call.eps = static_cast<float>(args.number(4, "eps"));
  call.rms = args.flag(5);
  Backend& backend = args.bind();
  call.out = args.view(out);
  call.x = args.view(x);
  call.weight = args.maybe(weight);
  call.bias = args.maybe(bias);
  args.run([&] { dispatch::norm(backend, call); });
  return info.Env().Undefined();
}

// softmax(out, x, mask|null, scale): the mask a uint8 view broadcast to x's shape.
Napi::Value Addon::Softmax(const Napi::CallbackInfo& info) {
  Args args(info, "softmax", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x"), mask = args.optional_tensor(2, "mask");
  SoftmaxParams p;
  p.scale = static_cast<float>(args.number(3, "scale"));
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.x = args.view(x);
  if (mask.present()) {
    p.has_mask = true;
    p.mask = args.view(mask);
  }
  args.run([&] { dispatch::softmax(backend, p); });
  return info.Env().Undefined();
}

// biasActivation(out, x, bias|null, activation, param, param2)
Napi::Value Addon::BiasActivation(const Napi::CallbackInfo& info) {
  Args args(info, "biasActivation", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x"), bias = args.optional_tensor(2, "bias");
  BiasActivationCall call;
  call.activation = args.activation(3);
  Backend& backend = args.bind();
  call.out = args.view(out);
  call.x = args.view(x);
  call.bias = args.maybe(bias);
  args.run([&] { dispatch::bias_activation(backend, call); });
  return info.Env().Undefined();
}

// binary(out, a, b, op, alpha): a and b views broadcast to out's shape; out contiguous.
Napi::Value Addon::Binary(const Napi::CallbackInfo& info) {
  Args args(info, "binary", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), a = args.tensor(1, "a"), b = args.tensor(2, "b");
  BinaryParams p;
  p.op = static_cast<BinaryOp>(args.integer(3, "op", 0, 3, "unknown binary op"));
  p.alpha = static_cast<float>(args.number(4, "alpha"));
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.a = args.view(a);
  p.b = args.view(b);
  args.run([&] { dispatch::binary(backend, p); });
  return info.Env().Undefined();
}

// mean(out, x, outer, n, inner): x contiguous [outer, n, inner], out contiguous [outer, inner].
Napi::Value Addon::Mean(const Napi::CallbackInfo& info) {
  Args args(info, "mean", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x");
  // Integers up to 2^53 before any conversion: a NaN or huge size must not convert (undefined behaviour).
  constexpr const char* kSizes = "outer, n and inner must be non-negative integers";
  MeanParams p;
  p.outer = args.integer(2, "outer", 0, kMaxIndex, kSizes);
  p.n = args.integer(3, "n", 0, kMaxIndex, kSizes);
  p.inner = args.integer(4, "inner", 0, kMaxIndex, kSizes);
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.x = args.view(x);
  args.run([&] { dispatch::mean(backend, p); });
  return info.Env().Undefined();
}

// patchGather(out, images, patch)
Napi::Value Addon::PatchGather(const Napi::CallbackInfo& info) {
  Args args(info, "patchGather", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), images = args.tensor(1, "images");
  PatchGatherParams p;
  p.patch = args.integer(2, "patch", 1, kMaxIndex, "patch must be a positive integer");
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.images = args.view(images);
  args.run([&] { dispatch::patch_gather(backend, p); });
  return info.Env().Undefined();
}

}  // namespace nf::addon
