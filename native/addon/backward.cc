// The backward ops (issue 25), the gradients the autograd tape asks for: each reads its
// arguments (Args), builds the op's call, and runs it through native/core's dispatch.
#include "../core/dispatch.h"
#include "module.h"

namespace nf::addon {

// normBackward(dx, dweight|null, dbias|null, dy, x, weight|null, eps, rms): the gradients of
// norm(out, x, weight, bias, eps, rms) as NormBackwardParams (native/core/ops.h) says.
Napi::Value Addon::NormBackward(const Napi::CallbackInfo& info) {
  Args args(info, "normBackward", layouts_);
  const auto dx = args.tensor(0, "dx", Access::Whole);
  const auto dweight = args.optional_tensor(1, "dweight", Access::Whole), dbias = args.optional_tensor(2, "dbias", Access::Whole);
  const auto dy = args.tensor(3, "dy"), x = args.tensor(4, "x"), weight = args.optional_tensor(5, "weight");
  NormBackwardCall call;
  call.eps = static_cast<float>(args.number(6, "eps"));
  call.rms = args.flag(7);
  Backend& backend = args.bind();
  call.dx = args.view(dx);
  call.dy = args.view(dy);
  call.x = args.view(x);
  call.weight = args.maybe(weight);
  call.dweight = args.maybe(dweight);
  call.dbias = args.maybe(dbias);
  args.run([&] { dispatch::norm_backward(backend, call); });
  return info.Env().Undefined();
}

// softmaxBackward(dx, dy, y, mask|null, scale): y the forward's output, the mask as softmax's.
Napi::Value Addon::SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackward", layouts_);
  const auto dx = args.tensor(0, "dx", Access::Whole), dy = args.tensor(1, "dy"), y = args.tensor(2, "y");
  const auto mask = args.optional_tensor(3, "mask");
  SoftmaxBackwardParams p;
  p.scale = static_cast<float>(args.number(4, "scale"));
  Backend& backend = args.bind();
  p.dx = args.view(dx);
  p.dy = args.view(dy);
  p.y = args.view(y);
  if (mask.present()) {
    p.has_mask = true;
    p.mask = args.view(mask);
  }
  args.run([&] { dispatch::softmax_backward(backend, p); });
  return info.Env().Undefined();
}

// activationBackward(dx, dbias|null, dy, x, bias|null, activation, param, param2): x the
// pre-activation input of biasActivation(out, x, bias, ...).
Napi::Value Addon::ActivationBackward(const Napi::CallbackInfo& info) {
  Args args(info, "activationBackward", layouts_);
  const auto dx = args.tensor(0, "dx", Access::Whole), dbias = args.optional_tensor(1, "dbias", Access::Whole);
  const auto dy = args.tensor(2, "dy"), x = args.tensor(3, "x"), bias = args.optional_tensor(4, "bias");
  ActivationBackwardCall call;
  call.activation = args.activation(5);
  Backend& backend = args.bind();
  call.dx = args.view(dx);
  call.dy = args.view(dy);
  call.x = args.view(x);
  call.bias = args.maybe(bias);
  call.dbias = args.maybe(dbias);
  args.run([&] { dispatch::activation_backward(backend, call); });
  return info.Env().Undefined();
}

// sumRows(out, x): out[c] = sum over the rows of x [..., C].
Napi::Value Addon::SumRows(const Napi::CallbackInfo& info) {
  Args args(info, "sumRows", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x");
  SumRowsParams p;
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.x = args.view(x);
  args.run([&] { dispatch::sum_rows(backend, p); });
  return info.Env().Undefined();
}

}  // namespace nf::addon
