// The random ops (native/core/random_ops.h): arguments read with Args, calls checked and run
// by native/core's dispatch.
#include "../core/dispatch.h"
#include "module.h"

namespace nf::addon {

// dropout(out, x, p, seed, offset, group): DropoutCall. seed and offset are integers in
// [0, 2^53] (exact in a double); ts/generator.ts hands them out.
Napi::Value Addon::Dropout(const Napi::CallbackInfo& info) {
  Args args(info, "dropout", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), x = args.tensor(1, "x");
  DropoutCall call;
  call.p = args.number(2, "p");
  call.seed = static_cast<uint64_t>(args.integer(3, "seed", 0, kMaxIndex, "seed must be an integer in [0, 2^53]"));
  call.offset = static_cast<uint64_t>(args.integer(4, "offset", 0, kMaxIndex, "offset must be an integer in [0, 2^53]"));
  call.group = args.integer(5, "group", 1, kMaxIndex, "group must be a positive integer");
  Backend& backend = args.bind();
  call.out = args.view(out);
  call.x = args.view(x);
  args.run([&] { dispatch::dropout(backend, call); });
  return info.Env().Undefined();
}

// philox(out, counter, key): PhiloxParams, int32 [n, 4], [n, 4], [n, 2].
Napi::Value Addon::Philox(const Napi::CallbackInfo& info) {
  Args args(info, "philox", layouts_);
  const auto out = args.tensor(0, "out", Access::Whole), counter = args.tensor(1, "counter"), key = args.tensor(2, "key");
  PhiloxParams p;
  Backend& backend = args.bind();
  p.out = args.view(out);
  p.counter = args.view(counter);
  p.key = args.view(key);
  args.run([&] { dispatch::philox(backend, p); });
  return info.Env().Undefined();
}

}  // namespace nf::addon
