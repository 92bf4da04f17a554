// mixing.h: the depthwise convolution and the average pooling on the host. Every gradient
// is a gather (each output element summed from what it depends on), in a fixed order.
#include "mixing.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "elementwise.h"

namespace nf::cpu {
namespace {

// The sizes of a window's input [B, H, W, C] and output [B, Ho, Wo, C].
struct Grid {
  int64_t B, H, W, C, Ho, Wo;
};

Grid grid_of(const TensorView& in, const TensorView& out) {
  return {in.shape[0], in.shape[1], in.shape[2], in.shape[3], out.shape[1], out.shape[2]};
}

// Calls fn(tap, offset) for each tap (i * kw + j) of output (b, yo, xo) that lands inside the
// image, offset the element offset of the input pixel [b, y, x, 0].
template <typename Fn>
void for_each_tap(const Grid& g, const Window2d& w, int64_t b, int64_t yo, int64_t xo, Fn&& fn) {
  for (int64_t i = 0; i < w.kh; ++i) {
    const int64_t y = yo * w.stride_h - w.pad_h + i * w.dil_h;
    if (y < 0 || y >= g.H) continue;
    for (int64_t j = 0; j < w.kw; ++j) {
      const int64_t x = xo * w.stride_w - w.pad_w + j * w.dil_w;
      if (x >= 0 && x < g.W) fn(i * w.kw + j, ((b * g.H + y) * g.W + x) * g.C);
    }
  }
}

// Calls fn(tap, yo, xo) for each tap and output that reads input pixel (y, x): the outputs
// whose window puts tap (i, j) on it.
template <typename Fn>
void for_each_reader(const Grid& g, const Window2d& w, int64_t y, int64_t x, Fn&& fn) {
  for (int64_t i = 0; i < w.kh; ++i) {
    const int64_t ty = y + w.pad_h - i * w.dil_h;
    if (ty < 0 || ty % w.stride_h != 0 || ty / w.stride_h >= g.Ho) continue;
    for (int64_t j = 0; j < w.kw; ++j) {
      const int64_t tx = x + w.pad_w - j * w.dil_w;
      if (tx >= 0 && tx % w.stride_w == 0 && tx / w.stride_w < g.Wo) fn(i * w.kw + j, ty / w.stride_h, tx / w.stride_w);
    }
  }
}

// The taps of one axis of a pooling window that land inside [0, in).
int64_t taps_inside(int64_t o, int64_t k, int64_t pad, int64_t stride, int64_t in) {
  int64_t n = 0;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t at = o * stride - pad + i;
    n += at >= 0 && at < in;
  }
  return n;
}

// 1 / count(yo, xo) of every output of a pooling (mixing_ops.h), row-major [Ho, Wo].
std::vector<double> pool_scales(const Grid& g, const Window2d& w, bool count_include_pad) {
  std::vector<double> s(static_cast<size_t>(g.Ho * g.Wo));
  for (int64_t yo = 0; yo < g.Ho; ++yo)
    for (int64_t xo = 0; xo < g.Wo; ++xo) {
      const int64_t count = count_include_pad ? w.kh * w.kw
                                              : taps_inside(yo, w.kh, w.pad_h, w.stride_h, g.H) * taps_inside(xo, w.kw, w.pad_w, w.stride_w, g.W);
      s[yo * g.Wo + xo] = 1.0 / static_cast<double>(count);
    }
  return s;
}

std::vector<double> to_doubles(const TensorView& v) {
  std::vector<double> out(static_cast<size_t>(v.numel()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = load(v.data, v.dtype, static_cast<int64_t>(i));
  return out;
}

// out[b, yo, xo, c] = bias[c] (0 without one) + sum over the taps inside the image of
// coef(tap, yo, xo, c) * x[b, y, x, c]: the forward of both windows.
template <typename Coef>
void window_forward(const TensorView& out, const TensorView& x, const Grid& g, const Window2d& w, const TensorView* bias, Coef&& coef) {
  std::vector<double> acc(static_cast<size_t>(g.C));
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t yo = 0; yo < g.Ho; ++yo)
      for (int64_t xo = 0; xo < g.Wo; ++xo) {
        for (int64_t c = 0; c < g.C; ++c) acc[c] = bias != nullptr ? load(bias->data, bias->dtype, c) : 0.0;
        for_each_tap(g, w, b, yo, xo, [&](int64_t tap, int64_t in) {
          for (int64_t c = 0; c < g.C; ++c) acc[c] += coef(tap, yo, xo, c) * load(x.data, x.dtype, in + c);
        });
        const int64_t at = ((b * g.Ho + yo) * g.Wo + xo) * g.C;
        for (int64_t c = 0; c < g.C; ++c) store(out.data, out.dtype, at + c, acc[c]);
      }
}

// dx[b, y, x, c] = sum over the (tap, yo, xo) that read (y, x) of coef(tap, yo, xo, c) * dy[b, yo, xo, c]:
// the input gradient of window_forward with the same coef, as a gather.
template <typename Coef>
void window_backward(const TensorView& dx, const TensorView& dy, const Grid& g, const Window2d& w, Coef&& coef) {
  std::vector<double> acc(static_cast<size_t>(g.C));
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t y = 0; y < g.H; ++y)
      for (int64_t x = 0; x < g.W; ++x) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for_each_reader(g, w, y, x, [&](int64_t tap, int64_t yo, int64_t xo) {
          const int64_t from = ((b * g.Ho + yo) * g.Wo + xo) * g.C;
          for (int64_t c = 0; c < g.C; ++c) acc[c] += coef(tap, yo, xo, c) * load(dy.data, dy.dtype, from + c);
        });
        const int64_t at = ((b * g.H + y) * g.W + x) * g.C;
        for (int64_t c = 0; c < g.C; ++c) store(dx.data, dx.dtype, at + c, acc[c]);
      }
}

}  // namespace

void depthwise_conv2d(const DepthwiseConv2dParams& p) {
  const int64_t K = p.window.kh * p.window.kw;
  const std::vector<double> weight = to_doubles(p.weight);
  window_forward(p.out, p.x, grid_of(p.x, p.out), p.window, p.has_bias ? &p.bias : nullptr,
                 [&](int64_t tap, int64_t, int64_t, int64_t c) { return weight[c * K + tap]; });
}

void depthwise_conv2d_backward(const DepthwiseConv2dBackwardParams& p) {
  const Grid g = grid_of(p.x, p.dy);
  const int64_t K = p.window.kh * p.window.kw;
  if (p.has_dx) {
    const std::vector<double> weight = to_doubles(p.weight);
    window_backward(p.dx, p.dy, g, p.window, [&](int64_t tap, int64_t, int64_t, int64_t c) { return weight[c * K + tap]; });
  }
  if (!p.has_dweight) return;
  std::vector<double> acc(static_cast<size_t>(g.C * K), 0.0);
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t yo = 0; yo < g.Ho; ++yo)
      for (int64_t xo = 0; xo < g.Wo; ++xo) {
        const int64_t dy = ((b * g.Ho + yo) * g.Wo + xo) * g.C;
        for_each_tap(g, p.window, b, yo, xo, [&](int64_t tap, int64_t in) {
          for (int64_t c = 0; c < g.C; ++c) acc[c * K + tap] += load(p.dy.data, p.dy.dtype, dy + c) * load(p.x.data, p.x.dtype, in + c);
        });
      }
  for (int64_t i = 0; i < g.C * K; ++i) store(p.dweight.data, p.dweight.dtype, i, acc[i]);
}

void avg_pool2d(const AvgPool2dParams& p) {
  const Grid g = grid_of(p.x, p.out);
  const std::vector<double> scale = pool_scales(g, p.window, p.count_include_pad);
  window_forward(p.out, p.x, g, p.window, nullptr, [&](int64_t, int64_t yo, int64_t xo, int64_t) { return scale[yo * g.Wo + xo]; });
}

void avg_pool2d_backward(const AvgPool2dBackwardParams& p) {
  const Grid g = grid_of(p.dx, p.dy);
  const std::vector<double> scale = pool_scales(g, p.window, p.count_include_pad);
  window_backward(p.dx, p.dy, g, p.window, [&](int64_t, int64_t yo, int64_t xo, int64_t) { return scale[yo * g.Wo + xo]; });
}

}  // namespace nf::cpu
