// TensorLists (tensor_lists.h): arrays of tensors read through as many Args as they need.
#include "tensor_lists.h"

namespace nf::addon {

int TensorLists::read(size_t i, const char* name, Access access) {
  Napi::Env env = info_.Env();
  if (info_.Length() <= i || !info_[i].IsArray()) throw_arg(env, op_, std::string(name) + " must be an array of Tensors");
  const Napi::Array array = info_[i].As<Napi::Array>();
  const uint32_t length = array.Length();
  std::vector<Item> items;
  items.reserve(length);
  for (uint32_t j = 0; j < length; ++j) {
    if (chunks_.empty() || chunks_.back()->full()) chunks_.push_back(std::make_unique<Args>(info_, op_, layouts_));
    names_.push_back(std::string(name) + "[" + std::to_string(j) + "]");
    Args* args = chunks_.back().get();
    items.push_back({args, args->element(array, j, names_.back().c_str(), access)});
  }
  lists_.push_back(std::move(items));
  return static_cast<int>(lists_.size()) - 1;
}

Backend& TensorLists::bind(Args& main, bool main_read) {
  Backend* backend = main_read ? &main.bind() : nullptr;
  for (const auto& chunk : chunks_) {
    Backend& mine = chunk->bind();
    if (backend == nullptr) backend = &mine;
    if (&mine != backend) main.fail("tensors are on different devices (" + backend->name() + " and " + mine.name() + ")");
  }
  if (backend == nullptr) main.fail("a call without tensors");
  return *backend;
}

std::vector<TensorView> TensorLists::views(int list) const {
  std::vector<TensorView> out;
  out.reserve(lists_[list].size());
  for (const Item& item : lists_[list]) out.push_back(item.args->view(item.ref));
  return out;
}

}  // namespace nf::addon
