// The CPU backend's token-mixing ops (native/core/mixing_ops.h says what each computes):
// plain loops with float64 sums, the reference the CUDA kernels are held against.
#pragma once
#include "../core/mixing_ops.h"

namespace nf::cpu {

// mixing.cc: the depthwise convolution and the average pooling over channels-last images.
void depthwise_conv2d(const DepthwiseConv2dParams& p);
void depthwise_conv2d_backward(const DepthwiseConv2dBackwardParams& p);
void avg_pool2d(const AvgPool2dParams& p);
void avg_pool2d_backward(const AvgPool2dBackwardParams& p);
// fft.cc: FNet's Fourier mix through a float64 FFT of any length.
void fourier_mix(const FourierMixParams& p);

}  // namespace nf::cpu
