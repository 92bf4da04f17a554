// The interface each backend (CPU, CUDA) implements. The addon calls an op through
// dispatch.h, which checks its contract and runs it on the backend of the device its
// tensors live on; views passed in are already checked (same device, shapes agree, storage
// large enough).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "allocator.h"
#include "device.h"
#include "error.h"
#include "mixing_ops.h"
#include "ops.h"
#include "random_ops.h"
#include "tensor.h"
#include "training_ops.h"
#include "user_kernel.h"

namespace nf {

enum class DeviceKind { CPU, CUDA };

class Backend : public Allocator, public std::enable_shared_from_this<Backend> {
 public:
  virtual ~Backend() = default;
  virtual DeviceKind kind() const = 0;
  virtual int device_index() const { return 0; }
  virtual std::string name() const = 0;  // "cpu", "cuda:0"

  // Memory (Allocator's allocate and deallocate), and host transfers.
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  // Copies to host memory and waits until the bytes are there.
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  // Waits until all work queued so far has finished.
  virtual void synchronize() = 0;
  // True when no queued work is pending, so a read would not wait (false where unknown).
  virtual bool idle() { return false; }
  // True while the device's stream records a CUDA graph: nothing may wait on it then.
  virtual bool capturing() const { return false; }
  // CUDA graphs and the memory allocated while one records. capture_serial(): the number of
  // the capture under way (0 when none). An address a capture handed out has memory behind it
  // only once its graph has been launched: capture_orphaned(serial) is true when that can no
  // longer happen (the capture failed, or its graph was disposed unlaunched), and
  // deallocate_captured frees such an address (at the graph's first launch if it has not
  // run yet; never where it is orphaned).
  virtual uint64_t capture_serial() const { return 0; }
  virtual bool capture_orphaned(uint64_t /*serial*/) const { return false; }
  virtual void deallocate_captured(void* ptr, uint64_t /*serial*/) { deallocate(ptr); }
  // Copies `bytes` from `src_ptr`, memory of another backend's device, to `dst` on this
  // one's, device to device: after the work queued on both, and before the source's later
  // work (a free of the source included). False when this pair has no such path (another
  // kind of device, no peer access): the caller goes through the host. Throws while either
  // device's stream records a CUDA graph.
  virtual bool copy_from_peer(void* /*dst*/, Backend& /*src*/, const void* /*src_ptr*/, size_t /*bytes*/) { return false; }

  // Elementwise ops over views of equal shape: strided copy with dtype conversion
  // (cast, contiguous, permute, slice, concat are all this), and fill.
  virtual void copy(const TensorView& dst, const TensorView& src) = 0;
  virtual void fill(const TensorView& dst, double value) = 0;

  virtual void gemm(const GemmParams& p) = 0;
  virtual void norm(const NormParams& p) = 0;
  virtual void softmax(const SoftmaxParams& p) = 0;
  virtual void bias_activation(const BiasActivationParams& p) = 0;
  virtual void binary(const BinaryParams& p) = 0;
  virtual void mean(const MeanParams& p) = 0;
  virtual void patch_gather(const PatchGatherParams& p) = 0;
  virtual void attention(const AttentionParams& p) = 0;
  virtual void sparse_attention(const SparseAttentionParams& p) = 0;
  // The [tile_m, tile_n] tiling of the attention kernel that serves this dtype and head dim
  // (what AttentionParams' tile lists are built for); [0, 0] where the kernel needs no tile
  // lists (the CPU's, which tests the layout per element).
  virtual void attention_tile_shape(DType dtype, int64_t head_dim, int64_t* tile_m, int64_t* tile_n) = 0;

  // Backward ops (issue 25): the gradients of the forward ops above (ops.h says what each computes).
  virtual void norm_backward(const NormBackwardParams& p) = 0;
  virtual void softmax_backward(const SoftmaxBackwardParams& p) = 0;
  virtual void activation_backward(const ActivationBackwardParams& p) = 0;
  virtual void sum_rows(const SumRowsParams& p) = 0;
  virtual void attention_backward(const AttentionBackwardParams& p) = 0;
  virtual void sparse_attention_backward(const SparseAttentionBackwardParams& p) = 0;
  // The training kit (training_ops.h says what each computes).
  virtual void cross_entropy(const CrossEntropyParams& p) = 0;
  virtual void cross_entropy_backward(const CrossEntropyBackwardParams& p) = 0;
  virtual void patch_scatter(const PatchScatterParams& p) = 0;
  virtual void multi_norm(const MultiNormParams& p) = 0;
  virtual void multi_scale(const MultiScaleParams& p) = 0;
  // The token-mixing ops of the mechanism zoo (mixing_ops.h says what each computes).
  virtual void depthwise_conv2d(const DepthwiseConv2dParams& p) = 0;
  virtual void depthwise_conv2d_backward(const DepthwiseConv2dBackwardParams& p) = 0;
  virtual void avg_pool2d(const AvgPool2dParams& p) = 0;
  virtual void avg_pool2d_backward(const AvgPool2dBackwardParams& p) = 0;
  virtual void fourier_mix(const FourierMixParams& p) = 0;

  // Random ops (random_ops.h): dropout and drop path (forward and gradient alike), raw Philox blocks.
  virtual void dropout(const DropoutParams& p) = 0;
  virtual void philox(const PhiloxParams& p) = 0;
  // Optimizers (issue 25): one fused multi-tensor step, and the loss scaler's unscale with its
  // inf/NaN check (ops.h says what each computes). Both read their host arrays before returning.
  virtual void optimizer_step(const OptimizerStepParams& p) = 0;
  virtual void unscale_grads(const UnscaleParams& p) = 0;

  // The device beyond ops (device.h). What has no meaning without a CUDA device refuses
  // here; with no capture under way, aborting one or trimming graph memory does nothing.
  virtual DeviceMemory memory() const { needs_cuda("reading memory counters"); }
  virtual void reset_peak() { needs_cuda("resetting the peak"); }
  // Hands cached blocks back, waits for the device, and returns unused memory to the driver.
  virtual void empty_cache() { needs_cuda("emptying the cache"); }
  virtual DeviceInfo device_info() const { needs_cuda("reading device facts"); }
  virtual HostTimes host_times() const { needs_cuda("reading host times"); }
  virtual void reset_host_times() { needs_cuda("resetting host times"); }
  // Records the start of a timed region on the device's stream.
  virtual std::unique_ptr<Timer> start_timer() { needs_cuda("event timing"); }
  // Between begin_capture and end_capture the device's stream records a graph instead of
  // running; end_capture returns it (or throws what broke the capture); abort_capture drops
  // one after an error.
  virtual void begin_capture() { needs_cuda("graph capture"); }
  virtual std::unique_ptr<Graph> end_capture() { needs_cuda("graph capture"); }
  virtual void abort_capture() {}
  // Waits for the device, then gives the driver back the graph memory no graph uses any more.
  virtual void trim_graph_memory() {}

  // Kernels users bring (user_kernel.h): `function` of a cubin or PTX `image`, loaded on this
  // device (a module stays loaded while the backend lives; the same image loads once).
  virtual std::unique_ptr<UserKernel> load_kernel(const std::string& /*image*/, const std::string& /*function*/) {
    needs_cuda("loading a kernel");
  }

  // The bytes of this backend's Buffers held now (tensor storages and the addon's own
  // intermediates, such as encoder_block's) and their high-water mark since reset_buffer_peak():
  // what a test of an op's memory reads on every backend (on CUDA the pool's figures add
  // what a CUDA graph holds).
  size_t buffer_bytes() const { return buffer_bytes_.load(std::memory_order_relaxed); }
  size_t buffer_peak() const { return buffer_peak_.load(std::memory_order_relaxed); }
  void reset_buffer_peak() { buffer_peak_.store(buffer_bytes(), std::memory_order_relaxed); }
  void count_buffer(size_t bytes) {
    const size_t now = buffer_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    size_t peak = buffer_peak_.load(std::memory_order_relaxed);
    while (now > peak && !buffer_peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  void uncount_buffer(size_t bytes) { buffer_bytes_.fetch_sub(bytes, std::memory_order_relaxed); }

 private:
  [[noreturn]] void needs_cuda(const char* what) const {
    throw Error(ErrorCode::InvalidArg, std::string(what) + " needs a CUDA device (" + name() + " is not one)");
  }
  std::atomic<size_t> buffer_bytes_{0}, buffer_peak_{0};
};

// A block of memory on one backend's device, freed once: by release() or on destruction.
// It keeps its backend alive, so memory outlives nothing it needs. One made while a CUDA
// graph records reads as released once its capture is orphaned (it never had memory).
class Buffer {
 public:
  Buffer(std::shared_ptr<Backend> backend, size_t bytes)
      : backend_(std::move(backend)), bytes_(bytes), capture_(backend_->capture_serial()), data_(backend_->allocate(bytes)) {
    if (data_ != nullptr) backend_->count_buffer(bytes_);
  }
  ~Buffer() { release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void release() {
    if (data_ != nullptr) {
      if (capture_ == 0) backend_->deallocate(data_);
      else backend_->deallocate_captured(data_, capture_);
      backend_->uncount_buffer(bytes_);
    }
    data_ = nullptr;
    released_ = true;
  }
  bool released() const { return released_ || orphaned(); }
  // release() has run (an orphaned buffer that nobody disposed has not).
  bool disposed() const { return released_; }
  bool orphaned() const { return capture_ != 0 && backend_->capture_orphaned(capture_); }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Backend& backend() const { return *backend_; }
  const std::shared_ptr<Backend>& backend_ptr() const { return backend_; }

 private:
  std::shared_ptr<Backend> backend_;
  size_t bytes_;
  uint64_t capture_;  // the capture that made it, 0 for none
  void* data_;
  bool released_ = false;
};

std::shared_ptr<Backend> make_cpu_backend();
#ifdef NODEFORMERS_WITH_CUDA
// Throws nf::Error when the device cannot be used.
std::shared_ptr<Backend> make_cuda_backend(int device);
int cuda_device_count();  // 0 when no driver or device
#endif

}  // namespace nf
