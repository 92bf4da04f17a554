// Test-only: the addon method __canary(kind), compiled only into sanitizer builds
// (NODEFORMERS_SANITIZE in CMakeLists.txt), so that tools/sanitize-cpu.sh can prove the
// sanitizers see the addon's code. Normal builds get an empty inline hook.
#pragma once
#include <napi.h>

namespace nf::addon {
#ifdef NODEFORMERS_SANITIZER_CANARY
void register_sanitizer_canary(Napi::Env env, Napi::Object exports);
#else
inline void register_sanitizer_canary(Napi::Env, Napi::Object) {}
#endif
}  // namespace nf::addon
