// What each op takes from its caller: views of its tensor operands (an optional one as a
// pointer, null when absent) and its scalars. contracts.cc checks each against the op's
// contract, once for every caller; dispatch.cc lowers it to the kernel's params (ops.h) and
// runs it. Ops whose params are views already (softmax, binary, mean, patch_gather) are
// checked as their params.
#pragma once
#include <cstdint>
#include <vector>

#include "ops.h"
#include "tensor.h"

namespace nf {

class BlockPlan;

// c = alpha * op(a) @ op(b) (+ bias) then activation, or + residual: a, b and c are 3-D
// views [batch, rows, cols] with unit last stride (a batch of one with stride 0 broadcasts);
// c is contiguous [batch, m, n]; bias [n]; residual c's shape, c itself or apart from it.
struct GemmCall {
  TensorView a, b, c;
  const TensorView* bias = nullptr;
  const TensorView* residual = nullptr;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f;
  ActivationSpec activation;
  bool allow_tf32 = false;
};

// NormParams with its weight and bias [cols] as views.
struct NormCall {
  TensorView out, x;
  const TensorView* weight = nullptr;
  const TensorView* bias = nullptr;
  float eps = 1e-5f;
  bool rms = false;
};

// BiasActivationParams with its bias [cols] as a view.
struct BiasActivationCall {
  TensorView out, x;
  const TensorView* bias = nullptr;
  ActivationSpec activation;
};

// NormBackwardParams with weight, dweight and dbias [cols] as views (each optional).
struct NormBackwardCall {
  TensorView dx, dy, x;
  const TensorView* weight = nullptr;
  const TensorView* dweight = nullptr;
  const TensorView* dbias = nullptr;
  float eps = 1e-5f;
  bool rms = false;
};

// ActivationBackwardParams with bias and dbias [cols] as views (each optional).
struct ActivationBackwardCall {
  TensorView dx, dy, x;
  const TensorView* bias = nullptr;
  const TensorView* dbias = nullptr;
  ActivationSpec activation;
};

// AttentionParams as views: q, k, v, out [B, N, H, D] (k and v may have fewer heads: H a
// multiple of theirs); mask (uint8) and bias (float) [B, H, Nq, Nk] views, stride 0 where broadcast.
struct AttentionCall {
  TensorView out, q, k, v;
  const TensorView* mask = nullptr;
  const TensorView* bias = nullptr;
  float scale = 1.f;
  bool causal = false;
  // A mask's or layout's tile lists and layout (attention_plans.h), or null: lowered into the
  // params at dispatch, its tile lists built for the kernel's tiling on first use.
  BlockPlan* plan = nullptr;
  AttentionPrecision precision = AttentionPrecision::High;  // float32's (ops.h)
  const TensorView* lse = nullptr;  // float32 contiguous [B, H, Nq], written, or null (AttentionParams' lse)
  // AttentionParams' row_ranges on the host (2 Nq int32, held by the caller), or null: checked,
  // then uploaded to the device for the call by dispatch (attention_ranges.h).
  const int32_t* row_ranges = nullptr;
  int64_t row_ranges_count = 0;
};

// A CSR mask and its kernel schedule on a device (CsrPlan in attention_plans.h), checked when
// made, for every attention that reads it: SparseAttentionParams' mask and schedule fields,
// and the rows (Nq) it has.
struct SparsePlan {
  int64_t mask_heads = 1, rows = 0, cols = 0;  // cols: Nk, the key columns of the mask
  const int32_t* row_offsets = nullptr;
  const int32_t* col_indices = nullptr;
  int64_t nnz = 0;
  const int32_t* items = nullptr;
  int64_t num_items = 0, lead_items = 0;
  const int32_t* merges = nullptr;
  int64_t num_merges = 0, num_slots = 0;
  // The transposed mask (CSC) for the backward (SparseAttentionBackwardParams says what each holds).
  const int32_t* col_offsets = nullptr;
  const int32_t* row_indices = nullptr;
  const int32_t* csr_index = nullptr;
  // Copies the mask and schedule fields into `p` (the attention's own fields are the caller's).
  void describe(SparseAttentionParams& p) const {
    p.mask_heads = mask_heads;
    p.row_offsets = row_offsets;
    p.col_indices = col_indices;
    p.nnz = nnz;
    p.items = items;
    p.num_items = num_items;
    p.lead_items = lead_items;
    p.merges = merges;
    p.num_merges = num_merges;
    p.num_slots = num_slots;
  }
  // The transposed mask into `p` (its forward's fields as describe() gives them).
  void describe_transposed(SparseAttentionBackwardParams& p) const {
    p.col_offsets = col_offsets;
    p.row_indices = row_indices;
    p.csr_index = csr_index;
  }
};

// Attention over a SparsePlan: q, k, v, out as AttentionCall's.
struct SparseAttentionCall {
  TensorView out, q, k, v;
  const SparsePlan* plan = nullptr;
  float scale = 1.f;
  const TensorView* lse = nullptr;  // as AttentionCall's
};

// AttentionBackwardParams as views: the forward's call (`fwd`: out its output, lse given, as
// the forward wrote them), d_out of out's shape and dtype (unit stride along D, any other
// strides, broadcast included), and the gradients written: dq, dk, dv of q's, k's, v's shapes
// and dtype (unit stride along D), d_bias float32 contiguous [B, H, Nq, Nk] or null. Each
// gradient lies apart from the others and from every input.
struct AttentionBackwardCall {
  AttentionCall fwd;
  TensorView d_out, dq, dk, dv;
  const TensorView* d_bias = nullptr;
};

// SparseAttentionBackwardParams as views, as AttentionBackwardCall's (no bias).
struct SparseAttentionBackwardCall {
  SparseAttentionCall fwd;
  TensorView d_out, dq, dk, dv;
};

// EncoderBlockParams (encoder_block.h) as views: x and out contiguous [B, N, C], apart;
// weights [out features, in features] and vectors contiguous, of x's dtype.
struct EncoderBlockCall {
  TensorView out, x;
  TensorView qkv_weight, proj_weight, fc1_weight, fc2_weight;
  const TensorView *norm1_weight = nullptr, *norm1_bias = nullptr, *qkv_bias = nullptr, *proj_bias = nullptr;
  const TensorView *norm2_weight = nullptr, *norm2_bias = nullptr, *fc1_bias = nullptr, *fc2_bias = nullptr;
  int64_t heads = 1;
  float eps1 = 1e-5f, eps2 = 1e-5f, scale = 1.f;
  ActivationSpec activation;
  const SparsePlan* plan = nullptr;  // sparse attention over it, else the dense kernel
};

// ---- optimizers (issue 25) ----

// OptimizerStepParams as views: each parameter (written) and its gradient of the same shape,
// all of one float dtype; the flat float32 state buffers, each optional (the kind and the
// hyperparameters say which must be given); and each parameter's entry (state offset, lr,
// weight decay, step; its tensor fields are filled from the views at dispatch). `step` holds
// the kind and the hyperparameters; its pointers are filled at dispatch.
struct OptimizerStepCall {
  std::vector<TensorView> params, grads;
  std::vector<OptimizerTensor> entries;
  const TensorView *master = nullptr, *state1 = nullptr, *state2 = nullptr, *state3 = nullptr;
  OptimizerStepParams step;
};

// UnscaleParams as views: the gradients (written in place, one float dtype) and the float32
// found_inf flag [1].
struct UnscaleCall {
  std::vector<TensorView> grads;
  TensorView found_inf;
  float inv_scale = 1.f;
};

}  // namespace nf
