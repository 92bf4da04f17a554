// Parameters of the token-mixing ops of the mechanism zoo (issue 26), as plain structs like
// ops.h's: the depthwise 2-D convolution and the average pooling over channels-last images
// (VAN's and PoolFormer's token mixers), their gradients, and FNet's Fourier mix.
#pragma once
#include <cstdint>

#include "tensor.h"

namespace nf {

// A 2-D window over channels-last images [B, H, W, C]: output position (yo, xo) reads the
// input rows yo * stride_h - pad_h + i * dil_h (i in [0, kh)) and the columns likewise, zeros
// outside the image. The output has window_extent(H, kh, pad_h, dil_h, stride_h) rows.
struct Window2d {
  int64_t kh = 1, kw = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t stride_h = 1, stride_w = 1;
};

// (in + 2 pad - dil (k - 1) - 1) / stride + 1: the outputs along one axis (0 or less when the
// dilated window does not fit the padded input).
inline int64_t window_extent(int64_t in, int64_t k, int64_t pad, int64_t dil, int64_t stride) {
  const int64_t span = dil * (k - 1) + 1;
  return in + 2 * pad < span ? 0 : (in + 2 * pad - span) / stride + 1;
}

// The depthwise convolution (PyTorch's Conv2d with groups = C, channels last):
//   out[b, yo, xo, c] = bias[c] + sum_{i, j} weight[c, 0, i, j] * x[b, yo*sh - ph + i*dh, xo*sw - pw + j*dw, c]
// x [B, H, W, C], weight [C, 1, kh, kw], bias [C] (when has_bias) and out [B, Ho, Wo, C]:
// contiguous, one float dtype, float32 (or better) sums; out apart from the inputs.
struct DepthwiseConv2dParams {
  TensorView out, x, weight;
  bool has_bias = false;
  TensorView bias;
  Window2d window;
};

// Its gradients from dy = dL/d(out) [B, Ho, Wo, C]:
//   dx[b, y, x, c] = sum over the taps (i, j) and outputs (yo, xo) that read (y, x) of dy[b, yo, xo, c] * weight[c, 0, i, j]
//   dweight[c, 0, i, j] = sum_{b, yo, xo} dy[b, yo, xo, c] * x[b, yo*sh - ph + i*dh, xo*sw - pw + j*dw, c]
// each a gather (no atomics), dweight's sum over b, yo, xo in a fixed order (deterministic).
// dx (x's shape) and dweight (weight's) are computed where has_dx / has_dweight; the bias's
// gradient is the column sum of dy (SumRowsParams). Shapes and dtype as the forward's;
// the outputs apart from the inputs and from each other.
struct DepthwiseConv2dBackwardParams {
  TensorView dy, x, weight;
  bool has_dx = false, has_dweight = false;
  TensorView dx, dweight;
  Window2d window;
};

// Average pooling (PyTorch's AvgPool2d without ceil mode, channels last), dilation 1:
//   out[b, yo, xo, c] = sum over the window's taps inside the image of x[b, y, x, c] / count(yo, xo)
// count = kh * kw with count_include_pad, else the taps inside the image (never 0: the
// padding is at most half the window). x [B, H, W, C], out [B, Ho, Wo, C], contiguous, one
// float dtype, out apart from x.
struct AvgPool2dParams {
  TensorView out, x;
  Window2d window;
  bool count_include_pad = false;
};

// Its gradient: dx[b, y, x, c] = sum over the outputs (yo, xo) whose window holds (y, x) of
// dy[b, yo, xo, c] / count(yo, xo). dx [B, H, W, C], dy [B, Ho, Wo, C], as the forward's.
struct AvgPool2dBackwardParams {
  TensorView dx, dy;
  Window2d window;
  bool count_include_pad = false;
};

// FNet's token mixing: out[b] = Re(F_N x[b] F_E), the real part of the 2-D discrete Fourier
// transform (e^{-2 pi i jk / n}, unnormalized) of each x[b] [N, E] over both axes. Its own
// adjoint for real inputs (F is symmetric), so the gradient is the same op applied to dy.
// x and out [B, N, E], contiguous, one float dtype; out apart from x.
struct FourierMixParams {
  TensorView out, x;
};

}  // namespace nf
