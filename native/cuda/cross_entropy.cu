// The fused cross-entropy loss and its gradient (CrossEntropyParams and
// CrossEntropyBackwardParams in core/training_ops.h): log-softmax and NLL in one pass per row,
// with label smoothing, float32 arithmetic.
//
// cross_entropy_rows_kernel: one warp a row, 4 rows a 128-thread block, the grid striding over
// rows. Lane l reads columns l, l + 32, ... once, keeping a running (max, sum of exp) pair and
// the sum of the logits; the lanes' pairs merge by shuffles into the row's log-sum-exp. Lane 0
// then reads the label's logit and writes lse[r] and the row's loss (into out for reduction
// none, and into a float32 workspace row the reduction reads).
// cross_entropy_reduce_kernel: one 1024-thread block; thread t takes rows t, t + 1024, ... for
// the loss sum (float64), the rows counted and the first out-of-range label, then a fixed
// tree in shared memory: the result does not depend on scheduling (no atomics).
// cross_entropy_backward_kernel: one warp a row as above; lane l writes columns l, l + 32, ...
// of dlogits = (exp(x - lse) - smoothed one-hot) * g.
#include <cstdint>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kReduceThreads = 1024;

struct RowShape {
  int64_t rows, classes, ignore_index;
  float eps;
};

// The row kinds of a label (as the CPU backend's): ignored, counted, or outside [0, C).
enum RowKind { kIgnored = 0, kCounted = 1, kBad = 2 };

__device__ __forceinline__ RowKind row_kind(int64_t label, const RowShape& s) {
  if (label == s.ignore_index) return kIgnored;
  return label >= 0 && label < s.classes ? kCounted : kBad;
}

// Adds exp(x) into the running (max m, sum s of exp(x - m)). Equal maxima add 1, so that two
// +inf logits give lse = +inf and -inf ones nothing; a NaN makes s NaN.
__device__ __forceinline__ void lse_add(float& m, float& s, float x) {
  if (x > m) {
    s = s * expf(m - x) + 1.f;
    m = x;
  } else {
    s += x == m ? 1.f : expf(x - m);
  }
}

__device__ __forceinline__ void lse_merge(float& m, float& s, float m2, float s2) {
  if (m2 > m) {
    s = s * expf(m - m2) + s2;
    m = m2;
  } else {
    s += m2 == m ? s2 : s2 * expf(m2 - m);
  }
}

template <typename T, typename L>
__global__ void __launch_bounds__(kWarps * 32)
cross_entropy_rows_kernel(const T* __restrict__ logits, const L* __restrict__ labels, float* __restrict__ lse, float* __restrict__ row_loss,
                          T* __restrict__ out_rows, RowShape s) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < s.rows; r += warps) {
    const T* x = logits + r * s.classes;
    float m = -INFINITY, sum = 0.f, sum_x = 0.f;
    for (int64_t c = lane; c < s.classes; c += 32) {
      const float v = to_float(x[c]);
      lse_add(m, sum, v);
      sum_x += v;
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, sum, o);
      lse_merge(m, sum, m2, s2);
      sum_x += __shfl_xor_sync(0xffffffffu, sum_x, o);
    }
    if (lane != 0) continue;
    const float row_lse = isinf(m) ? m : m + logf(sum);
    const int64_t label = static_cast<int64_t>(labels[r]);
    float loss = 0.f;
    const RowKind kind = row_kind(label, s);
    if (kind == kBad) loss = NAN;
    if (kind == kCounted) loss = (1.f - s.eps) * (row_lse - to_float(x[label])) + s.eps * (row_lse - sum_x / static_cast<float>(s.classes));
    lse[r] = row_lse;
    row_loss[r] = loss;
    if (out_rows != nullptr) out_rows[r] = from_float<T>(loss);
  }
}

// Writes out[0] (mean or sum; none: out_scalar null) and stats = {rows counted, first bad row or -1}.
template <typename T, typename L>
__global__ void __launch_bounds__(kReduceThreads)
cross_entropy_reduce_kernel(const L* __restrict__ labels, const float* __restrict__ row_loss, T* __restrict__ out_scalar, bool mean,
                            int32_t* __restrict__ stats, RowShape s) {
  __shared__ double sums[kReduceThreads];
  __shared__ int64_t counts[kReduceThreads], firsts[kReduceThreads];
  const int t = threadIdx.x;
  double sum = 0;
  int64_t count = 0, first = INT64_MAX;
  for (int64_t r = t; r < s.rows; r += kReduceThreads) {
    const RowKind kind = row_kind(static_cast<int64_t>(labels[r]), s);
    if (kind == kIgnored) continue;
    sum += row_loss[r];
    ++count;
    if (kind == kBad && r < first) first = r;
  }
  sums[t] = sum;
  counts[t] = count;
  firsts[t] = first;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half >>= 1) {
    if (t < half) {
      sums[t] += sums[t + half];
      counts[t] += counts[t + half];
      firsts[t] = firsts[t] < firsts[t + half] ? firsts[t] : firsts[t + half];
    }
    __syncthreads();
  }
  if (t != 0) return;
  if (out_scalar != nullptr) out_scalar[0] = from_float<T>(static_cast<float>(mean ? sums[0] / static_cast<double>(counts[0]) : sums[0]));
  stats[0] = static_cast<int32_t>(counts[0]);
  stats[1] = firsts[0] == INT64_MAX ? -1 : static_cast<int32_t>(firsts[0]);
}

// g_r for each row: d_loss[r] (none) or d_loss[0], divided by the rows counted for a mean.
struct GradScale {
  bool per_row, mean;
};

template <typename T, typename L>
__global__ void __launch_bounds__(kWarps * 32)
cross_entropy_backward_kernel(T* __restrict__ dlogits, const T* __restrict__ d_loss, const T* __restrict__ logits, const L* __restrict__ labels,
                              const float* __restrict__ lse, const int32_t* __restrict__ stats, GradScale gs, RowShape s) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  const float inv_count = gs.mean ? 1.f / static_cast<float>(stats[0]) : 1.f;
  const float off = s.eps / static_cast<float>(s.classes);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < s.rows; r += warps) {
    const int64_t label = static_cast<int64_t>(labels[r]);
    const RowKind kind = row_kind(label, s);
    float g = 0.f;
    if (kind == kBad) g = NAN;
    if (kind == kCounted) g = to_float(d_loss[gs.per_row ? r : 0]) * inv_count;
    const float row_lse = lse[r];
    const T* x = logits + r * s.classes;
    T* d = dlogits + r * s.classes;
    for (int64_t c = lane; c < s.classes; c += 32) {
      const float target = (c == label ? 1.f - s.eps : 0.f) + off;
      d[c] = from_float<T>(kind == kIgnored ? 0.f : (expf(to_float(x[c]) - row_lse) - target) * g);
    }
  }
}

unsigned row_blocks(int64_t rows) {
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks > (int64_t{1} << 20) ? (int64_t{1} << 20) : blocks);
}

// Calls fn(L{}) with L the C++ type of the labels' integer dtype.
template <typename Fn>
void dispatch_labels(DType t, Fn&& fn) {
  if (t == DType::Int32) fn(int32_t{});
  else if (t == DType::UInt8) fn(uint8_t{});
  else throw_invalid("cross_entropy: labels must be int32 or uint8");
}

RowShape shape_of(const TensorView& logits, int64_t ignore_index, float eps) {
  return RowShape{logits.rows(), logits.cols(), ignore_index, eps};
}

}  // namespace

size_t cross_entropy_workspace_bytes(const CrossEntropyParams& p) { return static_cast<size_t>(p.logits.rows()) * sizeof(float); }

void launch_cross_entropy(const CrossEntropyParams& p, float* workspace, cudaStream_t stream) {
  const RowShape s = shape_of(p.logits, p.ignore_index, p.label_smoothing);
  const bool none = p.reduction == LossReduction::None;
  dispatch_float(p.logits.dtype, "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    dispatch_labels(p.labels.dtype, [&](auto label_tag) {
      using L = decltype(label_tag);
      const auto* labels = static_cast<const L*>(p.labels.data);
      if (s.rows > 0) {
        cross_entropy_rows_kernel<T, L><<<row_blocks(s.rows), kWarps * 32, 0, stream>>>(
            static_cast<const T*>(p.logits.data), labels, static_cast<float*>(p.lse.data), workspace, none ? static_cast<T*>(p.out.data) : nullptr, s);
        NF_CHECK_LAUNCH("cross_entropy_rows_kernel");
      }
      cross_entropy_reduce_kernel<T, L><<<1, kReduceThreads, 0, stream>>>(labels, workspace, none ? nullptr : static_cast<T*>(p.out.data),
                                                                         p.reduction == LossReduction::Mean, static_cast<int32_t*>(p.stats.data), s);
      NF_CHECK_LAUNCH("cross_entropy_reduce_kernel");
    });
  });
}

void launch_cross_entropy_backward(const CrossEntropyBackwardParams& p, cudaStream_t stream) {
  const RowShape s = shape_of(p.logits, p.ignore_index, p.label_smoothing);
  if (s.rows == 0) return;
  const GradScale gs{p.reduction == LossReduction::None, p.reduction == LossReduction::Mean};
  dispatch_float(p.logits.dtype, "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    dispatch_labels(p.labels.dtype, [&](auto label_tag) {
      using L = decltype(label_tag);
      cross_entropy_backward_kernel<T, L><<<row_blocks(s.rows), kWarps * 32, 0, stream>>>(
          static_cast<T*>(p.dlogits.data), static_cast<const T*>(p.d_loss.data), static_cast<const T*>(p.logits.data),
          static_cast<const L*>(p.labels.data), static_cast<const float*>(p.lse.data), static_cast<const int32_t*>(p.stats.data), gs, s);
    });
  });
  NF_CHECK_LAUNCH("cross_entropy_backward_kernel");
}

}  // namespace nf::cuda
