// The contracts of the token-mixing ops (mixing_ops.h), as contracts.cc's: each check throws
// nf::Error(InvalidArg, "<what is wrong>"), the caller prefixes the op's name.
#include <initializer_list>
#include <string>

#include "contracts.h"
#include "error.h"

namespace nf {
namespace {

void require(bool ok, const char* what) {
  if (!ok) throw Error(ErrorCode::InvalidArg, what);
}

// Whether two contiguous views' bytes share none.
bool disjoint(const TensorView& a, const TensorView& b) {
  const auto* a0 = static_cast<const char*>(a.data);
  const auto* b0 = static_cast<const char*>(b.data);
  const int64_t ab = a.numel() * static_cast<int64_t>(dtype_size(a.dtype)), bb = b.numel() * static_cast<int64_t>(dtype_size(b.dtype));
  return ab == 0 || bb == 0 || a0 + ab <= b0 || b0 + bb <= a0;
}

// A contiguous 4-D view of `dtype` with exactly these sizes.
bool is_nhwc(const TensorView& v, DType dtype, int64_t b, int64_t h, int64_t w, int64_t c) {
  return v.ndim == 4 && v.dtype == dtype && v.is_contiguous() && v.shape[0] == b && v.shape[1] == h && v.shape[2] == w && v.shape[3] == c;
}

void check_window(const Window2d& w) {
  require(w.kh >= 1 && w.kw >= 1, "the kernel size must be at least 1");
  require(w.pad_h >= 0 && w.pad_w >= 0, "the padding must not be negative");
  require(w.dil_h >= 1 && w.dil_w >= 1 && w.stride_h >= 1 && w.stride_w >= 1, "the dilation and the stride must be at least 1");
}

// x (named `name`) [B, H, W, C] contiguous float, and the output size of the window over it (which must fit).
void check_images(const TensorView& x, const char* name, const Window2d& w, int64_t* ho, int64_t* wo) {
  check_window(w);
  if (!(x.ndim == 4 && x.is_contiguous() && is_float(x.dtype))) {
    throw Error(ErrorCode::InvalidArg, std::string(name) + " must be contiguous float [B, H, W, C] (channels last)");
  }
  *ho = window_extent(x.shape[1], w.kh, w.pad_h, w.dil_h, w.stride_h);
  *wo = window_extent(x.shape[2], w.kw, w.pad_w, w.dil_w, w.stride_w);
  require(*ho >= 1 && *wo >= 1, "the dilated kernel is larger than the padded image");
}

// The dy (or out) of a window over x: [B, Ho, Wo, C] of x's dtype.
void check_outputs(const TensorView& y, const TensorView& x, int64_t ho, int64_t wo, const char* what) {
  if (!is_nhwc(y, x.dtype, x.shape[0], ho, wo, x.shape[3])) {
    throw Error(ErrorCode::InvalidArg, std::string(what) + " must be contiguous [B, " + std::to_string(ho) + ", " + std::to_string(wo) +
                                           ", C] of x's dtype for x [B, H, W, C] and this window");
  }
}

void check_weight(const TensorView& weight, const TensorView& x, const Window2d& w) {
  require(weight.ndim == 4 && weight.dtype == x.dtype && weight.is_contiguous() && weight.shape[0] == x.shape[3] && weight.shape[1] == 1 &&
              weight.shape[2] == w.kh && weight.shape[3] == w.kw,
          "weight must be contiguous [C, 1, kh, kw] of x's dtype");
}

void check_pool_window(const Window2d& w) {
  require(w.dil_h == 1 && w.dil_w == 1, "average pooling has no dilation");
  require(2 * w.pad_h <= w.kh && 2 * w.pad_w <= w.kw, "the padding must be at most half the kernel size");
}

// x, the forward's output or its gradient y, and the weight of a depthwise convolution.
void check_conv(const TensorView& x, const TensorView& y, const char* y_name, const TensorView& weight, const Window2d& w) {
  int64_t ho = 0, wo = 0;
  check_images(x, "x", w, &ho, &wo);
  check_outputs(y, x, ho, wo, y_name);
  check_weight(weight, x, w);
}

void require_disjoint(std::initializer_list<const TensorView*> outputs, std::initializer_list<const TensorView*> inputs) {
  for (const TensorView* o : outputs) {
    for (const TensorView* i : inputs) require(disjoint(*o, *i), "an output must not overlap an input");
  }
}

}  // namespace

void check(const DepthwiseConv2dParams& p) {
  check_conv(p.x, p.out, "out", p.weight, p.window);
  if (p.has_bias) {
    require(p.bias.dtype == p.x.dtype && p.bias.is_contiguous() && p.bias.numel() == p.x.shape[3], "bias must be contiguous [C] of x's dtype");
    require_disjoint({&p.out}, {&p.bias});
  }
  require_disjoint({&p.out}, {&p.x, &p.weight});
}

void check(const DepthwiseConv2dBackwardParams& p) {
  check_conv(p.x, p.dy, "dy", p.weight, p.window);
  if (p.has_dx) {
    require(is_nhwc(p.dx, p.x.dtype, p.x.shape[0], p.x.shape[1], p.x.shape[2], p.x.shape[3]), "dx must be contiguous, of x's shape and dtype");
    require_disjoint({&p.dx}, {&p.dy, &p.x, &p.weight});
  }
  if (p.has_dweight) {
    const TensorView& d = p.dweight;
    require(d.ndim == 4 && d.dtype == p.x.dtype && d.is_contiguous() && d.numel() == p.weight.numel() && d.shape[0] == p.weight.shape[0] &&
                d.shape[2] == p.window.kh && d.shape[3] == p.window.kw,
            "dweight must be contiguous, of weight's shape and dtype");
    require_disjoint({&p.dweight}, {&p.dy, &p.x, &p.weight});
    if (p.has_dx) require(disjoint(p.dx, p.dweight), "dx must not overlap dweight");
  }
}

void check(const AvgPool2dParams& p) {
  int64_t ho = 0, wo = 0;
  check_pool_window(p.window);
  check_images(p.x, "x", p.window, &ho, &wo);
  require(p.x.shape[1] >= 1 && p.x.shape[2] >= 1, "x must have at least one row and column (every window then holds one)");
  check_outputs(p.out, p.x, ho, wo, "out");
  require_disjoint({&p.out}, {&p.x});
}

void check(const AvgPool2dBackwardParams& p) {
  int64_t ho = 0, wo = 0;
  check_pool_window(p.window);
  check_images(p.dx, "dx", p.window, &ho, &wo);
  require(p.dx.shape[1] >= 1 && p.dx.shape[2] >= 1, "dx must have at least one row and column (every window then holds one)");
  if (!is_nhwc(p.dy, p.dx.dtype, p.dx.shape[0], ho, wo, p.dx.shape[3])) {
    throw Error(ErrorCode::InvalidArg, "dy must be contiguous [B, " + std::to_string(ho) + ", " + std::to_string(wo) +
                                           ", C] of dx's dtype for dx [B, H, W, C] and this window");
  }
  require_disjoint({&p.dx}, {&p.dy});
}

void check(const FourierMixParams& p) {
  const TensorView &x = p.x, &out = p.out;
  require(x.ndim == 3 && x.is_contiguous() && is_float(x.dtype), "x must be contiguous float [B, N, E]");
  require(out.ndim == 3 && out.dtype == x.dtype && out.is_contiguous() && out.shape[0] == x.shape[0] && out.shape[1] == x.shape[1] &&
              out.shape[2] == x.shape[2],
          "out must be contiguous, of x's shape and dtype");
  require_disjoint({&out}, {&x});
}

}  // namespace nf
