// The attention ops and the SparsePlan object: arguments read with Args, calls checked and
// run by native/core's dispatch (AttentionCall, SparsePlanCall, SparseAttentionCall and
// EncoderBlockCall in native/core/calls.h say what each takes).
#include <cmath>

#include "../core/dispatch.h"
#include "handles.h"
#include "module.h"
#include "wrapped.h"

namespace nf::addon {

Napi::Function SparsePlanObject::Define(Napi::Env env) { return DefineClass(env, kName, {}); }

SparsePlanObject::SparsePlanObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SparsePlanObject>(info) {
  tag_instance<SparsePlanObject>(info);
}

// attention(out, q, k, v, mask|null, bias|null, scale, causal, blockSparse?): blockSparse is
// { layout: uint8 [LH, rows, cols] | null, block, tileOffsets: int32 | null, tileCols: int32 |
// null, tileM, tileN }. The kernels clamp every offset and index they read from the tile
// lists, so forged contents cannot make them read outside q, k, v or the lists.
Napi::Value Addon::Attention(const Napi::CallbackInfo& info) {
  Args args(info, "attention", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), q = args.tensor(1, "q", Access::Whole),
             k = args.tensor(2, "k", Access::Whole), v = args.tensor(3, "v", Access::Whole);
  const auto mask = args.optional_tensor(4, "mask"), bias = args.optional_tensor(5, "bias");
  AttentionCall call;
  call.scale = static_cast<float>(args.number(6, "scale"));
  call.causal = args.flag(7);
  BlockSparseCall sparse;
  Args::Ref layout, offsets, cols;
  const bool block_sparse = info.Length() > 8 && info[8].IsObject();
  if (block_sparse) {
    const Napi::Object o = info[8].As<Napi::Object>();
    auto integer = [&](const char* name) {
      const Napi::Value value = args.field(o, name);
      if (!value.IsNumber()) args.fail(std::string("block-sparse ") + name + " must be a number");
      const double d = value.As<Napi::Number>().DoubleValue();
      if (!(d >= 0 && d == std::floor(d) && d < 2147483648.0)) args.fail(std::string("block-sparse ") + name + " must be a non-negative integer");
      return static_cast<int64_t>(d);
    };
    layout = args.optional_field(o, "layout");
    if (layout.present()) sparse.block = integer("block");
    offsets = args.optional_field(o, "tileOffsets");
    if (offsets.present()) {
      cols = args.optional_field(o, "tileCols");
      if (!cols.present()) args.fail("tileCols must be a Tensor");
      sparse.tile_m = integer("tileM");
      sparse.tile_n = integer("tileN");
    }
  }
  Backend& backend = args.bind();
  call.out = args.view(out);
  call.q = args.view(q);
  call.k = args.view(k);
  call.v = args.view(v);
  call.mask = args.maybe(mask);
  call.bias = args.maybe(bias);
  if (block_sparse) {
    sparse.layout = args.maybe(layout);
    sparse.tile_offsets = args.maybe(offsets);
    sparse.tile_cols = args.maybe(cols);
    call.block_sparse = &sparse;
  }
  args.run([&] { dispatch::attention(backend, call); });
  return info.Env().Undefined();
}

// sparsePlan(rowOffsets, colIndices, maskHeads, items, merges, slots, leadItems?) -> SparsePlan:
// a CSR mask and its schedule as SparseAttentionParams says, each an int32 contiguous 1-D
// tensor on one device (items and merges may be empty); maskHeads 1 or H, leadItems (default
// 0) at most the number of items. Checked here, once, for every later call.
Napi::Value Addon::SparsePlanNew(const Napi::CallbackInfo& info) {
  Args args(info, "sparsePlan", layouts_);
  const Args::Ref refs[4] = {args.tensor(0, "rowOffsets"), args.tensor(1, "colIndices"), args.tensor(3, "items"), args.tensor(4, "merges")};
  SparsePlanCall call;
  call.mask_heads = args.integer(2, "maskHeads", 1, 2147483647.0, "maskHeads must be a positive integer");
  call.slots = args.integer(5, "slots", 0, 2147483647.0, "slots must be a non-negative integer");
  if (info.Length() > 6 && !info[6].IsUndefined()) {
    call.lead_items = args.integer(6, "leadItems", 0, kMaxIndex, "leadItems must be an integer from 0 to the number of items");
  }
  args.bind();
  call.row_offsets = args.view(refs[0]);
  call.col_indices = args.view(refs[1]);
  call.items = args.view(refs[2]);
  call.merges = args.view(refs[3]);
  const SparsePlan plan = args.run([&] { return dispatch::sparse_plan(call); });
  Napi::Object obj = sparse_plan_ctor_.New({});
  SparsePlanObject* object = SparsePlanObject::Unwrap(obj);
  for (int i = 0; i < 4; ++i) object->buffers[i] = args.buffer(refs[i]);
  object->plan = plan;
  return obj;
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

// attentionTileShape(device, dtype, headDim) -> [tileM, tileN] of the kernel serving them
// there ([0, 0] on the CPU, which needs no tile lists).
Napi::Value Addon::AttentionTileShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "attentionTileShape";
  auto backend = backend_for(env, parse_device(env, info[0], op), op);
  DType dtype = DType::Float32;
  char dtype_buf[kShortString];
  if (!(info.Length() > 1 && dtype_from_name(short_string(env, info[1], dtype_buf), &dtype) && is_float(dtype))) {
    throw_arg(env, op, "dtype must be a float dtype name");
  }
  const double head_dim = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : NAN;
  if (!info[2].IsNumber()) throw_arg(env, op, "headDim must be a number");
  if (!(head_dim >= 1 && head_dim <= 256 && head_dim == std::floor(head_dim))) throw_arg(env, op, "headDim must be an integer in [1, 256]");
  int64_t tm = 0, tn = 0;
  guarded(env, op, [&] { backend->attention_tile_shape(dtype, static_cast<int64_t>(head_dim), &tm, &tn); });
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, static_cast<double>(tm));
  a.Set(1u, static_cast<double>(tn));
  return a;
}

}  // namespace nf::addon
