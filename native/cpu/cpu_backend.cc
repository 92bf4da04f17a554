// The CPU backend's kernels: the reference every CUDA kernel is held against and the fallback
// where no GPU is. Plain loops, float32 or float64 accumulation, written to be read; the
// GEMM and the row loops fan out over the thread pool. queued_backend.cc runs them off the
// JS thread.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "../core/activation.h"
#include "../core/backend.h"
#include "../core/error.h"
#include "attention_simd.h"
#include "backward.h"
#include "norm_simd.h"
#include "cpu_kernels.h"
#include "host_cache.h"
#include "elementwise.h"
#include "elementwise_fast.h"
#include "gemm.h"
#include "mixing.h"
#include "thread_pool.h"
#include "random_ops.h"
#include "optimizer.h"
#include "patch.h"
#include "training.h"

namespace nf {
namespace {

using cpu::for_each_offset;
using cpu::load;
using cpu::store;

// Copies an [rows, cols] matrix, read through (row_stride, col_stride), into float32.
std::vector<float> to_float_matrix(const void* base, DType t, int64_t rows, int64_t cols, int64_t row_stride,
                                   int64_t col_stride) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = static_cast<float>(load(base, t, r * row_stride + c * col_stride));
  return out;
}

// A row's log-sum-exp from its online softmax's running max and sum: -inf when nothing was scored.
float row_log_sum_exp(float row_max, float row_sum) { return row_sum > 0.f ? row_max + std::log(row_sum) : -INFINITY; }

class CpuBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::CPU; }
  std::string name() const override { return "cpu"; }

  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    // 64-byte alignment for vector loads; large blocks are reused (host_cache.h).
    void* p = cache_.allocate(bytes);
    if (p == nullptr) throw Error(ErrorCode::OutOfMemory, "cpu: out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void deallocate(void* ptr) override { cache_.deallocate(ptr); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override { if (bytes) std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { if (bytes) std::memcpy(dst, src, bytes); }
  void synchronize() override {}

  void copy(const TensorView& dst, const TensorView& src) override {
    if (cpu::copy_rows(dst, src)) return;
    const TensorView* views[2] = {&dst, &src};
    if (dst.dtype == src.dtype) {
      const size_t size = dtype_size(dst.dtype);
      char* d = static_cast<char*>(dst.data);
      const char* s = static_cast<const char*>(src.data);
      for_each_offset<2>(dst, views, [&](int64_t od, int64_t os) { std::memcpy(d + od * size, s + os * size, size); });
      return;
    }
    for_each_offset<2>(dst, views, [&](int64_t od, int64_t os) { store(dst.data, dst.dtype, od, load(src.data, src.dtype, os)); });
  }

  void fill(const TensorView& dst, double value) override {
    if (cpu::fill_contiguous(dst, value)) return;
    const TensorView* views[1] = {&dst};
    for_each_offset<1>(dst, views, [&](int64_t o) { store(dst.data, dst.dtype, o, value); });
  }

  // float32 through the packed SIMD GEMM (gemm.h) unless the reference path is chosen
  // (NODEFORMERS_CPU_GEMM=reference, or cpu.gemmKernel('reference')); other dtypes: reference.
  void gemm(const GemmParams& p) override {
    const cpu::GemmKernel* kernel = cpu::active_gemm_kernel();
    if (p.dtype == DType::Float32 && kernel != nullptr) return cpu::gemm_f32(p, *kernel);
    gemm_reference(p);
  }

  // A blocked GEMM over float32 copies of the operands: simple enough to trust as a reference.
  static void gemm_reference(const GemmParams& p) {
    const int64_t m = p.m, n = p.n, k = p.k;
    std::vector<float> acc(static_cast<size_t>(m * n));
    for (int64_t b = 0; b < p.batch; ++b) {
      const char* a_base = static_cast<const char*>(p.a) + b * p.batch_stride_a * dtype_size(p.dtype);
      const char* b_base = static_cast<const char*>(p.b) + b * p.batch_stride_b * dtype_size(p.dtype);
      // A as [m, k] and B as [k, n], both row-major float32.
      const std::vector<float> A = p.trans_a ? to_float_matrix(a_base, p.dtype, m, k, 1, p.lda)
                                             : to_float_matrix(a_base, p.dtype, m, k, p.lda, 1);
      const std::vector<float> B = p.trans_b ? to_float_matrix(b_base, p.dtype, k, n, 1, p.ldb)
                                             : to_float_matrix(b_base, p.dtype, k, n, p.ldb, 1);
      std::fill(acc.begin(), acc.end(), 0.f);
      constexpr int64_t kBlockK = 128, kBlockN = 512;
      for (int64_t k0 = 0; k0 < k; k0 += kBlockK) {
        const int64_t k1 = std::min(k, k0 + kBlockK);
        for (int64_t n0 = 0; n0 < n; n0 += kBlockN) {
          const int64_t n1 = std::min(n, n0 + kBlockN);
          for (int64_t i = 0; i < m; ++i) {
            float* c_row = acc.data() + i * n;
            for (int64_t kk = k0; kk < k1; ++kk) {
              const float a = A[i * k + kk];
              const float* b_row = B.data() + kk * n;
              for (int64_t j = n0; j < n1; ++j) c_row[j] += a * b_row[j];
            }
          }
        }
      }
      char* c_base = static_cast<char*>(p.c) + b * p.batch_stride_c * dtype_size(p.dtype);
      // The residual has c's layout; each element is read before the same element is written.
      const char* r_base = p.residual ? static_cast<const char*>(p.residual) + b * p.batch_stride_c * dtype_size(p.dtype) : nullptr;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          float v = p.alpha * acc[i * n + j];
          if (p.bias) v += static_cast<float>(load(p.bias, p.dtype, j));
          if (r_base) v += static_cast<float>(load(r_base, p.dtype, i * p.ldc + j));
          store(c_base, p.dtype, i * p.ldc + j, apply_activation(v, p.activation));
        }
    }
  }

  // Rows in parallel chunks of at least kRowWork elements (a smaller chunk costs more to hand out than to run).
  static constexpr int64_t kRowWork = 16384;

  void norm(const NormParams& p) override {
    const int64_t rows = p.x.rows(), cols = p.x.cols();
    const bool simd = cpu::active_gemm_kernel() != nullptr && cpu::norm_simd_serves(p);
    cpu::parallel_range(rows, kRowWork / std::max<int64_t>(cols, 1) + 1, [&](int64_t r0, int64_t r1) {
      if (simd) cpu::norm_rows_simd(p, r0, r1);
      else norm_rows(p, r0, r1);
    });
  }

  static void norm_rows(const NormParams& p, int64_t r0, int64_t r1) {
    const int64_t cols = p.x.cols();
    for (int64_t r = r0; r < r1; ++r) {
      double mean = 0, sq = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double v = load(p.x.data, p.x.dtype, r * cols + c);
        mean += v;
        sq += v * v;
      }
      mean /= cols;
      double inv;
      if (p.rms) {
        inv = 1.0 / std::sqrt(sq / cols + p.eps);
        mean = 0;
      } else {
        double var = 0;
        for (int64_t c = 0; c < cols; ++c) {
          const double d = load(p.x.data, p.x.dtype, r * cols + c) - mean;
          var += d * d;
        }
        inv = 1.0 / std::sqrt(var / cols + p.eps);
      }
      for (int64_t c = 0; c < cols; ++c) {
        double v = (load(p.x.data, p.x.dtype, r * cols + c) - mean) * inv;
        if (p.weight) v *= load(p.weight, p.x.dtype, c);
        if (p.bias) v += load(p.bias, p.x.dtype, c);
        store(p.out.data, p.out.dtype, r * cols + c, v);
      }
    }
  }

  void softmax(const SoftmaxParams& p) override {
    const int64_t rows = p.x.rows(), cols = p.x.cols();
    cpu::parallel_range(rows, kRowWork / std::max<int64_t>(cols, 1) + 1, [&](int64_t r0, int64_t r1) { softmax_rows(p, r0, r1); });
  }

  static void softmax_rows(const SoftmaxParams& p, int64_t r0, int64_t r1) {
    const int64_t cols = p.x.cols();
    thread_local std::vector<double> row;
    thread_local std::vector<uint8_t> keep;
    row.resize(static_cast<size_t>(cols));
    keep.assign(static_cast<size_t>(cols), 1);
    for (int64_t r = r0; r < r1; ++r) {
      if (p.has_mask) {
        // Offset of this row in the broadcast mask view: unravel r over the leading dims.
        int64_t rem = r, mask_offset = 0;
        for (int d = p.x.ndim - 2; d >= 0; --d) {
          mask_offset += (rem % p.x.shape[d]) * p.mask.strides[d];
          rem /= p.x.shape[d];
        }
        const uint8_t* m = static_cast<const uint8_t*>(p.mask.data) + mask_offset;
        for (int64_t c = 0; c < cols; ++c) keep[c] = m[c * p.mask.strides[p.mask.ndim - 1]] != 0;
      }
      double mx = -INFINITY;
      for (int64_t c = 0; c < cols; ++c) {
        row[c] = load(p.x.data, p.x.dtype, r * cols + c) * p.scale;
        if (keep[c]) mx = std::max(mx, row[c]);
      }
      double sum = 0;
      for (int64_t c = 0; c < cols; ++c) {
        row[c] = keep[c] && mx > -INFINITY ? std::exp(row[c] - mx) : 0.0;
        sum += row[c];
      }
      const double inv = sum > 0 ? 1.0 / sum : 0.0;
      for (int64_t c = 0; c < cols; ++c) store(p.out.data, p.out.dtype, r * cols + c, row[c] * inv);
    }
  }

  void bias_activation(const BiasActivationParams& p) override {
    const int64_t rows = p.x.rows(), cols = p.x.cols();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        float v = static_cast<float>(load(p.x.data, p.x.dtype, r * cols + c));
        if (p.bias) v += static_cast<float>(load(p.bias, p.x.dtype, c));
        store(p.out.data, p.out.dtype, r * cols + c, apply_activation(v, p.activation));
      }
  }

  void binary(const BinaryParams& p) override {
    if (cpu::binary_rows(p)) return;
    const TensorView* views[3] = {&p.out, &p.a, &p.b};
    for_each_offset<3>(p.out, views, [&](int64_t oo, int64_t oa, int64_t ob) {
      const double a = load(p.a.data, p.a.dtype, oa);
      const double b = load(p.b.data, p.b.dtype, ob) * p.alpha;
      double v = 0;
      switch (p.op) {
        case BinaryOp::Add: v = a + b; break;
        case BinaryOp::Mul: v = a * b; break;
        case BinaryOp::Sub: v = a - b; break;
        case BinaryOp::Div: v = a / b; break;
      }
      store(p.out.data, p.out.dtype, oo, v);
    });
  }

  void mean(const MeanParams& p) override {
    for (int64_t o = 0; o < p.outer; ++o)
      for (int64_t i = 0; i < p.inner; ++i) {
        double s = 0;
        for (int64_t j = 0; j < p.n; ++j) s += load(p.x.data, p.x.dtype, (o * p.n + j) * p.inner + i);
        store(p.out.data, p.out.dtype, o * p.inner + i, p.n > 0 ? s / p.n : NAN);
      }
  }

  void patch_gather(const PatchGatherParams& p) override {
    // Captured by value: a capture of p by reference compiled to a slower inner loop.
    void* const out = p.out.data;
    const void* const in = p.images.data;
    const DType out_t = p.out.dtype, in_t = p.images.dtype;
    cpu::for_each_patch_element(p.images, p.patch, [=](int64_t image, int64_t patch) { store(out, out_t, patch, load(in, in_t, image)); });
  }

  // float32 without a block layout goes to the vectorized kernel (attention_simd.h). Here:
  // memory-efficient attention in tiles: for each (batch, head) and block of query rows,
  // walk the keys a tile at a time, keeping a running max, sum and output per row (the
  // online softmax). Only a [kTileQ, kTileK] block of scores ever exists. Key ranges bound
  // the keys a block walks and are tested per element; head h reads kv head h / group.
  // Threaded by (batch, head, query tile): each task owns its rows of out and lse, and its
  // tiles live in thread-local scratch (no allocation per task).
  void attention(const AttentionParams& p) override {
    if (cpu::active_gemm_kernel() != nullptr && cpu::attention_simd_serves(p)) return cpu::attention_simd(p);
    constexpr int64_t kTileQ = 32, kTileK = 128;
    const int64_t D = p.head_dim;
    const size_t elem = dtype_size(p.dtype);
    auto at = [&](const void* base, const int64_t* strides, int64_t b, int64_t n, int64_t h) {
      return static_cast<const char*>(base) + (b * strides[0] + n * strides[1] + h * strides[2]) * elem;
    };
    const int64_t group = p.kv_heads > 0 ? p.heads / p.kv_heads : 1;
    const int32_t* ranges = p.row_ranges;
    const int64_t q_tiles = (p.nq + kTileQ - 1) / kTileQ;
    cpu::parallel_for(p.batch * p.heads * q_tiles, [&](int64_t task, int) {
      thread_local std::vector<float> q_tile, k_tile, v_tile, acc, scores, row_max, row_sum;
      q_tile.resize(static_cast<size_t>(kTileQ * D)), k_tile.resize(static_cast<size_t>(kTileK * D));
      v_tile.resize(static_cast<size_t>(kTileK * D)), acc.resize(static_cast<size_t>(kTileQ * D)), scores.resize(kTileQ * kTileK);
      row_max.resize(kTileQ), row_sum.resize(kTileQ);
      const int64_t b = task / (p.heads * q_tiles), h = task / q_tiles % p.heads, i0 = task % q_tiles * kTileQ;
      const int64_t hl = p.layout_heads == p.heads ? h : 0;  // this head's block layout
      const int64_t hk = h / group;                           // its kv head
      const int64_t rows = std::min(kTileQ, p.nq - i0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t d = 0; d < D; ++d) q_tile[r * D + d] = static_cast<float>(load(at(p.q, p.q_strides, b, i0 + r, h), p.dtype, d));
      std::fill(acc.begin(), acc.end(), 0.f);
      std::fill(row_max.begin(), row_max.end(), -INFINITY);
      std::fill(row_sum.begin(), row_sum.end(), 0.f);
      int64_t key_begin = 0, key_end = p.causal ? std::min(p.nk, i0 + rows) : p.nk;
      if (ranges != nullptr) {  // the keys some row of the block allows (checked: nondecreasing)
        key_begin = ranges[2 * i0];
        key_end = std::min<int64_t>(key_end, ranges[2 * (i0 + rows - 1) + 1]);
      }
      for (int64_t j0 = key_begin; j0 < key_end; j0 += kTileK) {
        const int64_t cols = std::min(kTileK, key_end - j0);
        for (int64_t c = 0; c < cols; ++c)
          for (int64_t d = 0; d < D; ++d) {
            k_tile[c * D + d] = static_cast<float>(load(at(p.k, p.k_strides, b, j0 + c, hk), p.dtype, d));
            v_tile[c * D + d] = static_cast<float>(load(at(p.v, p.v_strides, b, j0 + c, hk), p.dtype, d));
          }
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          float tile_max = -INFINITY;
          for (int64_t c = 0; c < cols; ++c) {
            const int64_t j = j0 + c;
            const int64_t mb = b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] + j * p.mask_strides[3];
            bool allowed = !(p.causal && j > i) && (p.mask == nullptr || p.mask[mb] != 0) &&
                           (ranges == nullptr || (j >= ranges[2 * i] && j < ranges[2 * i + 1])) &&
                           (p.layout == nullptr || p.layout[(hl * p.layout_rows + i / p.layout_block) * p.layout_cols + j / p.layout_block] != 0);
            float s = -INFINITY;
            if (allowed) {
              float dot = 0.f;
              for (int64_t d = 0; d < D; ++d) dot += q_tile[r * D + d] * k_tile[c * D + d];
              s = dot * p.scale;
              if (p.bias) {
                const int64_t bb = b * p.bias_strides[0] + h * p.bias_strides[1] + i * p.bias_strides[2] + j * p.bias_strides[3];
                s += static_cast<float>(load(p.bias, p.bias_dtype, bb));
              }
            }
            scores[r * kTileK + c] = s;
            tile_max = std::max(tile_max, s);
          }
          const float new_max = std::max(row_max[r], tile_max);
          if (new_max == -INFINITY) continue;  // nothing allowed yet in this row
          const float correction = std::exp(row_max[r] - new_max);  // exp(-inf) = 0 on the first tile
          row_sum[r] *= correction;
          for (int64_t d = 0; d < D; ++d) acc[r * D + d] *= correction;
          for (int64_t c = 0; c < cols; ++c) {
            const float w = std::exp(scores[r * kTileK + c] - new_max);
            row_sum[r] += w;
            for (int64_t d = 0; d < D; ++d) acc[r * D + d] += w * v_tile[c * D + d];
          }
          row_max[r] = new_max;
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        const float inv = row_sum[r] > 0.f ? 1.f / row_sum[r] : 0.f;
        char* o = static_cast<char*>(p.out) + (b * p.out_strides[0] + (i0 + r) * p.out_strides[1] + h * p.out_strides[2]) * elem;
        for (int64_t d = 0; d < D; ++d) store(o, p.dtype, d, acc[r * D + d] * inv);
        if (p.lse) p.lse[(b * p.heads + h) * p.nq + i0 + r] = row_log_sum_exp(row_max[r], row_sum[r]);
      }
    });
  }

  // CSR attention, one query row at a time: walk the row's column indices with an online
  // softmax (running max, sum and output in float32), so only the mask's entries are ever
  // scored. The work schedule is for the CUDA kernel and is ignored here. Row offsets are
  // clamped to [0, nnz] and kept monotonic, and column indices outside [0, nk) are skipped,
  // so a forged mask cannot make this read outside the tensors.
  void sparse_attention(const SparseAttentionParams& p) override {
    const int64_t D = p.head_dim;
    const size_t elem = dtype_size(p.dtype);
    std::vector<float> q_row(static_cast<size_t>(D)), acc(static_cast<size_t>(D));
    auto at = [&](const void* base, const int64_t* strides, int64_t b, int64_t n, int64_t h) {
      return static_cast<const char*>(base) + (b * strides[0] + n * strides[1] + h * strides[2]) * elem;
    };
    auto offset = [&](int64_t r) { return std::min<int64_t>(std::max<int64_t>(p.row_offsets[r], 0), p.nnz); };
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.heads; ++h) {
        const int64_t hm = p.mask_heads == p.heads ? h : 0;  // this head's mask
        for (int64_t i = 0; i < p.nq; ++i) {
          const int64_t r = hm * p.nq + i;
          const int64_t begin = offset(r), end = std::max(begin, offset(r + 1));
          for (int64_t d = 0; d < D; ++d) q_row[d] = static_cast<float>(load(at(p.q, p.q_strides, b, i, h), p.dtype, d));
          std::fill(acc.begin(), acc.end(), 0.f);
          float row_max = -INFINITY, row_sum = 0.f;
          for (int64_t e = begin; e < end; ++e) {
            const int64_t j = p.col_indices[e];
            if (j < 0 || j >= p.nk) continue;
            const char* k_row = at(p.k, p.k_strides, b, j, h);
            float dot = 0.f;
            for (int64_t d = 0; d < D; ++d) dot += q_row[d] * static_cast<float>(load(k_row, p.dtype, d));
            const float s = dot * p.scale;
            const float new_max = std::max(row_max, s);
            if (new_max == -INFINITY) continue;  // nothing scored above -inf yet
            const float correction = std::exp(row_max - new_max);  // exp(-inf) = 0 on the first entry
            const float w = std::exp(s - new_max);
            row_sum = row_sum * correction + w;
            const char* v_row = at(p.v, p.v_strides, b, j, h);
            for (int64_t d = 0; d < D; ++d) acc[d] = acc[d] * correction + w * static_cast<float>(load(v_row, p.dtype, d));
            row_max = new_max;
          }
          const float inv = row_sum > 0.f ? 1.f / row_sum : 0.f;
          char* o = static_cast<char*>(p.out) + (b * p.out_strides[0] + i * p.out_strides[1] + h * p.out_strides[2]) * elem;
          for (int64_t d = 0; d < D; ++d) store(o, p.dtype, d, acc[d] * inv);
          if (p.lse) p.lse[(b * p.heads + h) * p.nq + i] = row_log_sum_exp(row_max, row_sum);
        }
      }
  }

  void norm_backward(const NormBackwardParams& p) override { cpu::norm_backward(p); }
  void softmax_backward(const SoftmaxBackwardParams& p) override { cpu::softmax_backward(p); }
  void activation_backward(const ActivationBackwardParams& p) override { cpu::activation_backward(p); }
  void sum_rows(const SumRowsParams& p) override { cpu::sum_rows(p); }
  void attention_backward(const AttentionBackwardParams& p) override { cpu::attention_backward(p); }
  void sparse_attention_backward(const SparseAttentionBackwardParams& p) override { cpu::sparse_attention_backward(p); }
  void optimizer_step(const OptimizerStepParams& p) override { cpu::optimizer_step(p); }
  void unscale_grads(const UnscaleParams& p) override { cpu::unscale_grads(p); }

  void dropout(const DropoutParams& p) override { cpu::dropout(p); }
  void philox(const PhiloxParams& p) override { cpu::philox(p); }

  void cross_entropy(const CrossEntropyParams& p) override { cpu::cross_entropy(p); }
  void cross_entropy_backward(const CrossEntropyBackwardParams& p) override { cpu::cross_entropy_backward(p); }
  void patch_scatter(const PatchScatterParams& p) override { cpu::patch_scatter(p); }
  void multi_norm(const MultiNormParams& p) override { cpu::multi_norm(p); }
  void multi_scale(const MultiScaleParams& p) override { cpu::multi_scale(p); }

  void depthwise_conv2d(const DepthwiseConv2dParams& p) override { cpu::depthwise_conv2d(p); }
  void depthwise_conv2d_backward(const DepthwiseConv2dBackwardParams& p) override { cpu::depthwise_conv2d_backward(p); }
  void avg_pool2d(const AvgPool2dParams& p) override { cpu::avg_pool2d(p); }
  void avg_pool2d_backward(const AvgPool2dBackwardParams& p) override { cpu::avg_pool2d_backward(p); }
  void fourier_mix(const FourierMixParams& p) override { cpu::fourier_mix(p); }

  void attention_tile_shape(DType, int64_t, int64_t* tile_m, int64_t* tile_n) override {
    *tile_m = 0;  // the CPU kernels test the layout per element and ignore tile lists
    *tile_n = 0;
  }

 private:
  cpu::HostCache cache_;
};

}  // namespace

std::unique_ptr<Backend> cpu::make_cpu_kernels() { return std::make_unique<CpuBackend>(); }

}  // namespace nf
