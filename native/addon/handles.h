// The JS objects that own native handles besides Storage: a SparsePlan (a CSR mask and its
// schedule, checked once) and a Graph (a recorded CUDA graph).
#pragma once
#include <napi.h>

#include <memory>

#include "../core/backend.h"
#include "../core/calls.h"
#include "../core/device.h"

namespace nf::addon {

// What sparseAttention reads of a SparseMask besides q, k and v: the plan (core's
// SparsePlan) and the int32 tensors it points into (row offsets, column indices, items,
// merges), held so that the plan outlives none of them; checked when made, so that each call
// reads one argument instead of four tensors.
class SparsePlanObject : public Napi::ObjectWrap<SparsePlanObject> {
 public:
  static constexpr const char* kName = "SparsePlan";
  static constexpr napi_type_tag kTag = {0x6e6f6465666f726dULL, 0x7370617273653031ULL};

  static Napi::Function Define(Napi::Env env);
  explicit SparsePlanObject(const Napi::CallbackInfo& info);

  std::shared_ptr<Buffer> buffers[4];
  SparsePlan plan;
};

// An instantiated graph owned by a JS object: launch(), dispose(), disposed.
class GraphObject : public Napi::ObjectWrap<GraphObject> {
 public:
  static constexpr const char* kName = "Graph";
  static constexpr napi_type_tag kTag = {0x6e6f6465666f726dULL, 0x6772617068303031ULL};

  static Napi::Function Define(Napi::Env env);
  explicit GraphObject(const Napi::CallbackInfo& info);
  void Init(std::unique_ptr<Graph> graph) { graph_ = std::move(graph); }

 private:
  Napi::Value Launch(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);

  std::unique_ptr<Graph> graph_;
};

}  // namespace nf::addon
