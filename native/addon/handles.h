// The JS object that owns a recorded CUDA graph (Storage and the plans have files of their own).
#pragma once
#include <napi.h>

#include <memory>

#include "../core/backend.h"
#include "../core/device.h"

namespace nf::addon {

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
