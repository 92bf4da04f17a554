// __canary(kind): one deliberate bug per sanitizer, for tools/sanitize-cpu.sh to require a
// report of. Compiled only with NODEFORMERS_SANITIZE (never into a normal or npm build).
//   'use-after-free'   reads a freed heap block (ASan: heap-use-after-free)
//   'signed-overflow'  INT_MAX + 1 (UBSan: signed integer overflow)
//   'data-race'        two threads write one int without a lock (TSan: data race)
//   'none'             does nothing: the control, which must stay silent
#include "sanitizer_canary.h"

#ifdef NODEFORMERS_SANITIZER_CANARY  // (a glob of native/addon/*.cc may list this file in any build)
#include <climits>
#include <string>
#include <thread>

namespace nf::addon {
namespace {

// volatile: keeps the compiler from proving the bug and folding it away.
int use_after_free() {
  int* volatile block = new int[4]{1, 2, 3, 4};
  delete[] block;
  return block[2];
}

int signed_overflow() {
  volatile int big = INT_MAX;
  return big + 1;
}

int data_race() {
  static int shared = 0;
  auto bump = [] {
    for (int i = 0; i < 1000; ++i) shared = shared + 1;
  };
  std::thread a(bump), b(bump);
  a.join();
  b.join();
  return shared;
}

Napi::Value Canary(const Napi::CallbackInfo& info) {
  const std::string kind = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  int r = 0;
  if (kind == "use-after-free") r = use_after_free();
  else if (kind == "signed-overflow") r = signed_overflow();
  else if (kind == "data-race") r = data_race();
  else if (kind != "none") throw Napi::TypeError::New(info.Env(), "__canary: unknown kind '" + kind + "'");
  return Napi::Number::New(info.Env(), r);
}

}  // namespace

void register_sanitizer_canary(Napi::Env env, Napi::Object exports) {
  exports.Set("__canary", Napi::Function::New(env, Canary, "__canary"));
}

}  // namespace nf::addon
#endif  // NODEFORMERS_SANITIZER_CANARY
