// Parameters of every op a backend implements, as plain structs: the addon fills them
// from checked JS arguments, and a backend's kernels see nothing else.
#pragma once
#include <cstdint>

#include "tensor.h"

namespace nf {

enum class Activation : int32_t {
  None = 0,
  ReLU = 1,
  GELU = 2,         // x * Phi(x), with erf
  GELUTanh = 3,     // the tanh approximation
  LeakyReLU = 4,    // param: negative slope
  SquaredReLU = 5,  // relu(x)^2
  SmeLU = 6,        // param: beta
  StarReLU = 7,     // param: scale, param2: bias  (scale * relu(x)^2 + bias)
};

struct ActivationSpec {
  Activation kind = Activation::None;
  float param = 0.f;
  float param2 = 0.f;
};

// C[b] = alpha * op(A[b]) @ op(B[b]) (+ bias[n]) then activation, row-major matrices; with
// a residual, C[b] = alpha * op(A[b]) @ op(B[b]) + bias + R[b] rounded once, no activation.
// A(m, k) is a[m * lda + k], or a[k * lda + m] when trans_a; B likewise with ldb. Batch
// strides of 0 broadcast one matrix over the batch. All share `dtype`.
struct GemmParams {
  DType dtype = DType::Float32;
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;
  const void* bias = nullptr;  // [n], same dtype, or null
  const void* residual = nullptr;  // C's layout exactly (it may be C itself: in place), or null
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch_stride_a = 0, batch_stride_b = 0, batch_stride_c = 0;
  float alpha = 1.f;
  ActivationSpec activation;
  bool allow_tf32 = false;  // float32 only: let the tensor cores round inputs to tf32
};

// out = (x - mean) / sqrt(var + eps) * weight + bias over the last dim (rms: x / rms(x) * weight).
// x and out contiguous [rows, cols]; weight and bias [cols] or null; float32 statistics.
struct NormParams {
  TensorView out, x;
  const void* weight = nullptr;
  const void* bias = nullptr;
  float eps = 1e-5f;
  bool rms = false;
};

// out = softmax(x * scale, masked) over the last dim; x and out contiguous. The mask, when
// given, is a uint8 view broadcast to x's shape (strides 0 where broadcast), 1 = keep.
// A row with nothing kept gives zeros.
struct SoftmaxParams {
  TensorView out, x;
  bool has_mask = false;
  TensorView mask;
  float scale = 1.f;
};

// out = act(x + bias) elementwise; x and out contiguous [rows, cols], bias [cols] or null.
struct BiasActivationParams {
  TensorView out, x;
  const void* bias = nullptr;
  ActivationSpec activation;
};

enum class BinaryOp : int32_t { Add = 0, Mul = 1, Sub = 2, Div = 3 };

// out = a (op) b * alpha, elementwise; a and b are views broadcast to out's shape (any
// strides), out contiguous. out may alias a (the residual add into the stream).
struct BinaryParams {
  TensorView out, a, b;
  BinaryOp op = BinaryOp::Add;
  float alpha = 1.f;
};

// out[o, i] = mean over j of x[o, j, i]: x contiguous, viewed as [outer, n, inner].
struct MeanParams {
  TensorView out, x;
  int64_t outer = 1, n = 1, inner = 1;
};

// Gathers the P x P patches of images [B, C, H, W] (contiguous) into
// out [B, (H/P) * (W/P), C * P * P], each patch's values in (c, py, px) order, so that a
// GEMM with the conv weight [E, C * P * P] gives the patch embedding.
struct PatchGatherParams {
  TensorView out, images;
  int64_t patch = 16;
};

// ---- backward ops (issue 25): the gradients the autograd tape asks of the forward ops above ----

// The gradients of NormParams' op from dy = dL/d(out), x contiguous [rows, cols], float32 sums:
//   layer: xhat = (x - mean) * rstd, g = dy * weight,
//          dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), dweight = sum_r dy * xhat, dbias = sum_r dy
//   rms:   xhat = x * rstd, dx = rstd * (g - xhat * mean(g * xhat)), dweight and dbias as above.
// mean and rstd are recomputed from x here, not saved by the forward: the backward reads every
// x anyway, so the statistics cost one more pass over a row in cache, and the inference forward
// keeps its one output (no tape, no extra write). dweight and dbias ([cols], x's dtype, either
// null) are summed over rows in two stages (per-block partial sums into a float32 workspace,
// then one pass over the partials): no atomics on the hot rows of a weight, and a result that
// does not depend on scheduling. dx, dy and x share one shape and dtype; dx may be dy itself.
struct NormBackwardParams {
  TensorView dx, dy, x;
  const void* weight = nullptr;  // [cols] or null (1)
  void* dweight = nullptr;       // [cols] or null: not wanted
  void* dbias = nullptr;         // [cols] or null: not wanted
  float eps = 1e-5f;
  bool rms = false;
};

// The gradient of SoftmaxParams' op from its output y and dy, over the last dim:
//   dx = scale * y * (dy - sum_c dy * y), 0 where the mask drops an entry.
// dx, dy, y contiguous, one shape and float dtype (dx may be dy itself); the mask as
// SoftmaxParams'. A fully masked row (y all 0) gives zeros, never NaN.
struct SoftmaxBackwardParams {
  TensorView dx, dy, y;
  bool has_mask = false;
  TensorView mask;
  float scale = 1.f;
};

// The gradients of BiasActivationParams' op: dx = dy * act'(x + bias) elementwise (x the
// pre-activation input), and dbias[c] = sum_r dx[r, c] (SumRowsParams' two-stage sum) when
// dbias is given. dx, dy, x contiguous [rows, cols] of one float dtype (dx may be dy itself);
// bias and dbias [cols] of x's dtype, or null.
struct ActivationBackwardParams {
  TensorView dx, dy, x;
  const void* bias = nullptr;
  void* dbias = nullptr;
  ActivationSpec activation;
};

// out[c] = sum_r x[r, c]: x contiguous, viewed as [rows, cols] by its last dim, out contiguous
// with cols elements of x's dtype. float32 sums in two stages (partial sums of row blocks,
// then their sum), the bias gradient of a linear layer and the reduction over broadcast axes.
// rows == 0 gives zeros.
struct SumRowsParams {
  TensorView out, x;
};

}  // namespace nf

namespace nf {

// Exact attention, never storing the [nq, nk] score matrix (the memory-efficient kernel):
//   out[b, i, h, :] = sum_j p_ij v[b, j, h, :],  p_i = softmax_j(scale * q[b, i, h, :] . k[b, j, h, :] + bias[b, h, i, j])
// over the keys j that are allowed: mask[b, h, i, j] != 0 (when a mask is given) and
// j <= i when causal (top-left aligned, as torch's is_causal). A query row with no allowed
// key gives zeros. q, k, v, out are [B, N, H, D] views with unit stride along D and any
// strides along B, N, H (so a fused qkv projection [B, N, 3, H, D] is read in place);
// out is written through its strides too. mask (uint8) and bias (float, its own dtype)
// are [B, H, Nq, Nk] views with stride 0 along broadcast dims.
//
// precision (float32 only; named after torch.set_float32_matmul_precision): High lets the
// CUDA backend run the products on the tensor cores by the 3xTF32 split (each product to
// about float32 precision, the a_small b_small term dropped) where it has such a kernel
// (D <= 16), and exact float32 FMA elsewhere; Highest is exact float32 FMA everywhere.
// High is the default: the 3xTF32 kernel has served float32 at D <= 16 since commit 4b50472.
// float16 and bfloat16 (tensor cores, float32 accumulation) and the CPU backend (exact
// float32) ignore it.
enum class AttentionPrecision : int32_t { High = 0, Highest = 1 };

struct AttentionParams {
  DType dtype = DType::Float32;  // of q, k, v and out
  AttentionPrecision precision = AttentionPrecision::High;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  int64_t batch = 0, heads = 0, nq = 0, nk = 0, head_dim = 0;
  int64_t q_strides[3] = {}, k_strides[3] = {}, v_strides[3] = {}, out_strides[3] = {};  // along B, N, H
  float scale = 1.f;
  bool causal = false;
  const uint8_t* mask = nullptr;
  int64_t mask_strides[4] = {};  // along B, H, Nq, Nk
  const void* bias = nullptr;
  DType bias_dtype = DType::Float32;
  int64_t bias_strides[4] = {};  // along B, H, Nq, Nk

  // Block layout (the block_sparse mechanism), or null: key j is allowed for query i only when
  //   layout[(hl * layout_rows + i / layout_block) * layout_cols + j / layout_block] != 0,
  // hl = h when layout_heads == heads, 0 when layout_heads == 1 (one layout for every head).
  // layout_rows = ceil(nq / layout_block), layout_cols = ceil(nk / layout_block).
  const uint8_t* layout = nullptr;
  int64_t layout_heads = 1, layout_block = 0, layout_rows = 0, layout_cols = 0;
  // Tile lists, or null: the key tiles worth visiting at a kernel's [tile_m, tile_n] tiling
  // (attention_tile_shape()); the CUDA backend needs them whenever `layout` is set, and uses
  // them to skip tiles of a sparse element mask too. Query tile t of list head hl
  // (tile_heads: 1 or heads, as layout_heads) visits the key tiles
  //   tile_cols[tile_offsets[hl * m_tiles + t] .. tile_offsets[hl * m_tiles + t + 1]),
  // m_tiles = ceil(nq / tile_m), ascending, each entry (key tile index << 1) | partial:
  // partial = 1 when the layout leaves some of that tile's (i, j) off, so the kernel must
  // test the layout per element there; 0 when the layout allows the whole tile (or there is
  // no layout). Every (i, j) allowed by layout and mask must lie in a listed tile.
  const int32_t* tile_offsets = nullptr;
  const int32_t* tile_cols = nullptr;
  int64_t tile_cols_count = 0;  // entries in tile_cols
  int64_t tile_heads = 1, tile_m = 0, tile_n = 0;

  // The row log-sum-exp, for the backward, or null (not wanted): float32 contiguous
  // [B, H, Nq], lse[b, h, i] = log sum_j exp(scale * q_i . k_j + bias_ij) over the allowed
  // keys (natural log); -inf for a row with no allowed key.
  float* lse = nullptr;

  // Attention biases (attention_ranges.h). Grouped-query attention: k and v have kv_heads
  // heads (0: heads), heads a multiple of it; query head h reads kv head h / (heads / kv_heads).
  int64_t kv_heads = 0;
  // Key ranges, or null: key j is allowed for query i only when lo_i <= j < hi_i, with
  // (lo_i, hi_i) = (row_ranges[2 i], row_ranges[2 i + 1]), int32 [nq][2] on the backend's device,
  // 0 <= lo_i <= hi_i <= nk, both nondecreasing in i (the kernels skip key tiles by them).
  const int32_t* row_ranges = nullptr;
};

// The gradient of AttentionParams' attention: given dO (out's shape) and the forward's
// inputs, out and lse (`fwd`, every field as the forward had it, out and lse written),
//   P = exp(scale * Q K^T + bias - lse) under the forward's mask, causal rule and layout,
//   delta_i = sum_d dO_id O_id,  dP = dO V^T,  dS = P * (dP - delta),
//   dV = P^T dO,  dQ = scale * dS K,  dK = scale * dS^T Q,  d_bias = dS.
// dq, dk, dv are [B, N, H, D] views with unit stride along D (as q, k, v); every element
// is written (zeros for a key no query attends, and for a query row with no allowed key:
// never NaN). d_bias, when not null, is float32 contiguous [B, H, Nq, Nk], written in full
// (zero where not allowed); the caller reduces it over the bias's broadcast dims. With
// grouped-query attention, dK and dV of a kv head sum the gradients of its query heads.
// Workspaces (float32 delta, dQ accumulators) are the backend's, from its allocator.
struct AttentionBackwardParams {
  AttentionParams fwd;
  const void* d_out = nullptr;
  int64_t d_out_strides[3] = {};  // along B, N, H
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
  int64_t dq_strides[3] = {}, dk_strides[3] = {}, dv_strides[3] = {};  // along B, N, H
  float* d_bias = nullptr;
  // With fwd.row_ranges: the query rows that allow each key, int32 [nk][2] on the device: key j
  // is allowed for rows [col_ranges[2 j], col_ranges[2 j + 1]), both nondecreasing in j.
  const int32_t* col_ranges = nullptr;
};

// Attention over a CSR mask (the sparse mechanism): for each batch b, head h and query i,
//   out[b, i, h, :] = sum_{j in row(h, i)} p_ij v[b, j, h, :],
//   p_ij = softmax over j in row(h, i) of scale * q[b, i, h, :] . k[b, j, h, :],
// row(h, i) = col_indices[row_offsets[r] .. row_offsets[r + 1]), r = hm * nq + i with
// hm = h when mask_heads == heads and 0 when mask_heads == 1 (one mask for every head).
// Column indices are in [0, nk) and ascending within a row. A row without entries gives
// zeros. q, k, v, out as in AttentionParams (views [B, N, H, D], unit stride along D).
//
// The work schedule (how the CUDA kernel balances rows of very different lengths; the CPU
// ignores it): `items` holds num_items records of 4 int32 {r, begin, end, slot}: CSR
// entries [begin, end) of mask row r. The first lead_items of them (clamped to [0,
// num_items]) are launched first for every batch and head group; the rest follow, items
// fastest within each (batch, head group). slot < 0: the item is the whole row and writes
// out; otherwise it writes a partial result (row max, row sum, unnormalized output) into
// partial slot `slot` of num_slots, and `merges` holds num_merges records of 3 int32 {r,
// first_slot, slot_count} that combine a split row's consecutive slots into out.
struct SparseAttentionParams {
  DType dtype = DType::Float32;  // of q, k, v and out
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  int64_t batch = 0, heads = 0, nq = 0, nk = 0, head_dim = 0;
  int64_t q_strides[3] = {}, k_strides[3] = {}, v_strides[3] = {}, out_strides[3] = {};  // along B, N, H
  float scale = 1.f;
  int64_t mask_heads = 1;
  const int32_t* row_offsets = nullptr;  // [mask_heads * nq + 1]
  const int32_t* col_indices = nullptr;  // [nnz]
  int64_t nnz = 0;
  const int32_t* items = nullptr;
  int64_t num_items = 0, lead_items = 0;
  const int32_t* merges = nullptr;
  int64_t num_merges = 0, num_slots = 0;

  float* lse = nullptr;  // as AttentionParams' lse, or null
};

// The gradient of SparseAttentionParams' attention, as AttentionBackwardParams' (no bias):
// gradients flow only through the mask's entries. dK and dV are gathered per key column
// through the transposed mask (CSC), built once with the mask (SparsePlan):
// col_offsets [mask_heads * nk + 1]; for column c of mask head hm, entries
// col_offsets[hm * nk + c] .. col_offsets[hm * nk + c + 1] name the rows i in [0, nq)
// (row_indices, ascending) that hold c, and csr_index the position of that entry in col_indices.
struct SparseAttentionBackwardParams {
  SparseAttentionParams fwd;
  const int32_t* col_offsets = nullptr;
  const int32_t* row_indices = nullptr;
  const int32_t* csr_index = nullptr;
  const void* d_out = nullptr;
  int64_t d_out_strides[3] = {};
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
  int64_t dq_strides[3] = {}, dk_strides[3] = {}, dv_strides[3] = {};
};

}  // namespace nf

namespace nf {

// ---- optimizers (issue 25): one fused step over every parameter of a list ----

enum class OptimizerKind : int32_t { SGD = 0, AdamW = 1 };

// One parameter of a multi-tensor step: the parameter and its gradient (numel elements each,
// contiguous, of the step's dtype), its float32 state at `state_offset` elements into each of
// the step's state buffers, its group's lr and weight decay, and its step count including
// this step (1 on its first). Host memory, read before the backend call returns.
struct OptimizerTensor {
  void* param = nullptr;
  const void* grad = nullptr;
  int64_t numel = 0;
  int64_t state_offset = 0;
  double lr = 0, weight_decay = 0;
  int64_t step = 1;
};

// One step of torch.optim.SGD or torch.optim.AdamW (maximize off, foreach semantics) over a
// list of parameters, per element in float32 (core/optimizer.h holds the formulas, written
// once for both backends), with p the float32 weight and g the gradient:
//   SGD:   d = g + weight_decay * p;  with momentum: buf = d on a parameter's first step, else
//          momentum * buf + (1 - dampening) * d, then d = nesterov ? d + momentum * buf : buf;
//          p -= lr * d
//   AdamW: p *= 1 - lr * weight_decay;  m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
//          vmax = max(vmax, v) under amsgrad;
//          p -= lr / (1 - beta1^step) * m / (sqrt(amsgrad ? vmax : v) / sqrt(1 - beta2^step) + eps)
// Bias corrections are computed in double on the host, per parameter (its own step count).
// master: float32 weights, each parameter's at its state_offset; the step updates them and
// writes each rounded to the parameter's dtype in the same pass (mixed precision). Null: the
// parameter itself holds the weights (read to float32, written rounded once).
struct OptimizerStepParams {
  OptimizerKind kind = OptimizerKind::SGD;
  DType dtype = DType::Float32;  // of every parameter and gradient
  const OptimizerTensor* tensors = nullptr;
  int64_t count = 0;
  float* master = nullptr;
  float* state1 = nullptr;  // SGD: momentum buffers (null without momentum); AdamW: exp_avg
  float* state2 = nullptr;  // AdamW: exp_avg_sq
  float* state3 = nullptr;  // AdamW with amsgrad: max_exp_avg_sq; else null
  double momentum = 0, dampening = 0;
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool amsgrad = false;
};

// The loss scaler's unscale (torch's _amp_foreach_non_finite_check_and_unscale_): every
// gradient of the list becomes grad * inv_scale, in float32 rounded once to its dtype, and
// found_inf[0] is set to 1 when any gradient value read is inf or NaN (left as it was
// otherwise, so several calls share one flag).
struct UnscaleTensor {
  void* grad = nullptr;
  int64_t numel = 0;
};
struct UnscaleParams {
  DType dtype = DType::Float32;  // of every gradient
  const UnscaleTensor* tensors = nullptr;
  int64_t count = 0;
  float* found_inf = nullptr;
  float inv_scale = 1.f;
};

}  // namespace nf
