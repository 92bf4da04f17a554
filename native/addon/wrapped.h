// The JS classes the addon defines (Storage, SparsePlan, Graph): every instance is type-tagged
// when made, and every method and accessor checks its receiver's tag before it touches the
// native object, so that `Storage.prototype.bytes` called on another object is a TypeError
// (code ERR_INVALID_ARG) naming the member, never a member call on the wrong type.
#pragma once
#include <napi.h>

#include <string>

#include "errors.h"

namespace nf::addon {

// A method or getter of T: its property name and its implementation. Kept in a static
// table of T's, whose address travels as the property's data.
template <typename T>
struct Member {
  const char* property;
  Napi::Value (T::*fn)(const Napi::CallbackInfo&);
};

// The T that `v` wraps, or null (another class's object, a plain object, a primitive).
template <typename T>
T* unwrap_as(napi_env env, napi_value v) {
  napi_valuetype type = napi_undefined;
  bool tagged = false;
  void* native = nullptr;
  if (napi_typeof(env, v, &type) != napi_ok || (type != napi_object && type != napi_function) ||
      napi_check_object_type_tag(env, v, &T::kTag, &tagged) != napi_ok || !tagged || napi_unwrap(env, v, &native) != napi_ok) {
    return nullptr;
  }
  return static_cast<T*>(native);
}

template <typename T>
napi_value call_member(napi_env env, napi_callback_info cb) {
  try {
    Napi::CallbackInfo info(env, cb);
    const auto* member = static_cast<const Member<T>*>(info.Data());
    T* self = unwrap_as<T>(env, info.This());
    if (self == nullptr) {
      throw_arg(info.Env(), (std::string(T::kName) + "." + member->property).c_str(),
                std::string("the receiver is not a ") + T::kName);
    }
    return (self->*(member->fn))(info);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

// Puts `m` on the prototype of `ctor` (T's class) as a plain function. Not a class method:
// V8 refuses the receiver of those itself ("Illegal invocation", no code, no name).
template <typename T>
void add_checked_method(Napi::Env env, const Napi::Function& ctor, const Member<T>& m) {
  Napi::Object prototype = ctor.Get("prototype").As<Napi::Object>();
  napi_value fn = nullptr;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, m.property, NAPI_AUTO_LENGTH, call_member<T>, const_cast<Member<T>*>(&m), &fn));
  prototype.DefineProperty(Napi::PropertyDescriptor::Value(m.property, Napi::Value(env, fn), napi_default));
}

template <typename T>
Napi::ClassPropertyDescriptor<T> checked_getter(const Member<T>& m) {
  napi_property_descriptor d{};
  d.utf8name = m.property;
  d.getter = call_member<T>;
  d.attributes = napi_default;
  d.data = const_cast<Member<T>*>(&m);
  return Napi::ClassPropertyDescriptor<T>(d);
}

// Tags the object under construction as a T (in T's constructor).
template <typename T>
void tag_instance(const Napi::CallbackInfo& info) {
  info.This().As<Napi::Object>().TypeTag(&T::kTag);
}

}  // namespace nf::addon
