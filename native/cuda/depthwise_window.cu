// Depthwise windows over channels-last images [B, H, W, C] (core/mixing_ops.h): the depthwise
// convolution and the average pooling, forward and input gradient, and the convolution's
// weight gradient; float32 arithmetic for every storage dtype.
//   window_forward_kernel: one thread an output element (b, yo, xo, c), c fastest, so that a
//     warp reads 32 consecutive channels of each tap's pixel (coalesced); neighbouring outputs
//     read overlapping pixels, which L1 and L2 serve. Grid-stride over B * Ho * Wo * C.
//   window_input_grad_kernel: one thread an input element (b, y, x, c), gathering dy of every
//     (tap, output) that read it (y = yo * stride - pad + i * dil solved for yo): no atomics.
//   weight_grad_partials_kernel: a (32, 8) block owns 32 channels x 8 taps over one band of
//     output positions; each thread sums dy * x over its band for its (c, tap) into a float32
//     partial[band, c * K + tap]; launch_finish_column_sums (column_sum.cu) then adds the
//     bands in order. No atomics: the result does not depend on the schedule. Bands are sized
//     so that the grid has about 4 blocks an SM.
#include <cstdint>
#include <string>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBandChannels = 32, kBandTaps = 8, kMaxBands = 1024;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

// Sizes and window of one launch. Per-axis values are int (geometry_of keeps every
// coordinate a window computes within int range: 32-bit division and modulo in the loops);
// offsets and counts of elements are int64.
struct Geometry {
  int B, H, W, C, Ho, Wo;
  int kh, kw, pad_h, pad_w, dil_h, dil_w, stride_h, stride_w;
  bool count_include_pad;
};

// in [B, H, W, C] and out [B, Ho, Wo, C] under window w, or a refusal naming `op` when a
// coordinate could leave int range.
Geometry geometry_of(const TensorView& in, const TensorView& out, const Window2d& w, bool count_include_pad, const char* op) {
  constexpr int64_t kLimit = int64_t{1} << 30;
  const bool fits = in.shape[0] * out.shape[1] < kLimit && in.shape[0] * in.shape[1] < kLimit && in.shape[3] < kLimit &&
                    out.shape[2] * in.shape[3] < kLimit && in.shape[2] * in.shape[3] < kLimit && in.shape[1] + 2 * w.pad_h < kLimit &&
                    in.shape[2] + 2 * w.pad_w < kLimit && w.dil_h * (w.kh - 1) < kLimit && w.dil_w * (w.kw - 1) < kLimit &&
                    w.kh * w.kw < kLimit && in.shape[3] * w.kh * w.kw < kLimit && w.stride_h < kLimit && w.stride_w < kLimit;
  if (!fits) throw_invalid(std::string(op) + ": images or a window this large (a coordinate of 2^30 or more) are not supported on CUDA");
  auto i32 = [](int64_t v) { return static_cast<int>(v); };
  return {i32(in.shape[0]), i32(in.shape[1]), i32(in.shape[2]), i32(in.shape[3]), i32(out.shape[1]), i32(out.shape[2]),
          i32(w.kh), i32(w.kw), i32(w.pad_h), i32(w.pad_w), i32(w.dil_h), i32(w.dil_w), i32(w.stride_h), i32(w.stride_w), count_include_pad};
}

// The taps of one pooling axis inside [0, in): the window [o * stride - pad, + k) clipped (dilation 1).
__device__ __forceinline__ int taps_inside(int o, int k, int pad, int stride, int in) {
  const int start = o * stride - pad;
  return min(start + k, in) - max(start, 0);
}

__device__ __forceinline__ float pool_scale(const Geometry& g, int yo, int xo) {
  const int count = g.count_include_pad ? g.kh * g.kw
                                        : taps_inside(yo, g.kh, g.pad_h, g.stride_h, g.H) * taps_inside(xo, g.kw, g.pad_w, g.stride_w, g.W);
  return __frcp_rn(static_cast<float>(count));  // 1 / count, correctly rounded, without the division slow path
}

// A grid-stride walk over the elements of [rows, row_len] (rows and row_len in int range, at
// most kMaxBlocks * kThreads threads) without a 64-bit division in the loop: this thread's
// (row, within), advanced by the grid's stride.
struct GridCursor {
  int row, within, step_rows, step_within, row_len;
  __device__ explicit GridCursor(int len) : row_len(len) {
    const int start = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x), stride = static_cast<int>(gridDim.x * blockDim.x);
    row = start / len;
    within = start - row * len;
    step_rows = stride / len;
    step_within = stride - step_rows * len;
  }
  __device__ void next() {
    row += step_rows;
    within += step_within;
    if (within >= row_len) {
      within -= row_len;
      ++row;
    }
  }
  __device__ int64_t offset() const { return static_cast<int64_t>(row) * row_len + within; }
};

// kPool: the average pooling (weight and bias unused); else the convolution.
template <typename T, bool kPool>
__global__ void __launch_bounds__(kThreads)
window_forward_kernel(T* __restrict__ out, const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias, const Geometry g) {
  const int K = g.kh * g.kw, rows = g.B * g.Ho;
  for (GridCursor at(g.Wo * g.C); at.row < rows; at.next()) {
    const int xo = at.within / g.C, c = at.within - xo * g.C;
    const int yo = at.row % g.Ho, b = at.row / g.Ho;
    const int y0 = yo * g.stride_h - g.pad_h, x0 = xo * g.stride_w - g.pad_w;
    float acc = 0.f;
    for (int i = 0; i < g.kh; ++i) {
      const int y = y0 + i * g.dil_h;
      if (y < 0 || y >= g.H) continue;
      const T* pixels = x + (static_cast<int64_t>(b) * g.H + y) * g.W * g.C + c;
      for (int j = 0; j < g.kw; ++j) {
        const int xx = x0 + j * g.dil_w;
        if (xx < 0 || xx >= g.W) continue;
        const float v = to_float(pixels[xx * g.C]);
        if constexpr (kPool) acc += v;
        else acc += v * to_float(weight[c * K + i * g.kw + j]);
      }
    }
    if constexpr (kPool) acc *= pool_scale(g, yo, xo);
    else if (bias != nullptr) acc += to_float(bias[c]);
    out[at.offset()] = from_float<T>(acc);
  }
}

template <typename T, bool kPool>
__global__ void __launch_bounds__(kThreads)
window_input_grad_kernel(T* __restrict__ dx, const T* __restrict__ dy, const T* __restrict__ weight, const Geometry g) {
  const int K = g.kh * g.kw, rows = g.B * g.H;
  for (GridCursor at(g.W * g.C); at.row < rows; at.next()) {
    const int x = at.within / g.C, c = at.within - x * g.C;
    const int y = at.row % g.H, b = at.row / g.H;
    float acc = 0.f;
    // Not unrolled: unrolling the solve for (yo, xo) spills registers (ptxas --warn-on-spills).
#pragma unroll 1
    for (int i = 0; i < g.kh; ++i) {
      const int ty = y + g.pad_h - i * g.dil_h;  // yo * stride_h
      if (ty < 0 || ty % g.stride_h != 0 || ty / g.stride_h >= g.Ho) continue;
      const int yo = ty / g.stride_h;
      const T* grads = dy + (static_cast<int64_t>(b) * g.Ho + yo) * g.Wo * g.C + c;
#pragma unroll 1
      for (int j = 0; j < g.kw; ++j) {
        const int tx = x + g.pad_w - j * g.dil_w;
        if (tx < 0 || tx % g.stride_w != 0 || tx / g.stride_w >= g.Wo) continue;
        const int xo = tx / g.stride_w;
        const float v = to_float(grads[xo * g.C]);
        if constexpr (kPool) acc += v * pool_scale(g, yo, xo);
        else acc += v * to_float(weight[c * K + i * g.kw + j]);
      }
    }
    dx[at.offset()] = from_float<T>(acc);
  }
}

template <typename T>
__global__ void __launch_bounds__(kBandChannels * kBandTaps)
weight_grad_partials_kernel(float* __restrict__ partial, const T* __restrict__ dy, const T* __restrict__ x, const Geometry g, int64_t band_len) {
  const int c = static_cast<int>(blockIdx.x) * kBandChannels + static_cast<int>(threadIdx.x);
  const int tap = static_cast<int>(blockIdx.y) * kBandTaps + static_cast<int>(threadIdx.y);
  const int K = g.kh * g.kw;
  const int64_t positions = static_cast<int64_t>(g.B) * g.Ho * g.Wo;
  if (c >= g.C || tap >= K) return;  // no block-wide synchronization below
  const int i = tap / g.kw, j = tap - i * g.kw;
  const int64_t p0 = static_cast<int64_t>(blockIdx.z) * band_len;
  const int64_t p1 = p0 + band_len < positions ? p0 + band_len : positions;
  float acc = 0.f;
  for (int64_t pos = p0; pos < p1; ++pos) {
    const int row = static_cast<int>(pos / g.Wo), xo = static_cast<int>(pos - static_cast<int64_t>(row) * g.Wo);
    const int yo = row % g.Ho, b = row / g.Ho;
    const int y = yo * g.stride_h - g.pad_h + i * g.dil_h, xx = xo * g.stride_w - g.pad_w + j * g.dil_w;
    if (y < 0 || y >= g.H || xx < 0 || xx >= g.W) continue;
    acc += to_float(dy[pos * g.C + c]) * to_float(x[((static_cast<int64_t>(b) * g.H + y) * g.W + xx) * g.C + c]);
  }
  partial[(static_cast<int64_t>(blockIdx.z) * g.C + c) * K + tap] = acc;
}

unsigned blocks_for(int64_t total) {
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// The bands of output positions the weight gradient splits its sums into, and their length.
void bands_for(const Geometry& g, int sm_count, int64_t* bands, int64_t* band_len) {
  const int64_t positions = static_cast<int64_t>(g.B) * g.Ho * g.Wo, K = static_cast<int64_t>(g.kh) * g.kw;
  const int64_t blocks = ((g.C + kBandChannels - 1) / kBandChannels) * ((K + kBandTaps - 1) / kBandTaps);
  int64_t want = (4 * static_cast<int64_t>(sm_count > 0 ? sm_count : 1) + blocks - 1) / blocks;
  want = want < 1 ? 1 : want > kMaxBands ? kMaxBands : want;
  want = want > positions ? positions : want;
  *band_len = (positions + want - 1) / want;
  *bands = (positions + *band_len - 1) / *band_len;
}

template <bool kPool>
void launch_forward(const TensorView& out, const TensorView& x, const void* weight, const void* bias, const Geometry& g, const char* op,
                    cudaStream_t stream) {
  dispatch_float(x.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    window_forward_kernel<T, kPool><<<blocks_for(out.numel()), kThreads, 0, stream>>>(
        static_cast<T*>(out.data), static_cast<const T*>(x.data), static_cast<const T*>(weight), static_cast<const T*>(bias), g);
  });
  NF_CHECK_LAUNCH("window_forward_kernel");
}

template <bool kPool>
void launch_input_grad(const TensorView& dx, const TensorView& dy, const void* weight, const Geometry& g, const char* op, cudaStream_t stream) {
  if (dx.numel() == 0) return;
  dispatch_float(dx.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    window_input_grad_kernel<T, kPool><<<blocks_for(dx.numel()), kThreads, 0, stream>>>(
        static_cast<T*>(dx.data), static_cast<const T*>(dy.data), static_cast<const T*>(weight), g);
  });
  NF_CHECK_LAUNCH("window_input_grad_kernel");
}

}  // namespace

size_t depthwise_conv2d_backward_workspace_bytes(const DepthwiseConv2dBackwardParams& p, int sm_count) {
  if (!p.has_dweight || p.dy.numel() == 0) return 0;
  const Geometry g = geometry_of(p.x, p.dy, p.window, false, "depthwise_conv2d_backward");
  int64_t bands = 0, band_len = 0;
  bands_for(g, sm_count, &bands, &band_len);
  return static_cast<size_t>(bands * g.C * g.kh * g.kw) * sizeof(float);
}

void launch_depthwise_conv2d(const DepthwiseConv2dParams& p, cudaStream_t stream) {
  const Geometry g = geometry_of(p.x, p.out, p.window, false, "depthwise_conv2d");
  launch_forward<false>(p.out, p.x, p.weight.data, p.has_bias ? p.bias.data : nullptr, g, "depthwise_conv2d", stream);
}

void launch_depthwise_conv2d_backward(const DepthwiseConv2dBackwardParams& p, float* workspace, int sm_count, cudaStream_t stream) {
  const Geometry g = geometry_of(p.x, p.dy, p.window, false, "depthwise_conv2d_backward");
  if (p.has_dx) launch_input_grad<false>(p.dx, p.dy, p.weight.data, g, "depthwise_conv2d_backward", stream);
  if (!p.has_dweight) return;
  const int64_t K = static_cast<int64_t>(g.kh) * g.kw;
  if ((K + kBandTaps - 1) / kBandTaps > 65535) throw_invalid("depthwise_conv2d_backward: a kernel of more than 524280 taps");
  int64_t bands = 0, band_len = 0;
  bands_for(g, sm_count, &bands, &band_len);
  const dim3 grid(static_cast<unsigned>((g.C + kBandChannels - 1) / kBandChannels), static_cast<unsigned>((K + kBandTaps - 1) / kBandTaps),
                  static_cast<unsigned>(bands));
  dispatch_float(p.x.dtype, "depthwise_conv2d_backward", [&](auto tag) {
    using T = decltype(tag);
    weight_grad_partials_kernel<T><<<grid, dim3(kBandChannels, kBandTaps), 0, stream>>>(
        workspace, static_cast<const T*>(p.dy.data), static_cast<const T*>(p.x.data), g, band_len);
  });
  NF_CHECK_LAUNCH("weight_grad_partials_kernel");
  launch_finish_column_sums(p.dweight.dtype, workspace, bands, g.C * K, p.dweight.data, stream);
}

void launch_avg_pool2d(const AvgPool2dParams& p, cudaStream_t stream) {
  const Geometry g = geometry_of(p.x, p.out, p.window, p.count_include_pad, "avg_pool2d");
  launch_forward<true>(p.out, p.x, nullptr, nullptr, g, "avg_pool2d", stream);
}

void launch_avg_pool2d_backward(const AvgPool2dBackwardParams& p, cudaStream_t stream) {
  const Geometry g = geometry_of(p.dx, p.dy, p.window, p.count_include_pad, "avg_pool2d_backward");
  launch_input_grad<true>(p.dx, p.dy, nullptr, g, "avg_pool2d_backward", stream);
}

}  // namespace nf::cuda
