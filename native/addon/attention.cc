// The attention ops: arguments read with Args, calls checked and run by native/core's
// dispatch (AttentionCall, SparseAttentionCall and EncoderBlockCall in native/core/calls.h
// say what each takes); the plans they read come from plans.cc.

#include "../core/dispatch.h"
#include "plans.h"
#include "module.h"
#include "wrapped.h"

namespace nf::addon {

// attention(out, q, k, v, mask|null, bias|null, scale, causal, plan?, precision?): plan a
// BlockPlan on q's device (blockPlan()), or null: the layout it holds, if any, and its tile
// lists at the kernel's tiling, built on the first call that needs them. The kernels clamp
// every offset and index they read from the tile lists. precision (float32): an
// AttentionPrecision, 0 high (the default) or 1 highest; undefined keeps the default.
Napi::Value Addon::Attention(const Napi::CallbackInfo& info) {
  Args args(info, "attention", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), q = args.tensor(1, "q", Access::Whole),
             k = args.tensor(2, "k", Access::Whole), v = args.tensor(3, "v", Access::Whole);
  const auto mask = args.optional_tensor(4, "mask"), bias = args.optional_tensor(5, "bias");
  AttentionCall call;
  call.scale = static_cast<float>(args.number(6, "scale"));
  call.causal = args.flag(7);
  BlockPlanObject* plan = args.block_plan(8, "q");
  if (info.Length() > 9 && !info[9].IsUndefined()) {
    call.precision = static_cast<AttentionPrecision>(args.integer(9, "precision", 0, 1, "precision must be 0 (high) or 1 (highest)"));
  }
  Backend& backend = args.bind();
  call.out = args.view(out);
  call.q = args.view(q);
  call.k = args.view(k);
  call.v = args.view(v);
  call.mask = args.maybe(mask);
  call.bias = args.maybe(bias);
  call.plan = args.block_plan();
  args.run([&] { dispatch::attention(backend, call); });
  if (plan != nullptr) plan->account(info.Env());  // a tiling built now
  return info.Env().Undefined();
}

// sparseAttention(out, q, k, v, plan, scale): q, k, v, out as attention(); plan a SparsePlan
// on their device, for Nq rows and 1 or H mask heads.
Napi::Value Addon::SparseAttention(const Napi::CallbackInfo& info) {
  Args args(info, "sparseAttention", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), q = args.tensor(1, "q", Access::Whole),
             k = args.tensor(2, "k", Access::Whole), v = args.tensor(3, "v", Access::Whole);
  args.plan(4, "q");
  SparseAttentionCall call;
  call.scale = static_cast<float>(args.number(5, "scale"));
  Backend& backend = args.bind();
  call.out = args.view(out);
  call.q = args.view(q);
  call.k = args.view(k);
  call.v = args.view(v);
  call.plan = args.sparse_plan();
  args.run([&] { dispatch::sparse_attention(backend, call); });
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
