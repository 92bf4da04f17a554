// Tensor arguments given as JS arrays (an optimizer's parameters and gradients): one Args
// reads at most Args::kMaxTensors tensors, so the lists are read by as many Args as they
// need. The two phases hold across all of them: every list is read (phase 1, which may run
// JavaScript) before any tensor is bound (phase 2).
#pragma once
#include <napi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "args.h"

namespace nf::addon {

class TensorLists {
 public:
  TensorLists(const Napi::CallbackInfo& info, const char* op, const ArgLayouts& layouts) : info_(info), op_(op), layouts_(layouts) {}

  // Phase 1: argument i, an array of tensors named name[0], name[1], ...; returns its list number.
  int read(size_t i, const char* name, Access access = Access::Read);
  size_t size(int list) const { return lists_[list].size(); }

  // Phase 2: binds `main` (the call's other tensors, when it read any: main_read) and every
  // list, and returns the one device they must all be on.
  Backend& bind(Args& main, bool main_read);
  // The views of list `list`, in order.
  std::vector<TensorView> views(int list) const;

 private:
  struct Item {
    Args* args;
    Args::Ref ref;
  };
  const Napi::CallbackInfo& info_;
  const char* op_;
  const ArgLayouts& layouts_;
  std::vector<std::unique_ptr<Args>> chunks_;
  std::vector<std::vector<Item>> lists_;
  std::deque<std::string> names_;  // each Args keeps a pointer to its tensors' names
};

}  // namespace nf::addon
