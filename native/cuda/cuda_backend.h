// The CUDA backend of one device: its stream, its share of the device's stream-ordered
// memory pool, and the cuBLASLt context. Everything is enqueued on the stream; only
// copy_to_host and synchronize wait.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../core/backend.h"

namespace nf::cuda {

class LtContext;  // cublaslt.cc
class UserModules;  // user_kernel.h
struct MultiTensorTable;  // kernels.h
class FftPlans;           // fft_plans.h

// The device's counters and facts are core's (device.h): the addon reads them through Backend.
using MemoryStats = DeviceMemory;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;

  DeviceKind kind() const override { return DeviceKind::CUDA; }
  int device_index() const override { return device_; }
  std::string name() const override { return "cuda:" + std::to_string(device_); }

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr) override;
  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void synchronize() override;

  void copy(const TensorView& dst, const TensorView& src) override;
  void fill(const TensorView& dst, double value) override;
  void gemm(const GemmParams& p) override;
  void norm(const NormParams& p) override;
  void softmax(const SoftmaxParams& p) override;
  void bias_activation(const BiasActivationParams& p) override;
  void binary(const BinaryParams& p) override;
  void mean(const MeanParams& p) override;
  void patch_gather(const PatchGatherParams& p) override;
  void attention(const AttentionParams& p) override;
  void sparse_attention(const SparseAttentionParams& p) override;
  void attention_tile_shape(DType dtype, int64_t head_dim, int64_t* tile_m, int64_t* tile_n) override;
  void norm_backward(const NormBackwardParams& p) override;
  void softmax_backward(const SoftmaxBackwardParams& p) override;
  void activation_backward(const ActivationBackwardParams& p) override;
  void sum_rows(const SumRowsParams& p) override;
  void attention_backward(const AttentionBackwardParams& p) override;
  void sparse_attention_backward(const SparseAttentionBackwardParams& p) override;
  void dropout(const DropoutParams& p) override;
  void philox(const PhiloxParams& p) override;
  void optimizer_step(const OptimizerStepParams& p) override;
  void unscale_grads(const UnscaleParams& p) override;

  void cross_entropy(const CrossEntropyParams& p) override;
  void cross_entropy_backward(const CrossEntropyBackwardParams& p) override;
  void patch_scatter(const PatchScatterParams& p) override;
  void multi_norm(const MultiNormParams& p) override;
  void multi_scale(const MultiScaleParams& p) override;
  // The token-mixing ops of the mechanism zoo (cuda_backend_mixing.cc).
  void depthwise_conv2d(const DepthwiseConv2dParams& p) override;
  void depthwise_conv2d_backward(const DepthwiseConv2dBackwardParams& p) override;
  void avg_pool2d(const AvgPool2dParams& p) override;
  void avg_pool2d_backward(const AvgPool2dBackwardParams& p) override;
  void fourier_mix(const FourierMixParams& p) override;

  cudaStream_t stream() const { return stream_; }

  // CUDA graphs. Between begin_capture and end_capture the stream records instead of
  // running; allocations become the graph's own (freed in it, or, for what outlives the
  // capture, before each relaunch). A free of memory from outside the capture is held back
  // until the capture ends, so that no replay frees it. end_capture returns the
  // instantiated graph (destroyed with its handle), or throws what broke the capture;
  // abort_capture drops a capture after an error.
  void begin_capture() override;
  std::unique_ptr<Graph> end_capture() override;
  void abort_capture() override;
  bool capturing() const override { return capturing_; }
  uint64_t capture_serial() const override { return capturing_ ? capture_serial_ : 0; }
  bool capture_orphaned(uint64_t serial) const override { return orphaned_captures_.count(serial) != 0; }
  void deallocate_captured(void* ptr, uint64_t serial) override;
  // Destroys a graph end_capture made; if it never ran, what its capture allocated is orphaned.
  void destroy_graph(cudaGraphExec_t exec);
  bool copy_from_peer(void* dst, Backend& src, const void* src_ptr, size_t bytes) override;
  void launch_graph(cudaGraphExec_t exec);
  // Waits for the stream, then gives the driver back the graph memory no graph uses any more.
  void trim_graph_memory() override;

  // This backend's block counters and the pool's reserve, plus the memory of graph allocations
  // (a separate pool of the driver's).
  MemoryStats memory() const override;
  void reset_peak() override;
  // Hands the cached blocks back to the pool, waits for the stream, and returns the pool's and
  // the graph pool's unused memory to the driver.
  void empty_cache() override;
  DeviceInfo device_info() const override;
  // Events on the stream: the device time between start_timer() and the timer's stop_ms().
  std::unique_ptr<Timer> start_timer() override;
  // Makes this backend's device current on the calling thread (worker threads too).
  void activate() const;
  HostTimes host_times() const override { return host_times_; }
  void reset_host_times() override { host_times_ = HostTimes{}; }
  // Kernels users bring (user_kernel.h): their modules stay loaded until the backend goes.
  std::unique_ptr<UserKernel> load_kernel(const std::string& image, const std::string& function) override;

 private:
  cudaGraph_t finish_capture(cudaError_t* status);  // ends the capture, performs the held-back frees
  bool grant_pool_access(int peer);                 // lets device `peer` read and write this pool's memory
  void free_block(void* ptr);                       // an eager block: into the cache, or back to the pool
  void flush_cache();                               // every cached block back to the pool
  // Copies a multi-tensor list's table (kernels.h) to device memory and calls launch with it.
  void launch_with_table(const MultiTensorTable& table, const std::function<void(const void*)>& launch);

  int device_;
  int sm_count_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaMemPool_t pool_ = nullptr;
  std::unique_ptr<LtContext> lt_;
  std::unique_ptr<UserModules> user_modules_;  // made by the first load_kernel
  bool capturing_ = false;
  std::unordered_set<void*> captured_allocations_;  // made during the capture
  std::vector<void*> deferred_frees_;               // freed during it, made before it
  std::vector<void*> frees_at_capture_end_;         // made and freed during it (NODEFORMERS_GRAPH_FREES_AT_END=1)
  std::unordered_set<int> pool_peers_;              // devices granted access to pool_
  uint64_t capture_serial_ = 0;                     // the latest capture's number (from 1)
  std::unordered_set<uint64_t> orphaned_captures_;  // captures whose addresses never get memory
  std::unordered_map<cudaGraphExec_t, uint64_t> unlaunched_;  // graphs not yet run: their capture
  std::unordered_map<uint64_t, std::vector<void*>> frees_at_first_launch_;  // by capture
  HostTimes host_times_;
  std::shared_ptr<FftPlans> fft_plans_;  // fourier_mix's cuFFT plans, made on its first call

  // The block cache. cudaMallocAsync and cudaFreeAsync cost the host about 1 us each, which
  // bounds an eager op on a small tensor (issue 3), so a freed eager block waits here for the
  // next allocation of its rounded size instead of going back to the pool. Everything runs
  // on the one stream, so a block handed out again is ordered after the work that used it,
  // as the pool's own same-stream reuse is. Graph captures bypass it (their allocations are
  // the graph's), an allocation the pool refuses empties it and tries again, and
  // NODEFORMERS_CUDA_CACHE_MB (default 2048; 0: no cache, as the sanitizer runs use) bounds it.
  size_t cache_limit_ = 0;
  std::unordered_map<void*, size_t> live_;                      // eager blocks handed out: their size
  std::unordered_map<size_t, std::vector<void*>> cached_;       // freed eager blocks by size
  uint64_t live_bytes_ = 0, live_peak_ = 0, cached_bytes_ = 0;
};

// Eager block sizes are rounded up to this, so that near sizes share cached blocks (with the
// cache on: without it they are the sizes asked for).
constexpr size_t kBlockRound = 512;

}  // namespace nf::cuda
