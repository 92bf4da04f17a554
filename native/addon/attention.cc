// The attention ops and their backward: arguments read with Args, calls checked and run by
// native/core's dispatch (AttentionCall, SparseAttentionCall, their backward calls and
// EncoderBlockCall in native/core/calls.h say what each takes); the plans they read come
// from plans.cc.

#include <vector>

#include "../core/dispatch.h"
#include "plans.h"
#include "module.h"
#include "wrapped.h"

namespace nf::addon {
namespace {

// precision at argument i (float32): an AttentionPrecision, 0 high (the default) or 1
// highest; undefined keeps the default.
AttentionPrecision read_precision(const Args& args, const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return AttentionPrecision::High;
  return static_cast<AttentionPrecision>(args.integer(i, "precision", 0, 1, "precision must be 0 (high) or 1 (highest)"));
}

// An attention's q, k, v and out views (after bind) into its call.
template <typename Call>
void view_qkv(const Args& args, Call& call, Args::Ref out, Args::Ref q, Args::Ref k, Args::Ref v) {
  call.out = args.view(out);
  call.q = args.view(q);
  call.k = args.view(k);
  call.v = args.view(v);
}

// A backward's gradient views and dO (after bind) into its call.
template <typename Call>
void view_grads(const Args& args, Call& call, Args::Ref dq, Args::Ref dk, Args::Ref dv, Args::Ref d_out) {
  call.dq = args.view(dq);
  call.dk = args.view(dk);
  call.dv = args.view(dv);
  call.d_out = args.view(d_out);
}

// rowRanges at argument i: an Int32Array (AttentionParams' row_ranges, checked at dispatch)
// into `ranges` and the call, or absent (undefined or null).
void read_ranges(const Napi::CallbackInfo& info, const char* op, size_t i, std::vector<int32_t>& ranges, AttentionCall& call) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return;
  ranges = int32_elements(info.Env(), op, info[i], "rowRanges");
  call.row_ranges = ranges.data();
  call.row_ranges_count = static_cast<int64_t>(ranges.size());
}

}  // namespace

// attention(out, q, k, v, mask|null, bias|null, scale, causal, plan?, precision?, lse?,
// rowRanges?): k and v may have fewer heads than q (H a multiple of theirs); rowRanges: an
// Int32Array of each query row's allowed keys [lo, hi) (AttentionParams' row_ranges). plan a
// BlockPlan on q's device (blockPlan()), or null: the layout it holds, if any, and its tile
// lists at the kernel's tiling, built on the first call that needs them. The kernels clamp
// every offset and index they read from the tile lists. precision: read_precision's. lse: a
// float32 [B, H, Nq] tensor that receives the rows' log-sum-exp (for the backward), or absent.
Napi::Value Addon::Attention(const Napi::CallbackInfo& info) {
  Args args(info, "attention", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), q = args.tensor(1, "q", Access::Whole),
             k = args.tensor(2, "k", Access::Whole), v = args.tensor(3, "v", Access::Whole);
  const auto mask = args.optional_tensor(4, "mask"), bias = args.optional_tensor(5, "bias");
  const auto lse = args.optional_tensor(10, "lse", Access::Whole);
  AttentionCall call;
  call.scale = static_cast<float>(args.number(6, "scale"));
  call.causal = args.flag(7);
  BlockPlanObject* plan = args.block_plan(8, "q");
  call.precision = read_precision(args, info, 9);
  std::vector<int32_t> ranges;
  read_ranges(info, "attention", 11, ranges, call);
  Backend& backend = args.bind();
  view_qkv(args, call, out, q, k, v);
  call.mask = args.maybe(mask);
  call.bias = args.maybe(bias);
  call.lse = args.maybe(lse);
  call.plan = args.block_plan();
  args.run([&] { dispatch::attention(backend, call); });
  if (plan != nullptr) plan->account(info.Env());  // a tiling built now
  return info.Env().Undefined();
}

// sparseAttention(out, q, k, v, plan, scale, lse?): q, k, v, out and lse as attention(); plan a
// SparsePlan on their device, for Nq rows and 1 or H mask heads.
Napi::Value Addon::SparseAttention(const Napi::CallbackInfo& info) {
  Args args(info, "sparseAttention", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), q = args.tensor(1, "q", Access::Whole),
             k = args.tensor(2, "k", Access::Whole), v = args.tensor(3, "v", Access::Whole);
  const auto lse = args.optional_tensor(6, "lse", Access::Whole);
  args.plan(4, "q");
  SparseAttentionCall call;
  call.scale = static_cast<float>(args.number(5, "scale"));
  Backend& backend = args.bind();
  view_qkv(args, call, out, q, k, v);
  call.lse = args.maybe(lse);
  call.plan = args.sparse_plan();
  args.run([&] { dispatch::sparse_attention(backend, call); });
  return info.Env().Undefined();
}

// attentionBackward(dq, dk, dv, dbias|null, dout, q, k, v, out, lse, mask|null, bias|null, scale,
// causal, plan?, precision?, rowRanges?): the gradients of attention(out, q, k, v, mask, bias,
// scale, causal, plan, precision, lse, rowRanges), with out and lse as that call wrote them, as
// AttentionBackwardParams (native/core/ops.h) says. dbias: float32 [B, H, Nq, Nk], or null.
Napi::Value Addon::AttentionBackward(const Napi::CallbackInfo& info) {
  Args args(info, "attentionBackward", layouts_);
  const auto dq = args.tensor(0, "dq", Access::Whole), dk = args.tensor(1, "dk", Access::Whole), dv = args.tensor(2, "dv", Access::Whole);
  const auto d_bias = args.optional_tensor(3, "dbias", Access::Whole), d_out = args.tensor(4, "dout");
  const auto q = args.tensor(5, "q", Access::Whole), k = args.tensor(6, "k", Access::Whole), v = args.tensor(7, "v", Access::Whole);
  const auto out = args.tensor(8, "out", Access::Whole), lse = args.tensor(9, "lse", Access::Whole);
  const auto mask = args.optional_tensor(10, "mask"), bias = args.optional_tensor(11, "bias");
  AttentionBackwardCall call;
  AttentionCall& f = call.fwd;
  f.scale = static_cast<float>(args.number(12, "scale"));
  f.causal = args.flag(13);
  BlockPlanObject* plan = args.block_plan(14, "q");
  f.precision = read_precision(args, info, 15);
  std::vector<int32_t> ranges;
  read_ranges(info, "attentionBackward", 16, ranges, f);
  Backend& backend = args.bind();
  view_grads(args, call, dq, dk, dv, d_out);
  call.d_bias = args.maybe(d_bias);
  view_qkv(args, f, out, q, k, v);
  f.lse = &args.view(lse);
  f.mask = args.maybe(mask);
  f.bias = args.maybe(bias);
  f.plan = args.block_plan();
  args.run([&] { dispatch::attention_backward(backend, call); });
  if (plan != nullptr) plan->account(info.Env());  // a tiling built now
  return info.Env().Undefined();
}

// sparseAttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, plan, scale): the gradients of
// sparseAttention(out, q, k, v, plan, scale, lse) (SparseAttentionBackwardParams), dK and dV
// through the plan's transposed mask.
Napi::Value Addon::SparseAttentionBackward(const Napi::CallbackInfo& info) {
  Args args(info, "sparseAttentionBackward", layouts_);
  const auto dq = args.tensor(0, "dq", Access::Whole), dk = args.tensor(1, "dk", Access::Whole), dv = args.tensor(2, "dv", Access::Whole);
  const auto d_out = args.tensor(3, "dout");
  const auto q = args.tensor(4, "q", Access::Whole), k = args.tensor(5, "k", Access::Whole), v = args.tensor(6, "v", Access::Whole);
  const auto out = args.tensor(7, "out", Access::Whole), lse = args.tensor(8, "lse", Access::Whole);
  args.plan(9, "q");
  SparseAttentionBackwardCall call;
  SparseAttentionCall& f = call.fwd;
  f.scale = static_cast<float>(args.number(10, "scale"));
  Backend& backend = args.bind();
  view_grads(args, call, dq, dk, dv, d_out);
  view_qkv(args, f, out, q, k, v);
  f.lse = &args.view(lse);
  f.plan = args.sparse_plan();
  args.run([&] { dispatch::sparse_attention_backward(backend, call); });
  return info.Env().Undefined();
}

// encoderBlock(out, x, norm1W, norm1B, qkvW, qkvB|null, projW, projB|null, norm2W, norm2B, fc1W,
//              fc1B|null, fc2W, fc2B|null, heads, eps1, eps2, activation, param, param2, scale,
//              plan|null)
// One pre-norm encoder block without layer scale (native/core/encoder_block.h says what it
// computes); attention memory_efficient's kernel (dense, unmasked) or, given a SparsePlan,
// the sparse CSR kernel.
Napi::Value Addon::EncoderBlock(const Napi::CallbackInfo& info) {
  Args args(info, "encoderBlock", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x");
  const auto norm1_w = args.optional_tensor(2, "norm1 weight"), norm1_b = args.optional_tensor(3, "norm1 bias");
  const auto qkv_w = args.tensor(4, "qkv weight"), qkv_b = args.optional_tensor(5, "qkv bias");
  const auto proj_w = args.tensor(6, "proj weight"), proj_b = args.optional_tensor(7, "proj bias");
  const auto norm2_w = args.optional_tensor(8, "norm2 weight"), norm2_b = args.optional_tensor(9, "norm2 bias");
  const auto fc1_w = args.tensor(10, "fc1 weight"), fc1_b = args.optional_tensor(11, "fc1 bias");
  const auto fc2_w = args.tensor(12, "fc2 weight"), fc2_b = args.optional_tensor(13, "fc2 bias");
  EncoderBlockCall call;
  call.heads = args.integer(14, "heads", 1, kMaxIndex, "heads must be a positive integer of at most C");
  call.eps1 = static_cast<float>(args.number(15, "eps1"));
  call.eps2 = static_cast<float>(args.number(16, "eps2"));
  call.activation = args.activation(17);
  call.scale = static_cast<float>(args.number(20, "scale"));
  if (args.given(21)) args.plan(21, "x");
  args.bind();
  call.out = args.view(out);
  call.x = args.view(x);
  call.qkv_weight = args.view(qkv_w);
  call.proj_weight = args.view(proj_w);
  call.fc1_weight = args.view(fc1_w);
  call.fc2_weight = args.view(fc2_w);
  call.norm1_weight = args.maybe(norm1_w);
  call.norm1_bias = args.maybe(norm1_b);
  call.qkv_bias = args.maybe(qkv_b);
  call.proj_bias = args.maybe(proj_b);
  call.norm2_weight = args.maybe(norm2_w);
  call.norm2_bias = args.maybe(norm2_b);
  call.fc1_bias = args.maybe(fc1_b);
  call.fc2_bias = args.maybe(fc2_b);
  call.plan = args.sparse_plan();
  args.run([&] { dispatch::encoder_block(args.backend_ptr(), call); });
  return info.Env().Undefined();
}

}  // namespace nf::addon
