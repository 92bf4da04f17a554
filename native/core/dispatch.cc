// dispatch.h: check, lower, run.
#include "dispatch.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <vector>

#include "attention_plans.h"
#include "attention_ranges.h"
#include "contracts.h"
#include "encoder_block.h"
#include "error.h"

namespace nf::dispatch {
namespace {

bool empty(const TensorView& v) { return v.numel() == 0; }
const void* data_of(const TensorView* v) { return v != nullptr ? v->data : nullptr; }

// The fields an attention's q, k, v and out give AttentionParams and SparseAttentionParams alike.
template <typename Params>
void describe_qkv(Params& p, const TensorView& out, const TensorView& q, const TensorView& k, const TensorView& v, float scale) {
  p.dtype = q.dtype;
  p.q = q.data; p.k = k.data; p.v = v.data; p.out = out.data;
  p.batch = q.shape[0]; p.nq = q.shape[1]; p.heads = q.shape[2]; p.head_dim = q.shape[3]; p.nk = k.shape[1];
  for (int d = 0; d < 3; ++d) {
    p.q_strides[d] = q.strides[d]; p.k_strides[d] = k.strides[d]; p.v_strides[d] = v.strides[d]; p.out_strides[d] = out.strides[d];
  }
  p.scale = scale;
}

// An op whose params are its views: checked, then run unless its output is empty.
template <typename Params>
void run_checked(Backend& backend, const Params& p, void (Backend::*op)(const Params&)) {
  check(p);
  if (!empty(p.out)) (backend.*op)(p);
}

}  // namespace

void copy(Backend& backend, const TensorView& dst, const TensorView& src) {
  check_copy(dst, src);
  if (!empty(dst)) backend.copy(dst, src);
}

bool copy_peer(Backend& to, const TensorView& dst, Backend& from, const TensorView& src) {
  check_copy_peer(dst, src);
  if (&to == &from) throw Error(ErrorCode::InvalidArg, "dst and src are on one device (use copy)");
  return to.copy_from_peer(dst.data, from, src.data, static_cast<size_t>(src.numel()) * dtype_size(src.dtype));
}

void fill(Backend& backend, const TensorView& dst, double value) {
  check_fill(dst);
  if (!empty(dst)) backend.fill(dst, value);
}

void gemm(Backend& backend, const GemmCall& c) {
  check(c);
  if (empty(c.c)) return;
  GemmParams p;
  p.dtype = c.a.dtype;
  p.trans_a = c.trans_a;
  p.trans_b = c.trans_b;
  p.batch = c.c.shape[0];
  p.m = c.c.shape[1];
  p.n = c.c.shape[2];
  p.k = c.trans_a ? c.a.shape[1] : c.a.shape[2];
  p.a = c.a.data;
  p.b = c.b.data;
  p.c = c.c.data;
  p.lda = c.a.strides[1];
  p.ldb = c.b.strides[1];
  p.ldc = c.c.strides[1];
  p.batch_stride_a = c.a.shape[0] == 1 ? 0 : c.a.strides[0];
  p.batch_stride_b = c.b.shape[0] == 1 ? 0 : c.b.strides[0];
  p.batch_stride_c = c.c.strides[0];
  p.bias = data_of(c.bias);
  p.residual = data_of(c.residual);
  p.alpha = c.alpha;
  p.activation = c.activation;
  p.allow_tf32 = c.allow_tf32;
  backend.gemm(p);
}

void norm(Backend& backend, const NormCall& c) {
  check(c);
  if (empty(c.out)) return;
  NormParams p;
  p.out = c.out;
  p.x = c.x;
  p.weight = data_of(c.weight);
  p.bias = data_of(c.bias);
  p.eps = c.eps;
  p.rms = c.rms;
  backend.norm(p);
}

void softmax(Backend& backend, const SoftmaxParams& p) { run_checked(backend, p, &Backend::softmax); }

void bias_activation(Backend& backend, const BiasActivationCall& c) {
  check(c);
  if (empty(c.out)) return;
  BiasActivationParams p;
  p.out = c.out;
  p.x = c.x;
  p.bias = data_of(c.bias);
  p.activation = c.activation;
  backend.bias_activation(p);
}

void binary(Backend& backend, const BinaryParams& p) { run_checked(backend, p, &Backend::binary); }
void mean(Backend& backend, const MeanParams& p) { run_checked(backend, p, &Backend::mean); }
void patch_gather(Backend& backend, const PatchGatherParams& p) { run_checked(backend, p, &Backend::patch_gather); }

namespace {

// AttentionCall's views lowered into `p` (its plan's layout and tile lists included).
void lower_attention(Backend& backend, const AttentionCall& c, AttentionParams& p) {
  describe_qkv(p, c.out, c.q, c.k, c.v, c.scale);
  p.causal = c.causal;
  p.precision = c.precision;
  if (c.mask != nullptr) {
    p.mask = static_cast<const uint8_t*>(c.mask->data);
    for (int d = 0; d < 4; ++d) p.mask_strides[d] = c.mask->strides[d];
  }
  if (c.bias != nullptr) {
    p.bias = c.bias->data;
    p.bias_dtype = c.bias->dtype;
    for (int d = 0; d < 4; ++d) p.bias_strides[d] = c.bias->strides[d];
  }
  if (c.lse != nullptr) p.lse = static_cast<float*>(c.lse->data);
  if (c.plan != nullptr) c.plan->lower(backend, p);
  p.kv_heads = c.k.shape[2];
}

void lower_sparse_attention(const SparseAttentionCall& c, SparseAttentionParams& p) {
  describe_qkv(p, c.out, c.q, c.k, c.v, c.scale);
  c.plan->describe(p);
  if (c.lse != nullptr) p.lse = static_cast<float*>(c.lse->data);
}

// The gradient views of an attention's backward into `p`'s fields.
template <typename Params>
void describe_grads(Params& p, const TensorView& d_out, const TensorView& dq, const TensorView& dk, const TensorView& dv) {
  p.d_out = d_out.data;
  p.dq = dq.data; p.dk = dk.data; p.dv = dv.data;
  for (int d = 0; d < 3; ++d) {
    p.d_out_strides[d] = d_out.strides[d];
    p.dq_strides[d] = dq.strides[d]; p.dk_strides[d] = dk.strides[d]; p.dv_strides[d] = dv.strides[d];
  }
}

// True (after writing zeros into every gradient given) when the attention scores nothing:
// B, H, Nq, Nk or D of 0. Its gradients are then sums of nothing, and lse is never read.
bool backward_of_nothing(Backend& backend, const TensorView& q, const TensorView& k, std::initializer_list<const TensorView*> grads) {
  if (!empty(q) && !empty(k)) return false;
  for (const TensorView* g : grads) {
    if (g != nullptr && !empty(*g)) backend.fill(*g, 0.0);
  }
  return true;
}

}  // namespace

void attention(Backend& backend, const AttentionCall& c) {
  check(c);
  if (empty(c.out)) return;  // B, Nq, H or D of 0: nothing to compute, however large the rest (lse unwritten)
  AttentionParams p;
  lower_attention(backend, c, p);
  std::optional<DeviceInts> rows;
  if (c.row_ranges != nullptr) p.row_ranges = rows.emplace(backend, c.row_ranges, c.row_ranges_count).data();
  backend.attention(p);
}

void sparse_attention(Backend& backend, const SparseAttentionCall& c) {
  check(c);
  if (empty(c.out)) return;
  SparseAttentionParams p;
  lower_sparse_attention(c, p);
  backend.sparse_attention(p);
}

void attention_backward(Backend& backend, const AttentionBackwardCall& c) {
  check(c);
  if (backward_of_nothing(backend, c.fwd.q, c.fwd.k, {&c.dq, &c.dk, &c.dv, c.d_bias})) return;
  AttentionBackwardParams p;
  lower_attention(backend, c.fwd, p.fwd);
  describe_grads(p, c.d_out, c.dq, c.dk, c.dv);
  if (c.d_bias != nullptr) p.d_bias = static_cast<float*>(c.d_bias->data);
  std::optional<DeviceInts> rows, cols;
  if (c.fwd.row_ranges != nullptr) {
    const std::vector<int32_t> by_key = column_ranges(c.fwd.row_ranges, p.fwd.nq, p.fwd.nk);
    p.fwd.row_ranges = rows.emplace(backend, c.fwd.row_ranges, c.fwd.row_ranges_count).data();
    p.col_ranges = cols.emplace(backend, by_key.data(), static_cast<int64_t>(by_key.size())).data();
  }
  backend.attention_backward(p);
}

void sparse_attention_backward(Backend& backend, const SparseAttentionBackwardCall& c) {
  check(c);
  if (backward_of_nothing(backend, c.fwd.q, c.fwd.k, {&c.dq, &c.dk, &c.dv})) return;
  SparseAttentionBackwardParams p;
  lower_sparse_attention(c.fwd, p.fwd);
  c.fwd.plan->describe_transposed(p);
  describe_grads(p, c.d_out, c.dq, c.dk, c.dv);
  backend.sparse_attention_backward(p);
}

void norm_backward(Backend& backend, const NormBackwardCall& c) {
  check(c);
  // No rows: dx is empty and the parameter gradients are sums of nothing.
  if (empty(c.x)) {
    if (c.dweight != nullptr) backend.fill(*c.dweight, 0.0);
    if (c.dbias != nullptr) backend.fill(*c.dbias, 0.0);
    return;
  }
  NormBackwardParams p;
  p.dx = c.dx; p.dy = c.dy; p.x = c.x;
  p.weight = data_of(c.weight);
  p.dweight = c.dweight != nullptr ? c.dweight->data : nullptr;
  p.dbias = c.dbias != nullptr ? c.dbias->data : nullptr;
  p.eps = c.eps;
  p.rms = c.rms;
  backend.norm_backward(p);
}

void softmax_backward(Backend& backend, const SoftmaxBackwardParams& p) {
  check(p);
  if (!empty(p.dx)) backend.softmax_backward(p);
}

void activation_backward(Backend& backend, const ActivationBackwardCall& c) {
  check(c);
  if (empty(c.x)) {
    if (c.dbias != nullptr) backend.fill(*c.dbias, 0.0);
    return;
  }
  ActivationBackwardParams p;
  p.dx = c.dx; p.dy = c.dy; p.x = c.x;
  p.bias = data_of(c.bias);
  p.dbias = c.dbias != nullptr ? c.dbias->data : nullptr;
  p.activation = c.activation;
  backend.activation_backward(p);
}

void sum_rows(Backend& backend, const SumRowsParams& p) {
  check(p);
  if (empty(p.out)) return;
  if (empty(p.x)) backend.fill(p.out, 0.0);  // no rows: sums of nothing
  else backend.sum_rows(p);
}

void dropout(Backend& backend, const DropoutCall& c) {
  check(c);
  if (empty(c.out)) return;
  if (c.p >= 1.0) {  // every element dropped: nothing to draw
    backend.fill(c.out, 0.0);
    return;
  }
  DropoutParams p;
  p.out = c.out;
  p.x = c.x;
  p.seed = c.seed;
  p.offset = c.offset;
  p.group = c.group;
  p.threshold = static_cast<uint32_t>(std::min(std::floor(c.p * 4294967296.0), 4294967295.0));
  p.scale = static_cast<float>(1.0 / (1.0 - c.p));
  backend.dropout(p);
}

void philox(Backend& backend, const PhiloxParams& p) { run_checked(backend, p, &Backend::philox); }

// ---- the training kit (training_ops.h) ----
// cross_entropy runs for every row count: with none, its kernels still write the reduced
// loss (NaN for a mean of nothing, 0 for a sum) and stats.

void cross_entropy(Backend& backend, const CrossEntropyParams& p) {
  check(p);
  backend.cross_entropy(p);
}

void cross_entropy_backward(Backend& backend, const CrossEntropyBackwardParams& p) {
  check(p);
  if (!empty(p.dlogits)) backend.cross_entropy_backward(p);
}

void patch_scatter(Backend& backend, const PatchScatterParams& p) {
  check(p);
  if (!empty(p.images)) backend.patch_scatter(p);
}

namespace {
// The list ops see only tensors that have elements (an empty list: a norm of 0).
template <typename Params>
Params without_empty(const Params& p) {
  Params q = p;
  q.tensors.clear();
  for (const TensorView& t : p.tensors) if (!empty(t)) q.tensors.push_back(t);
  return q;
}
}  // namespace

void multi_norm(Backend& backend, const MultiNormParams& p) {
  check(p);
  backend.multi_norm(without_empty(p));
}

void multi_scale(Backend& backend, const MultiScaleParams& p) {
  check(p);
  const MultiScaleParams q = without_empty(p);
  if (!q.tensors.empty()) backend.multi_scale(q);
}

void encoder_block(const std::shared_ptr<Backend>& backend, const EncoderBlockCall& c) {
  check(c);
  if (empty(c.x)) return;
  EncoderBlockParams p;
  p.dtype = c.x.dtype;
  p.batch = c.x.shape[0]; p.tokens = c.x.shape[1]; p.dim = c.x.shape[2]; p.heads = c.heads; p.hidden = c.fc1_weight.shape[0];
  p.x = c.x.data; p.out = c.out.data;
  p.norm1_weight = data_of(c.norm1_weight); p.norm1_bias = data_of(c.norm1_bias);
  p.norm2_weight = data_of(c.norm2_weight); p.norm2_bias = data_of(c.norm2_bias);
  p.qkv_weight = c.qkv_weight.data; p.qkv_bias = data_of(c.qkv_bias);
  p.proj_weight = c.proj_weight.data; p.proj_bias = data_of(c.proj_bias);
  p.fc1_weight = c.fc1_weight.data; p.fc1_bias = data_of(c.fc1_bias);
  p.fc2_weight = c.fc2_weight.data; p.fc2_bias = data_of(c.fc2_bias);
  p.eps1 = c.eps1; p.eps2 = c.eps2; p.activation = c.activation; p.scale = c.scale;
  if (c.plan != nullptr) {
    c.plan->describe(p.sparse);
    p.use_sparse = true;
  }
  nf::encoder_block(backend, p);
}

// ---- optimizers (issue 25) ----

void optimizer_step(Backend& backend, const OptimizerStepCall& c) {
  check(c);
  OptimizerStepParams p = c.step;
  std::vector<OptimizerTensor> tensors;
  tensors.reserve(c.params.size());
  for (size_t i = 0; i < c.params.size(); ++i) {
    if (c.params[i].numel() == 0) continue;  // nothing to update
    OptimizerTensor t = c.entries[i];
    t.param = c.params[i].data;
    t.grad = c.grads[i].data;
    t.numel = c.params[i].numel();
    tensors.push_back(t);
  }
  if (tensors.empty()) return;
  p.dtype = c.params[0].dtype;
  p.tensors = tensors.data();
  p.count = static_cast<int64_t>(tensors.size());
  auto data = [](const TensorView* v) { return v != nullptr ? static_cast<float*>(v->data) : nullptr; };
  p.master = data(c.master);
  p.state1 = data(c.state1);
  p.state2 = data(c.state2);
  p.state3 = data(c.state3);
  backend.optimizer_step(p);
}

void unscale_grads(Backend& backend, const UnscaleCall& c) {
  check(c);
  std::vector<UnscaleTensor> tensors;
  tensors.reserve(c.grads.size());
  for (const TensorView& g : c.grads) {
    if (g.numel() > 0) tensors.push_back({g.data, g.numel()});
  }
  if (tensors.empty()) return;
  UnscaleParams p;
  p.dtype = c.grads[0].dtype;
  p.tensors = tensors.data();
  p.count = static_cast<int64_t>(tensors.size());
  p.found_inf = static_cast<float*>(c.found_inf.data);
  p.inv_scale = c.inv_scale;
  backend.unscale_grads(p);
}

}  // namespace nf::dispatch
