// One pre-norm transformer encoder block without layer scale, as ts/nn/layers.ts'
// EncoderBlock runs it op by op, each step the backend call those ops make, with the same
// parameters (so the results are the same):
//   out = x + proj(attention(split(qkv(norm1(x)))))      (x is proj's GEMM C input)
//   out += fc2(act(fc1(norm2(out))))                      (in place: out is fc2's C input)
// It exists so that the host issues a block in one call instead of eight: an eager forward
// of a small ViT is bound by the host's cost per op. The intermediates share one workspace
// from the backend's pool (stream-ordered on CUDA; below), so the block holds x, out and
// 4 [B, N, C] buffers' worth at mlp_ratio 3 (5 over x with out, as op by op).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "backend.h"
#include "ops.h"
#include "tensor.h"

namespace nf {

struct EncoderBlockParams {
  DType dtype = DType::Float32;
  int64_t batch = 0, tokens = 0, dim = 0, heads = 1, hidden = 0;  // B, N, C, H, the MLP's width
  const void* x = nullptr;  // [B, N, C] contiguous
  void* out = nullptr;      // [B, N, C] contiguous, apart from x
  const void *norm1_weight = nullptr, *norm1_bias = nullptr, *norm2_weight = nullptr, *norm2_bias = nullptr;  // [C] or null
  const void* qkv_weight = nullptr;  // [3C, C]
  const void* qkv_bias = nullptr;    // [3C] or null
  const void* proj_weight = nullptr;  // [C, C]
  const void* proj_bias = nullptr;
  const void* fc1_weight = nullptr;  // [hidden, C]
  const void* fc1_bias = nullptr;
  const void* fc2_weight = nullptr;  // [C, hidden]
  const void* fc2_bias = nullptr;
  float eps1 = 1e-5f, eps2 = 1e-5f, scale = 1.f;
  ActivationSpec activation;
  // Sparse attention over a CSR mask (its mask and schedule fields; the rest is filled here),
  // else memory_efficient's dense kernel.
  bool use_sparse = false;
  SparseAttentionParams sparse;
};

inline void encoder_block(const std::shared_ptr<Backend>& owner, const EncoderBlockParams& p) {
  Backend& backend = *owner;
  const int64_t B = p.batch, N = p.tokens, C = p.dim, H = p.heads, D = C / H, M = B * N;
  const size_t elem = dtype_size(p.dtype);
  const size_t bytes = static_cast<size_t>(M * C) * elem;
  auto contiguous = [&](const void* data, int64_t rows_b, int64_t rows_n, int64_t cols) {
    TensorView v;
    v.data = const_cast<void*>(data);
    v.dtype = p.dtype;
    v.ndim = 3;
    v.shape[0] = rows_b; v.shape[1] = rows_n; v.shape[2] = cols;
    v.strides[0] = rows_n * cols; v.strides[1] = cols; v.strides[2] = 1;
    return v;
  };
  // What linear() hands the backend: c [M, n] = a [M, k] Wᵀ (W [n, k]) + bias (+ residual), as
  // one batch of [1, M, k] x [1, n, k]ᵀ.
  auto linear = [&](void* c, const void* a, const void* w, int64_t n, int64_t k, const void* bias, ActivationSpec act,
                    const void* residual) {
    GemmParams g;
    g.dtype = p.dtype;
    g.a = a; g.b = w; g.c = c; g.bias = bias; g.residual = residual;
    g.batch = 1; g.m = M; g.n = n; g.k = k;
    g.trans_a = false; g.trans_b = true;
    g.lda = k; g.ldb = k; g.ldc = n;
    g.batch_stride_a = 0; g.batch_stride_b = 0; g.batch_stride_c = M * n;
    g.activation = act;
    backend.gemm(g);
  };
  // What layerNorm() hands the backend: [B, N, C] views.
  auto layer_norm = [&](void* dst, const void* src, const void* weight, const void* bias, float eps) {
    NormParams n;
    n.out = contiguous(dst, B, N, C);
    n.x = contiguous(src, B, N, C);
    n.weight = weight;
    n.bias = bias;
    n.eps = eps;
    backend.norm(n);
  };

  // One workspace for the block's intermediates, in two regions that each step's data takes
  // in turn (every backend runs the steps in order: one stream on CUDA, so a step's writes
  // follow the previous step's reads of the same bytes):
  //   wide   [0, wide_bytes)      qkv [B, N, 3, H, D], then fc1's output [B, N, hidden]
  //   narrow [wide_bytes, + T)    norm1's output, then the attention's, then norm2's
  // One allocation instead of five (each a cudaMallocAsync and a cudaFreeAsync on CUDA), and
  // the same peak as the five: 4 [B, N, C] buffers beside out at mlp_ratio 3. The narrow
  // region starts at a multiple of 256 bytes, the alignment the separate buffers had (and
  // cuBLASLt's plans are chosen by), so the results equal the op-by-op block's.
  const size_t hidden_bytes = static_cast<size_t>(M * p.hidden) * elem;
  const size_t wide_bytes = (std::max(3 * bytes, hidden_bytes) + 255) / 256 * 256;
  Buffer workspace(owner, wide_bytes + bytes);
  char* wide = static_cast<char*>(workspace.data());
  char* narrow = wide + wide_bytes;

  layer_norm(narrow, p.x, p.norm1_weight, p.norm1_bias, p.eps1);
  linear(wide, narrow, p.qkv_weight, 3 * C, C, p.qkv_bias, ActivationSpec{}, nullptr);
  // q, k and v read in place from the projection, as splitQkv's views: [B, N, H, D] with
  // strides (N 3C, 3C, D), at element offsets 0, C and 2C; the output [B, N, H, D] goes
  // where norm1's was.
  const int64_t in_strides[3] = {N * 3 * C, 3 * C, D}, out_strides[3] = {N * C, C, D};
  auto fill_common = [&](auto& a) {
    a.dtype = p.dtype;
    a.q = wide; a.k = wide + C * elem; a.v = wide + 2 * C * elem; a.out = narrow;
    a.batch = B; a.nq = N; a.nk = N; a.heads = H; a.head_dim = D;
    for (int d = 0; d < 3; ++d) {
      a.q_strides[d] = a.k_strides[d] = a.v_strides[d] = in_strides[d];
      a.out_strides[d] = out_strides[d];
    }
    a.scale = p.scale;
  };
  if (p.use_sparse) {
    SparseAttentionParams a = p.sparse;
    fill_common(a);
    backend.sparse_attention(a);
  } else {
    AttentionParams a;
    fill_common(a);
    backend.attention(a);
  }
  linear(p.out, narrow, p.proj_weight, C, C, p.proj_bias, ActivationSpec{}, p.x);
  layer_norm(narrow, p.out, p.norm2_weight, p.norm2_bias, p.eps2);
  linear(wide, narrow, p.fc1_weight, p.hidden, C, p.fc1_bias, p.activation, nullptr);
  linear(p.out, wide, p.fc2_weight, C, p.hidden, p.fc2_bias, ActivationSpec{}, p.out);
}

}  // namespace nf
