// sparsePlan(), blockPlan() and the members of the objects they make (plans.h). Arguments
// are read in two phases, as Args does: every JS value first (an options object's getters may
// run JavaScript, even detach an array read before), then the typed arrays' elements, copied
// out before they are checked, so that nothing checked can change under the check.
#include "plans.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../core/dtype.h"
#include "args.h"
#include "module.h"

namespace nf::addon {
namespace {

// The elements of a typed array of `type` (phase 2), copied out.
template <typename T>
std::vector<T> typed_array(Napi::Env env, const char* op, const Napi::Value& v, const char* name, napi_typedarray_type type) {
  const char* kind = type == napi_int32_array ? "an Int32Array" : "a Uint8Array";
  napi_typedarray_type got = napi_int8_array;
  size_t length = 0, byte_offset = 0;
  void* data = nullptr;
  napi_value arraybuffer = nullptr;
  if (!v.IsTypedArray() || napi_get_typedarray_info(env, v, &got, &length, &data, &arraybuffer, &byte_offset) != napi_ok || got != type) {
    throw_arg(env, op, std::string(name) + " must be " + kind);
  }
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, arraybuffer, &detached) != napi_ok || detached || (length > 0 && data == nullptr)) {
    throw_arg(env, op, std::string(name) + "'s buffer has been detached");
  }
  const T* from = static_cast<const T*>(data);
  return std::vector<T>(from, from + length);
}

// A non-negative integer of at most 2^53 (phase 2: a value read in phase 1).
int64_t count_value(Napi::Env env, const char* op, const Napi::Value& v, const char* name) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= 0 && d <= kMaxIndex && d == std::floor(d))) throw_arg(env, op, std::string(name) + " must be a non-negative integer");
  return static_cast<int64_t>(d);
}

Napi::Int32Array int32_array(Napi::Env env, const int32_t* device_data, int64_t count, Backend& backend) {
  Napi::Int32Array a = Napi::Int32Array::New(env, static_cast<size_t>(count));
  if (count > 0) backend.copy_to_host(a.Data(), device_data, static_cast<size_t>(count) * sizeof(int32_t));
  return a;
}

// A BlockPlan's Nq and Nk from arguments i and i + 1, or its mask's when both are absent.
std::pair<int64_t, int64_t> plan_sizes(const BlockPlan& plan, const Napi::CallbackInfo& info, size_t i, const char* member) {
  if (info[i].IsUndefined() && plan.mask() != nullptr) return {plan.mask()->nq(), plan.mask()->nk()};
  if (info[i].IsUndefined()) throw_arg(info.Env(), member, "nq and nk must be given for a layout's plan");
  return {count_value(info.Env(), member, info[i], "nq"), count_value(info.Env(), member, info[i + 1], "nk")};
}

// A BlockPlan's lists at [tile_m, tile_n] for nq x nk (built now if new), and their figures
// { tileM, tileN, tiles, area } as a JS object.
std::pair<const DeviceTiles*, Napi::Object> tiling(Napi::Env env, BlockPlan& plan, int64_t tile_m, int64_t tile_n, int64_t nq, int64_t nk) {
  const DeviceTiles& t = plan.tiles(tile_m, tile_n, nq, nk);
  Napi::Object o = Napi::Object::New(env);
  o.Set("tileM", static_cast<double>(tile_m));
  o.Set("tileN", static_cast<double>(tile_n));
  o.Set("tiles", static_cast<double>(t.cols_count));
  o.Set("area", t.area);
  return {&t, o};
}

}  // namespace

std::vector<int32_t> int32_elements(Napi::Env env, const char* op, const Napi::Value& v, const char* name) {
  return typed_array<int32_t>(env, op, v, name, napi_int32_array);
}

// ---- SparsePlan ---------------------------------------------------------------------------------

template <>
Napi::Value SparsePlanObject::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SparsePlan& v = live(env, "SparsePlan.stats").view();
  Napi::Object o = Napi::Object::New(env);
  const std::pair<const char*, int64_t> fields[] = {{"maskHeads", v.mask_heads}, {"nq", v.rows},           {"nk", plan_->nk()},
                                                    {"nnz", v.nnz},              {"items", v.num_items},   {"leadItems", v.lead_items},
                                                    {"merges", v.num_merges},    {"slots", v.num_slots}};
  for (const auto& [name, value] : fields) o.Set(name, static_cast<double>(value));
  return o;
}

template <>
Napi::Value SparsePlanObject::Describe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "SparsePlan.describe";
  CsrPlan& plan = live(env, op);
  Napi::Object o = Stats(info).As<Napi::Object>();
  const SparsePlan& v = plan.view();
  guarded(env, op, [&] {
    o.Set("rowOffsets", int32_array(env, v.row_offsets, v.mask_heads * v.rows + 1, plan.backend()));
    o.Set("colIndices", int32_array(env, v.col_indices, v.nnz, plan.backend()));
    o.Set("items", int32_array(env, v.items, 4 * v.num_items, plan.backend()));
    o.Set("merges", int32_array(env, v.merges, 3 * v.num_merges, plan.backend()));
    const bool transposed = v.col_offsets != nullptr;  // not for a mask too wide (sparse_plan.h)
    o.Set("colOffsets", int32_array(env, v.col_offsets, transposed ? v.mask_heads * plan.nk() + 1 : 0, plan.backend()));
    o.Set("rowIndices", int32_array(env, v.row_indices, transposed ? v.nnz : 0, plan.backend()));
    o.Set("csrIndex", int32_array(env, v.csr_index, transposed ? v.nnz : 0, plan.backend()));
  });
  return o;
}

// ---- BlockPlan ----------------------------------------------------------------------------------

template <>
Napi::Value BlockPlanObject::Stats(const Napi::CallbackInfo& info) {
  const char* op = "BlockPlan.stats";
  Napi::Env env = info.Env();
  BlockPlan& plan = live(env, op);
  DType dtype = DType::Float32;
  char dtype_buf[kShortString];
  if (!dtype_from_name(short_string(env, info[0], dtype_buf), &dtype) || !is_float(dtype)) throw_arg(env, op, "dtype must be a float dtype name");
  const int64_t head_dim = count_value(env, op, info[1], "headDim");
  if (head_dim < 1 || head_dim > kInt32Max) throw_arg(env, op, "headDim must be an integer from 1 to 2^31 - 1");
  const auto [nq, nk] = plan_sizes(plan, info, 2, op);
  Napi::Value result = guarded(env, op, [&]() -> Napi::Value {
    int64_t tile_m = 0, tile_n = 0;
    plan.backend().attention_tile_shape(dtype, head_dim, &tile_m, &tile_n);
    if (tile_m <= 0 || tile_n <= 0) return env.Null();
    return tiling(env, plan, tile_m, tile_n, nq, nk).second;
  });
  account(env);
  return result;
}

template <>
Napi::Value BlockPlanObject::Describe(const Napi::CallbackInfo& info) {
  const char* op = "BlockPlan.describe";
  BlockPlan& plan = live(info.Env(), op);
  const auto [nq, nk] = plan_sizes(plan, info, 2, op);
  Napi::Env env = info.Env();
  const int64_t tile_m = count_value(env, op, info[0], "tileM"), tile_n = count_value(env, op, info[1], "tileN");
  Napi::Object o = guarded(env, op, [&] {
    const auto [t, lists] = tiling(env, plan, tile_m, tile_n, nq, nk);
    lists.Set("heads", static_cast<double>(plan.heads()));
    lists.Set("offsets", int32_array(env, t->memory.at(0), t->offsets_count, plan.backend()));
    lists.Set("cols", int32_array(env, t->memory.at(1), t->cols_count, plan.backend()));
    return lists;
  });
  account(env);
  return o;
}

// ---- the classes ---------------------------------------------------------------------------------

template <typename Plan>
Napi::Function PlanObject<Plan>::Define(Napi::Env env) {
  // Here, where the private members can be named; static, so their addresses stay valid.
  static const Member<PlanObject> members[] = {
      {"dispose", &PlanObject::Dispose}, {"disposed", &PlanObject::Disposed}, {"bytes", &PlanObject::Bytes},
      {"stats", &PlanObject::Stats},     {"describe", &PlanObject::Describe}};
  Napi::Function ctor = PlanObject::DefineClass(env, kName, {checked_getter(members[1]), checked_getter(members[2])});
  for (const int i : {0, 3, 4}) add_checked_method(env, ctor, members[i]);
  return ctor;
}

template class PlanObject<CsrPlan>;
template class PlanObject<BlockPlan>;

// ---- the constructors ---------------------------------------------------------------------------

// sparsePlan(device, rowOffsets: Int32Array, colIndices: Int32Array, maskHeads, nq, nk[, segment])
// -> SparsePlan: the CSR mask checked in full (offsets from 0 to nnz, never decreasing; columns
// in [0, nk), ascending in each row), its schedule built with rows split at `segment` entries
// (default kSparseSegment), both uploaded to the device.
Napi::Value Addon::SparsePlanNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "sparsePlan";
  auto backend = backend_for(env, parse_device(env, info[0], op), op);
  const int64_t heads = count_value(env, op, info[3], "maskHeads");
  const int64_t nq = count_value(env, op, info[4], "nq"), nk = count_value(env, op, info[5], "nk");
  const int64_t segment = info[6].IsUndefined() ? kSparseSegment : count_value(env, op, info[6], "segment");
  const std::vector<int32_t> offsets = typed_array<int32_t>(env, op, info[1], "rowOffsets", napi_int32_array);
  const std::vector<int32_t> cols = typed_array<int32_t>(env, op, info[2], "colIndices", napi_int32_array);
  auto plan = guarded(env, op, [&] { return std::make_shared<CsrPlan>(backend, CsrMask::of(offsets, cols, heads, nq, nk), segment); });
  Napi::Object obj = sparse_plan_ctor_.New({});
  SparsePlanObject::Unwrap(obj)->Init(env, std::move(plan));
  return obj;
}

// blockPlan(device, source) -> BlockPlan. source: a SparsePlan on `device` (the tile lists of
// its mask, for mechanism 'sparse''s block path), or { layout: Uint8Array [heads, rows, cols]
// (nonzero = on), heads, rows, cols, block } (mechanism 'block_sparse').
Napi::Value Addon::BlockPlanNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "blockPlan";
  auto backend = backend_for(env, parse_device(env, info[0], op), op);
  const Napi::Value source = info[1];
  std::shared_ptr<BlockPlan> plan;
  if (const SparsePlanObject* csr = unwrap_as<SparsePlanObject>(env, source)) {
    if (!csr->plan() || csr->plan()->released()) throw_arg(env, op, "the SparsePlan has been disposed");
    if (&csr->plan()->backend() != backend.get()) throw_arg(env, op, "the SparsePlan is on " + csr->plan()->backend().name() + ", not " + backend->name());
    plan = guarded(env, op, [&] { return std::make_shared<BlockPlan>(csr->plan()); });
  } else {
    if (!source.IsObject()) throw_arg(env, op, "source must be a SparsePlan or { layout, heads, rows, cols, block }");
    // Phase 1: every field (getters run here); phase 2: their values.
    const Napi::Object o = source.As<Napi::Object>();
    const Napi::Value fields[5] = {o.Get("layout"), o.Get("heads"), o.Get("rows"), o.Get("cols"), o.Get("block")};
    const std::vector<uint8_t> blocks = typed_array<uint8_t>(env, op, fields[0], "layout", napi_uint8_array);
    BlockLayout layout;
    layout.heads = count_value(env, op, fields[1], "heads");
    layout.rows = count_value(env, op, fields[2], "rows");
    layout.cols = count_value(env, op, fields[3], "cols");
    layout.block = count_value(env, op, fields[4], "block");
    layout.blocks = blocks.data();
    layout.count = static_cast<int64_t>(blocks.size());
    plan = guarded(env, op, [&] { return std::make_shared<BlockPlan>(backend, layout); });
  }
  Napi::Object obj = block_plan_ctor_.New({});
  BlockPlanObject::Unwrap(obj)->Init(env, std::move(plan));
  return obj;
}

}  // namespace nf::addon
