// dispatch.h for the token-mixing ops (mixing_ops.h): check the contract, then run unless the
// result is empty. The backends never see an empty batch or channel count.
#include "contracts.h"
#include "dispatch.h"

namespace nf::dispatch {

void depthwise_conv2d(Backend& backend, const DepthwiseConv2dParams& p) {
  check(p);
  if (p.out.numel() > 0) backend.depthwise_conv2d(p);
}

void depthwise_conv2d_backward(Backend& backend, const DepthwiseConv2dBackwardParams& p) {
  check(p);
  // dy is empty exactly when B or C is 0 (the window fits): then dx is empty too, and
  // dweight, a sum over no outputs, is zeros.
  if (p.dy.numel() == 0) {
    if (p.has_dweight && p.dweight.numel() > 0) backend.fill(p.dweight, 0.0);
    return;
  }
  if (p.has_dx || p.has_dweight) backend.depthwise_conv2d_backward(p);
}

void avg_pool2d(Backend& backend, const AvgPool2dParams& p) {
  check(p);
  if (p.out.numel() > 0) backend.avg_pool2d(p);
}

void avg_pool2d_backward(Backend& backend, const AvgPool2dBackwardParams& p) {
  check(p);
  if (p.dx.numel() > 0) backend.avg_pool2d_backward(p);
}

void fourier_mix(Backend& backend, const FourierMixParams& p) {
  check(p);
  if (p.out.numel() > 0) backend.fourier_mix(p);
}

}  // namespace nf::dispatch
