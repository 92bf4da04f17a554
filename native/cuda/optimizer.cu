// The optimizers' fused multi-tensor step and the loss scaler's unscale (OptimizerStepParams
// and UnscaleParams in core/ops.h; the per-element formulas in core/optimizer.h, shared with
// the CPU backend).
//
// One launch covers every element of every tensor of a list. Each tensor is cut into chunks
// of kChunk elements, numbered across the list; a table in device memory (built here on the
// host, copied by the backend) holds each tensor's pointers, size, state offset, factors and
// first chunk number. Block b takes chunks b, b + gridDim.x, ...; it finds a chunk's tensor by
// binary search over the first chunk numbers (a small table every block reads: it stays in
// cache), and its threads stride the chunk's elements, consecutive threads on consecutive
// elements. The grid is a few blocks per SM, capped by the chunk count.
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/optimizer.h"
#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 16 * kThreads;
constexpr int kBlocksPerSm = 8;

struct StepEntry {
  void* param;
  const void* grad;
  int64_t numel, state_offset, first_chunk;
  TensorFactors factors;
};

struct UnscaleEntry {
  void* grad;
  int64_t numel, first_chunk;
};

// The step's flat float32 buffers (each may be null, as OptimizerStepParams says).
struct StateBuffers {
  float* master;
  float* state1;
  float* state2;
  float* state3;
};

// The entry that holds chunk `chunk`: the last whose first chunk is at most it.
template <typename Entry>
__device__ __forceinline__ const Entry& entry_of(const Entry* entries, int count, int64_t chunk) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (entries[mid].first_chunk <= chunk) lo = mid;
    else hi = mid - 1;
  }
  return entries[lo];
}

template <typename T, bool kAdamW>
__global__ void __launch_bounds__(kThreads)
optimizer_step_kernel(const StepEntry* __restrict__ entries, int count, int64_t chunks, StateBuffers s, OptimizerConstants c) {
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const StepEntry& e = entry_of(entries, count, chunk);
    const TensorFactors f = e.factors;
    T* param = static_cast<T*>(e.param);
    const T* grad = static_cast<const T*>(e.grad);
    const int64_t begin = (chunk - e.first_chunk) * kChunk;
    const int64_t end = e.numel < begin + kChunk ? e.numel : begin + kChunk;
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
      const int64_t k = e.state_offset + i;
      const float g = to_float(grad[i]);
      const float w = s.master != nullptr ? s.master[k] : to_float(param[i]);
      float next;
      if constexpr (kAdamW) next = adamw_update(w, g, &s.state1[k], &s.state2[k], s.state3 != nullptr ? &s.state3[k] : nullptr, c, f);
      else next = sgd_update(w, g, s.state1 != nullptr ? &s.state1[k] : nullptr, c, f);
      if (s.master != nullptr) s.master[k] = next;
      param[i] = from_float<T>(next);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
unscale_kernel(const UnscaleEntry* __restrict__ entries, int count, int64_t chunks, float* found_inf, float inv_scale) {
  bool found = false;
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const UnscaleEntry& e = entry_of(entries, count, chunk);
    T* grad = static_cast<T*>(e.grad);
    const int64_t begin = (chunk - e.first_chunk) * kChunk;
    const int64_t end = e.numel < begin + kChunk ? e.numel : begin + kChunk;
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
      const float g = to_float(grad[i]);
      found |= !isfinite(g);
      grad[i] = from_float<T>(g * inv_scale);
    }
  }
  if (found) *found_inf = 1.f;  // every writer writes 1: the race is benign
}

// Numbers each entry's chunks across the list, and packs the entries as the kernels read them.
template <typename Entry>
MultiTensorTable pack(std::vector<Entry>& entries) {
  if (entries.size() > static_cast<size_t>(INT_MAX)) throw_invalid("optimizer: too many tensors in one list");
  MultiTensorTable table;
  for (Entry& e : entries) {
    e.first_chunk = table.chunks;
    table.chunks += (e.numel + kChunk - 1) / kChunk;
  }
  table.count = static_cast<int>(entries.size());
  table.bytes.resize(entries.size() * sizeof(Entry));
  if (!entries.empty()) std::memcpy(table.bytes.data(), entries.data(), table.bytes.size());
  return table;
}

unsigned grid_for(const MultiTensorTable& table, int sm_count) {
  const int64_t cap = static_cast<int64_t>(sm_count > 0 ? sm_count : 1) * kBlocksPerSm;
  return static_cast<unsigned>(table.chunks < cap ? table.chunks : cap);
}

}  // namespace

MultiTensorTable optimizer_step_table(const OptimizerStepParams& p) {
  std::vector<StepEntry> entries(static_cast<size_t>(p.count));
  for (int64_t i = 0; i < p.count; ++i) {
    const OptimizerTensor& t = p.tensors[i];
    entries[i] = StepEntry{t.param, t.grad, t.numel, t.state_offset, 0, tensor_factors(p, t)};
  }
  return pack(entries);
}

void launch_optimizer_step(const OptimizerStepParams& p, const MultiTensorTable& table, const void* device_table, int sm_count,
                           cudaStream_t stream) {
  if (table.chunks == 0) return;
  const auto* entries = static_cast<const StepEntry*>(device_table);
  const StateBuffers s{p.master, p.state1, p.state2, p.state3};
  const OptimizerConstants c = optimizer_constants(p);
  const unsigned grid = grid_for(table, sm_count);
  dispatch_float(p.dtype, "optimizer_step", [&](auto tag) {
    using T = decltype(tag);
    if (p.kind == OptimizerKind::AdamW) optimizer_step_kernel<T, true><<<grid, kThreads, 0, stream>>>(entries, table.count, table.chunks, s, c);
    else optimizer_step_kernel<T, false><<<grid, kThreads, 0, stream>>>(entries, table.count, table.chunks, s, c);
  });
  NF_CHECK_LAUNCH("optimizer_step_kernel");
}

MultiTensorTable unscale_table(const UnscaleParams& p) {
  std::vector<UnscaleEntry> entries(static_cast<size_t>(p.count));
  for (int64_t i = 0; i < p.count; ++i) entries[i] = UnscaleEntry{p.tensors[i].grad, p.tensors[i].numel, 0};
  return pack(entries);
}

void launch_unscale(const UnscaleParams& p, const MultiTensorTable& table, const void* device_table, int sm_count, cudaStream_t stream) {
  if (table.chunks == 0) return;
  const auto* entries = static_cast<const UnscaleEntry*>(device_table);
  const unsigned grid = grid_for(table, sm_count);
  dispatch_float(p.dtype, "unscale_grads", [&](auto tag) {
    using T = decltype(tag);
    unscale_kernel<T><<<grid, kThreads, 0, stream>>>(entries, table.count, table.chunks, p.found_inf, p.inv_scale);
  });
  NF_CHECK_LAUNCH("unscale_kernel");
}

}  // namespace nf::cuda
