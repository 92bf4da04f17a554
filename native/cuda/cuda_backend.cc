// CudaBackend: memory from the device's default stream-ordered pool (cudaMallocAsync, with
// a release threshold high enough that freed memory stays in the pool for reuse) behind a
// cache of freed blocks by size, one non-blocking stream, and dispatch of each op to its
// kernel family.
#include "cuda_backend.h"

#include <chrono>
#include <cstdint>
#include <string>

#include "check.h"
#include "cublaslt.h"
#include "host_timer.h"
#include "kernels.h"
#include "user_kernel.h"

namespace nf::cuda {

namespace {
// NODEFORMERS_CUDA_CACHE_MB: the most bytes of freed blocks a backend keeps (default 2048).
size_t cache_limit_from_env() {
  const char* e = std::getenv("NODEFORMERS_CUDA_CACHE_MB");
  if (e == nullptr || *e == '\0') return size_t{2048} << 20;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(e, &end, 10);
  if (*end != '\0') throw Error(ErrorCode::InvalidArg, std::string("NODEFORMERS_CUDA_CACHE_MB must be a whole number of MiB, not '") + e + "'");
  return static_cast<size_t>(mb) << 20;
}
}  // namespace

CudaBackend::CudaBackend(int device) : device_(device), cache_limit_(cache_limit_from_env()) {
  int count = 0;
  NF_CUDA_CHECK(cudaGetDeviceCount(&count));
  if (device < 0 || device >= count) {
    throw Error(ErrorCode::InvalidArg, "cuda:" + std::to_string(device) + " does not exist: this machine has " +
                                           std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s"));
  }
  NF_CUDA_CHECK(cudaSetDevice(device));
  NF_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  NF_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
  NF_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool_, device));
  uint64_t threshold = UINT64_MAX;
  NF_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &threshold));
  lt_ = std::make_unique<LtContext>(*this, stream_);
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  lt_.reset();
  flush_cache();
  if (stream_) {
    cudaStreamSynchronize(stream_);
    fft_plans_.reset();  // after their last work, before the stream they were set to
    cudaStreamDestroy(stream_);
  }
}

void CudaBackend::activate() const { NF_CUDA_CHECK(cudaSetDevice(device_)); }

void* CudaBackend::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  HostTimer timer(host_times_, kHostAllocate);
  auto refused = [&](cudaError_t err) {
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      const MemoryStats m = memory();
      throw Error(ErrorCode::CudaOom, "out of memory on " + name() + ": asked for " + std::to_string(bytes) +
                                          " bytes; the device has " + std::to_string(free_bytes) + " of " +
                                          std::to_string(total_bytes) + " bytes free, and the pool holds " +
                                          std::to_string(m.reserved - m.allocated) + " unused bytes");
    }
    throw_cuda(err, "cudaMallocAsync", __FILE__, __LINE__);
  };
  void* ptr = nullptr;
  if (capturing_) {  // the graph's own memory: no cache, no block counters
    activate();
    const cudaError_t err = cudaMallocAsync(&ptr, bytes, stream_);
    if (err != cudaSuccess) refused(err);
    captured_allocations_.insert(ptr);
    return ptr;
  }
  // Without a cache, the exact size: so that memcheck sees an access past the asked-for end.
  const size_t size = cache_limit_ == 0 ? bytes : (bytes + kBlockRound - 1) / kBlockRound * kBlockRound;
  auto bucket = cached_.find(size);
  if (bucket != cached_.end() && !bucket->second.empty()) {
    ptr = bucket->second.back();
    bucket->second.pop_back();
    cached_bytes_ -= size;
  } else {
    activate();
    cudaError_t err = cudaMallocAsync(&ptr, size, stream_);
    if (err == cudaErrorMemoryAllocation) {
      // The cached blocks back to the pool, and the pool's unused memory (blocks of other
      // sizes) back to the driver once those frees have run; then once more.
      cudaGetLastError();
      flush_cache();
      if (cudaStreamSynchronize(stream_) != cudaSuccess || cudaMemPoolTrimTo(pool_, 0) != cudaSuccess) cudaGetLastError();
      err = cudaMallocAsync(&ptr, size, stream_);
    }
    if (err != cudaSuccess) refused(err);
  }
  live_.emplace(ptr, size);
  live_bytes_ += size;
  if (live_bytes_ > live_peak_) live_peak_ = live_bytes_;
  return ptr;
}

void CudaBackend::free_block(void* ptr) {
  auto it = live_.find(ptr);
  if (it != live_.end()) {
    const size_t size = it->second;
    live_.erase(it);
    live_bytes_ -= size;
    if (cached_bytes_ + size <= cache_limit_) {
      cached_[size].push_back(ptr);
      cached_bytes_ += size;
      return;
    }
  }
  // Not cached, or a graph's memory (freed after a capture): back to its pool. Called from
  // finalizers too: never throw, but leave no sticky error behind.
  if (cudaSetDevice(device_) != cudaSuccess || cudaFreeAsync(ptr, stream_) != cudaSuccess) cudaGetLastError();
}

void CudaBackend::flush_cache() {
  if (cached_bytes_ == 0) return;
  if (cudaSetDevice(device_) != cudaSuccess) cudaGetLastError();
  for (auto& [size, blocks] : cached_) {
    for (void* ptr : blocks) {
      if (cudaFreeAsync(ptr, stream_) != cudaSuccess) cudaGetLastError();
    }
  }
  cached_.clear();
  cached_bytes_ = 0;
}

void CudaBackend::empty_cache() {
  if (capturing_) throw_invalid("the cache cannot be emptied while a capture is under way on " + name());
  activate();
  flush_cache();
  NF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  NF_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
  NF_CUDA_CHECK(cudaDeviceGraphMemTrim(device_));
}

// NODEFORMERS_GRAPH_FREES_AT_END=1 (for compute-sanitizer runs, scripts/sanitize-cuda.sh):
// the graph frees what it allocated only at its end, so that no allocation inside a graph
// takes the addresses of one freed earlier in it. The graph then holds every intermediate
// at once (more memory, the same results).
namespace {
bool graph_frees_at_end() {
  static const bool at_end = env_flag("NODEFORMERS_GRAPH_FREES_AT_END");
  return at_end;
}
}  // namespace

void CudaBackend::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  HostTimer timer(host_times_, kHostFree);
  if (capturing_) {
    if (captured_allocations_.erase(ptr) == 0) {
      deferred_frees_.push_back(ptr);  // not the graph's to free
      return;
    }
    if (graph_frees_at_end()) {
      frees_at_capture_end_.push_back(ptr);
      return;
    }
    // The graph's own allocation: its free is a node of the graph. Called from finalizers
    // too: never throw, but leave no sticky error behind.
    if (cudaSetDevice(device_) != cudaSuccess || cudaFreeAsync(ptr, stream_) != cudaSuccess) cudaGetLastError();
    return;
  }
  free_block(ptr);
}

// Stream-ordered allocations do not follow cudaDeviceEnablePeerAccess: a pool's memory is
// mapped on another device only once cudaMemPoolSetAccess says so (and a graph's
// allocations keep the access their pool had at capture). False, with no error left behind,
// where the pair has no peer access or the driver refuses.
bool CudaBackend::grant_pool_access(int peer) {
  if (peer == device_ || pool_peers_.count(peer) != 0) return true;
  int can = 0;
  if (cudaDeviceCanAccessPeer(&can, peer, device_) != cudaSuccess || can == 0) {
    cudaGetLastError();
    return false;
  }
  cudaMemAccessDesc desc{};
  desc.location.type = cudaMemLocationTypeDevice;
  desc.location.id = peer;
  desc.flags = cudaMemAccessFlagsProtReadWrite;
  if (cudaMemPoolSetAccess(pool_, &desc, 1) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  pool_peers_.insert(peer);
  return true;
}

// The copy runs on this (the destination's) stream: it waits for an event recorded on the
// source's stream, and the source's stream waits for an event after the copy, so neither
// side's queued work races it and a stream-ordered free of the source comes after it. Both
// pools are opened to the other device (whichever copy engine the driver uses).
bool CudaBackend::copy_from_peer(void* dst, Backend& src_backend, const void* src_ptr, size_t bytes) {
  if (src_backend.kind() != DeviceKind::CUDA || &src_backend == this) return false;
  auto& src = static_cast<CudaBackend&>(src_backend);
  if (capturing_ || src.capturing_) {
    throw_invalid("a copy between " + src.name() + " and " + name() + " cannot be recorded while a CUDA graph capture is under way");
  }
  src.activate();
  if (!src.grant_pool_access(device_)) return false;
  activate();
  if (!grant_pool_access(src.device_)) return false;
  if (bytes == 0) return true;
  src.activate();
  ScopedEvent ready;
  NF_CUDA_CHECK(cudaEventRecord(ready.event, src.stream_));
  activate();
  ScopedEvent done;
  NF_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready.event, 0));
  NF_CUDA_CHECK(cudaMemcpyPeerAsync(dst, device_, src_ptr, src.device_, bytes, stream_));
  // From here the copy is queued: if ordering the source's later work after it fails, wait
  // for it instead, so that a free of the source cannot race it.
  try {
    NF_CUDA_CHECK(cudaEventRecord(done.event, stream_));
    src.activate();
    NF_CUDA_CHECK(cudaStreamWaitEvent(src.stream_, done.event, 0));
  } catch (...) {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    throw;
  }
  return true;
}

void CudaBackend::begin_capture() {
  if (capturing_) throw_invalid("a capture is already under way on " + name());
  activate();
  // A graph's allocations keep the access their pool has now: open it to every GPU that can
  // reach it, so that what the graph returns can later be copied device to device.
  int count = 0;
  if (cudaGetDeviceCount(&count) == cudaSuccess) {
    for (int d = 0; d < count; ++d) grant_pool_access(d);
  }
  cudaGetLastError();
  // Thread-local mode: only this thread's unsafe calls (a synchronize, say) break the capture.
  NF_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  capturing_ = true;
  ++capture_serial_;
}

// Ends the stream's capture and performs the frees it held back.
cudaGraph_t CudaBackend::finish_capture(cudaError_t* status) {
  for (void* ptr : frees_at_capture_end_) {
    if (cudaFreeAsync(ptr, stream_) != cudaSuccess) cudaGetLastError();  // the graph's last nodes
  }
  frees_at_capture_end_.clear();
  cudaGraph_t graph = nullptr;
  *status = cudaStreamEndCapture(stream_, &graph);
  capturing_ = false;
  captured_allocations_.clear();
  for (void* ptr : deferred_frees_) free_block(ptr);
  deferred_frees_.clear();
  return graph;
}

namespace {
// An instantiated graph of a backend's stream; destroying it destroys the executable graph.
class CudaGraph final : public Graph {
 public:
  CudaGraph(std::shared_ptr<CudaBackend> backend, cudaGraphExec_t exec) : backend_(std::move(backend)), exec_(exec) {}
  ~CudaGraph() override { backend_->destroy_graph(exec_); }  // one still running is freed when it completes
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  void launch() override { backend_->launch_graph(exec_); }

 private:
  std::shared_ptr<CudaBackend> backend_;
  cudaGraphExec_t exec_;
};

// Two timing events on a backend's stream: the start recorded when made, the stop by stop_ms().
class CudaTimer final : public Timer {
 public:
  explicit CudaTimer(std::shared_ptr<CudaBackend> backend) : backend_(std::move(backend)) {
    backend_->activate();
    NF_CUDA_CHECK(cudaEventRecord(start_.event, backend_->stream()));
  }
  float stop_ms() override {
    backend_->activate();
    NF_CUDA_CHECK(cudaEventRecord(stop_.event, backend_->stream()));
    NF_CUDA_CHECK(cudaEventSynchronize(stop_.event));
    float ms = 0;
    NF_CUDA_CHECK(cudaEventElapsedTime(&ms, start_.event, stop_.event));
    return ms;
  }

 private:
  std::shared_ptr<CudaBackend> backend_;
  ScopedEvent start_{cudaEventDefault}, stop_{cudaEventDefault};
};
}  // namespace

std::unique_ptr<Timer> CudaBackend::start_timer() {
  activate();
  return std::make_unique<CudaTimer>(std::static_pointer_cast<CudaBackend>(shared_from_this()));
}

std::unique_ptr<Graph> CudaBackend::end_capture() {
  if (!capturing_) throw_invalid("no capture is under way on " + name());
  activate();
  cudaError_t status = cudaSuccess;
  cudaGraph_t graph = finish_capture(&status);
  if (status != cudaSuccess || graph == nullptr) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    orphaned_captures_.insert(capture_serial_);
    throw Error(ErrorCode::Cuda, std::string("the capture failed (") + cudaGetErrorString(status) +
                                     "): the captured code did something a CUDA graph cannot hold, such as reading data back to the host");
  }
  cudaGraphExec_t exec = nullptr;
  // Allocations that outlive the graph (its outputs) are freed before each relaunch.
  const cudaError_t err = cudaGraphInstantiateWithFlags(&exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    orphaned_captures_.insert(capture_serial_);
    throw_cuda(err, "cudaGraphInstantiateWithFlags", __FILE__, __LINE__);
  }
  unlaunched_[exec] = capture_serial_;
  frees_at_first_launch_.try_emplace(capture_serial_);
  return std::make_unique<CudaGraph>(std::static_pointer_cast<CudaBackend>(shared_from_this()), exec);
}

void CudaBackend::abort_capture() {
  if (!capturing_) return;
  activate();
  cudaError_t status = cudaSuccess;
  cudaGraph_t graph = finish_capture(&status);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
  orphaned_captures_.insert(capture_serial_);  // what it allocated and did not free has no memory
}

// A capture's allocation is the graph's: it gets memory at the graph's first launch, and a
// free before that (of an output the caller dropped) waits for it.
void CudaBackend::deallocate_captured(void* ptr, uint64_t serial) {
  if (capture_orphaned(serial)) return;
  if (!(capturing_ && serial == capture_serial_)) {
    auto pending = frees_at_first_launch_.find(serial);
    if (pending != frees_at_first_launch_.end()) {
      pending->second.push_back(ptr);
      return;
    }
  }
  deallocate(ptr);
}

void CudaBackend::destroy_graph(cudaGraphExec_t exec) {
  cudaSetDevice(device_);
  auto it = unlaunched_.find(exec);
  if (it != unlaunched_.end()) {
    orphaned_captures_.insert(it->second);
    frees_at_first_launch_.erase(it->second);
    unlaunched_.erase(it);
  }
  cudaGraphExecDestroy(exec);
}

void CudaBackend::trim_graph_memory() {
  activate();
  NF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  NF_CUDA_CHECK(cudaDeviceGraphMemTrim(device_));
}

void CudaBackend::launch_graph(cudaGraphExec_t exec) {
  if (capturing_) throw_invalid("a graph cannot be launched while a capture is under way on " + name());
  activate();
  NF_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
  auto it = unlaunched_.find(exec);
  if (it == unlaunched_.end()) return;
  auto pending = frees_at_first_launch_.find(it->second);
  if (pending != frees_at_first_launch_.end()) {
    for (void* ptr : pending->second) deallocate(ptr);
    frees_at_first_launch_.erase(pending);
  }
  unlaunched_.erase(it);
}

void CudaBackend::copy_from_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  HostTimer timer(host_times_, kHostWait);
  activate();
  NF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t bytes) {
  HostTimer timer(host_times_, kHostWait);
  activate();
  if (bytes != 0) NF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  NF_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::synchronize() {
  HostTimer timer(host_times_, kHostWait);
  activate();
  NF_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

MemoryStats CudaBackend::memory() const {
  MemoryStats m;
  m.allocated = live_bytes_;
  m.peak = live_peak_;
  m.cached = cached_bytes_;
  NF_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &m.reserved));
  NF_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemCurrent, &m.pool_used));
  uint64_t graph_used = 0, graph_reserved = 0, graph_high = 0;
  NF_CUDA_CHECK(cudaDeviceGetGraphMemAttribute(device_, cudaGraphMemAttrUsedMemCurrent, &graph_used));
  NF_CUDA_CHECK(cudaDeviceGetGraphMemAttribute(device_, cudaGraphMemAttrReservedMemCurrent, &graph_reserved));
  NF_CUDA_CHECK(cudaDeviceGetGraphMemAttribute(device_, cudaGraphMemAttrUsedMemHigh, &graph_high));
  m.allocated += graph_used;
  m.reserved += graph_reserved;
  m.peak += graph_high;  // an upper bound: the two high-water marks may fall at different times
  return m;
}

void CudaBackend::reset_peak() {
  live_peak_ = live_bytes_;
  uint64_t zero = 0;  // resets the graph pool's high-water mark to its current use
  NF_CUDA_CHECK(cudaDeviceSetGraphMemAttribute(device_, cudaGraphMemAttrUsedMemHigh, &zero));
}

DeviceInfo CudaBackend::device_info() const {
  cudaDeviceProp prop{};
  NF_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  DeviceInfo d;
  d.name = prop.name;
  d.major = prop.major;
  d.minor = prop.minor;
  d.total_memory = prop.totalGlobalMem;
  d.sm_count = prop.multiProcessorCount;
  d.l2_bytes = prop.l2CacheSize;
  NF_CUDA_CHECK(cudaRuntimeGetVersion(&d.runtime_version));
  NF_CUDA_CHECK(cudaDriverGetVersion(&d.driver_version));
  d.cublaslt_version = lt_version();
  return d;
}

void CudaBackend::copy(const TensorView& dst, const TensorView& src) { HostTimer timer(host_times_, kHostKernel); activate(); launch_copy(dst, src, stream_); }
void CudaBackend::fill(const TensorView& dst, double value) { HostTimer timer(host_times_, kHostKernel); activate(); launch_fill(dst, value, stream_); }

void CudaBackend::gemm(const GemmParams& p) {
  HostTimer timer(host_times_, kHostGemm);
  activate();
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  const bool fused = p.k > 0 && lt_->gemm(p);
  if (fused) return;
  // What cuBLASLt cannot do (k = 0, or an activation it has no epilogue for) finishes in
  // our bias + activation kernel over the contiguous output.
  if (p.ldc != p.n || (p.batch > 1 && p.batch_stride_c != p.m * p.n))
    throw_invalid("gemm: an unfused activation needs a contiguous output");
  TensorView c;
  c.data = p.c;
  c.dtype = p.dtype;
  c.ndim = 2;
  c.shape[0] = p.batch * p.m;
  c.shape[1] = p.n;
  c.strides[0] = p.n;
  c.strides[1] = 1;
  if (p.k == 0 && p.residual == nullptr) launch_fill(c, 0.0, stream_);
  if (p.k == 0 && p.residual != nullptr && p.residual != p.c) {
    TensorView r = c;
    r.data = const_cast<void*>(p.residual);
    launch_copy(c, r, stream_);
  }
  BiasActivationParams act;
  act.out = c;
  act.x = c;
  act.bias = p.k == 0 ? p.bias : nullptr;  // with k > 0 cuBLASLt has added the bias already
  act.activation = p.activation;
  launch_bias_activation(act, stream_);
}
void CudaBackend::norm(const NormParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_norm(p, stream_); }
void CudaBackend::softmax(const SoftmaxParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_softmax(p, stream_); }
void CudaBackend::bias_activation(const BiasActivationParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_bias_activation(p, stream_); }
void CudaBackend::binary(const BinaryParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_binary(p, stream_); }
void CudaBackend::mean(const MeanParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_mean(p, stream_); }
void CudaBackend::patch_gather(const PatchGatherParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_patch_gather(p, stream_); }

void CudaBackend::attention(const AttentionParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  // The split-KV workspace, when the kernel splits the keys: stream-ordered, so freeing it
  // right after the launch is safe.
  const size_t bytes = attention_workspace_bytes(p, sm_count_);
  Buffer workspace(shared_from_this(), bytes);
  launch_attention(p, workspace.data(), sm_count_, stream_);
}

void CudaBackend::sparse_attention(const SparseAttentionParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  // Partial results of split rows: stream-ordered like the dense workspace.
  Buffer workspace(shared_from_this(), sparse_attention_workspace_bytes(p));
  launch_sparse_attention(p, workspace.data(), stream_);
}

void CudaBackend::attention_tile_shape(DType dtype, int64_t head_dim, int64_t* tile_m, int64_t* tile_n) {
  attention_tile_shape_for(dtype, head_dim, tile_m, tile_n);
}

}  // namespace nf::cuda

std::shared_ptr<nf::Backend> nf::make_cuda_backend(int device) { return std::make_shared<cuda::CudaBackend>(device); }

int nf::cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}
