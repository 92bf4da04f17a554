// The token-mixing ops of the mechanism zoo (native/core/mixing_ops.h): the depthwise
// convolution and the average pooling over channels-last images with their gradients, and
// FNet's Fourier mix. Each reads its arguments (Args) and runs through native/core's dispatch.
#include "../core/dispatch.h"
#include "module.h"

namespace nf::addon {
namespace {

constexpr double kMaxWindow = 2147483647.0;  // a kernel size, padding, dilation or stride

// The padding, dilation and stride at arguments i .. i + 5 (padH, padW, dilH, dilW, strideH, strideW).
void read_conv_window(const Args& args, size_t i, Window2d& w) {
  w.pad_h = args.integer(i, "padH", 0, kMaxWindow, "the padding must be a non-negative integer");
  w.pad_w = args.integer(i + 1, "padW", 0, kMaxWindow, "the padding must be a non-negative integer");
  w.dil_h = args.integer(i + 2, "dilH", 1, kMaxWindow, "the dilation must be a positive integer");
  w.dil_w = args.integer(i + 3, "dilW", 1, kMaxWindow, "the dilation must be a positive integer");
  w.stride_h = args.integer(i + 4, "strideH", 1, kMaxWindow, "the stride must be a positive integer");
  w.stride_w = args.integer(i + 5, "strideW", 1, kMaxWindow, "the stride must be a positive integer");
}

// The pooling window at arguments i .. i + 6 (kernelH, kernelW, strideH, strideW, padH, padW, countIncludePad).
void read_pool_window(const Args& args, size_t i, Window2d& w, bool& count_include_pad) {
  w.kh = args.integer(i, "kernelH", 1, kMaxWindow, "the kernel size must be a positive integer");
  w.kw = args.integer(i + 1, "kernelW", 1, kMaxWindow, "the kernel size must be a positive integer");
  w.stride_h = args.integer(i + 2, "strideH", 1, kMaxWindow, "the stride must be a positive integer");
  w.stride_w = args.integer(i + 3, "strideW", 1, kMaxWindow, "the stride must be a positive integer");
  w.pad_h = args.integer(i + 4, "padH", 0, kMaxWindow, "the padding must be a non-negative integer");
  w.pad_w = args.integer(i + 5, "padW", 0, kMaxWindow, "the padding must be a non-negative integer");
  count_include_pad = args.flag(i + 6);
}

// The kernel size from the weight [C, 1, kh, kw].
// An optional tensor's view into `view` (after bind): true when it was given.
bool view_if_present(const Args& args, Args::Ref t, TensorView& view) {
  if (const TensorView* v = args.maybe(t)) view = *v;
  return t.present();
}

void kernel_of(const Args& args, const TensorView& weight, Window2d& w) {
  if (weight.ndim != 4) args.fail("weight must be [C, 1, kh, kw]");
  w.kh = weight.shape[2];
  w.kw = weight.shape[3];
}

// The pooling and its gradient read alike: the written tensor, the read one, the window.
template <typename Params>
Napi::Value pool_call(const Napi::CallbackInfo& info, const char* op, const ArgLayouts& layouts, const char* written_name, TensorView Params::*written,
                      const char* read_name, TensorView Params::*read, void (*run)(Backend&, const Params&)) {
  Args args(info, op, layouts);
  const auto w = args.tensor(0, written_name, Access::Whole), r = args.tensor(1, read_name);
  Params p;
  read_pool_window(args, 2, p.window, p.count_include_pad);
  Backend& backend = args.bind();
  p.*written = args.view(w);
  p.*read = args.view(r);
  args.run([&] { run(backend, p); });
  return info.Env().Undefined();
}

}  // namespace

// depthwiseConv2d(out, x, weight, bias|null, padH, padW, dilH, dilW, strideH, strideW):
// DepthwiseConv2dParams, x [B, H, W, C] channels last, weight [C, 1, kh, kw].
Napi::Value Addon::DepthwiseConv2d(const Napi::CallbackInfo& info) {
  Args args(info, "depthwiseConv2d", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x"), weight = args.tensor(2, "weight");
  const auto bias = args.optional_tensor(3, "bias");
  DepthwiseConv2dParams p;
  read_conv_window(args, 4, p.window);
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.x = args.view(x);
  p.weight = args.view(weight);
  kernel_of(args, p.weight, p.window);
  p.has_bias = view_if_present(args, bias, p.bias);
  args.run([&] { dispatch::depthwise_conv2d(backend, p); });
  return info.Env().Undefined();
}

// depthwiseConv2dBackward(dx|null, dweight|null, dy, x, weight, padH, padW, dilH, dilW,
// strideH, strideW): the gradients of depthwiseConv2d where given (null: not wanted).
Napi::Value Addon::DepthwiseConv2dBackward(const Napi::CallbackInfo& info) {
  Args args(info, "depthwiseConv2dBackward", layouts_);
  const auto dx = args.optional_tensor(0, "dx", Access::Whole), dweight = args.optional_tensor(1, "dweight", Access::Whole);
  const auto dy = args.tensor(2, "dy"), x = args.tensor(3, "x"), weight = args.tensor(4, "weight");
  DepthwiseConv2dBackwardParams p;
  read_conv_window(args, 5, p.window);
  Backend& backend = args.bind();
  p.dy = args.view(dy);
  p.x = args.view(x);
  p.weight = args.view(weight);
  kernel_of(args, p.weight, p.window);
  p.has_dx = view_if_present(args, dx, p.dx);
  p.has_dweight = view_if_present(args, dweight, p.dweight);
  args.run([&] { dispatch::depthwise_conv2d_backward(backend, p); });
  return info.Env().Undefined();
}

// avgPool2d(out, x, kernelH, kernelW, strideH, strideW, padH, padW, countIncludePad): AvgPool2dParams.
Napi::Value Addon::AvgPool2d(const Napi::CallbackInfo& info) {
  return pool_call(info, "avgPool2d", layouts_, "out", &AvgPool2dParams::out, "x", &AvgPool2dParams::x, &dispatch::avg_pool2d);
}

// avgPool2dBackward(dx, dy, kernelH, kernelW, strideH, strideW, padH, padW, countIncludePad).
Napi::Value Addon::AvgPool2dBackward(const Napi::CallbackInfo& info) {
  return pool_call(info, "avgPool2dBackward", layouts_, "dx", &AvgPool2dBackwardParams::dx, "dy", &AvgPool2dBackwardParams::dy,
                   &dispatch::avg_pool2d_backward);
}

// fourierMix(out, x): out = Re(F_N x F_E) of each x[b] [N, E] (FourierMixParams); also its gradient.
Napi::Value Addon::FourierMix(const Napi::CallbackInfo& info) {
  Args args(info, "fourierMix", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x");
  FourierMixParams p;
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.x = args.view(x);
  args.run([&] { dispatch::fourier_mix(backend, p); });
  return info.Env().Undefined();
}

}  // namespace nf::addon
