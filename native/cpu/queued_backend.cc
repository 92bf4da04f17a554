// The CPU backend the addon uses: the kernels of cpu_backend.cc behind a CpuStream, so that
// an op returns at once and runs on the stream's thread in the order it was called. Each
// op's params are copied into its work item (they hold views and scalars; the two ops with
// host arrays get copies of those), and memory is freed in stream order, after the work
// queued before the free. Host transfers wait for the stream, as cudaMemcpy does.
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/backend.h"
#include "cpu_kernels.h"
#include "cpu_stream.h"

namespace nf {
namespace {

class QueuedCpuBackend final : public Backend {
 public:
  QueuedCpuBackend() : kernels_(cpu::make_cpu_kernels()) {}

  DeviceKind kind() const override { return DeviceKind::CPU; }
  std::string name() const override { return "cpu"; }

  void* allocate(size_t bytes) override { return kernels_->allocate(bytes); }
  void deallocate(void* ptr) override {
    if (ptr == nullptr) return;
    Backend* kernels = kernels_.get();
    stream_->run_now_or_enqueue([kernels, ptr] { kernels->deallocate(ptr); });
  }
  // The caller's bytes are read now: at once when the stream is idle, else through a copy
  // the work item owns (the caller may reuse its array as soon as this returns).
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    if (stream_->idle()) {
      std::memcpy(dst, src, bytes);
      return;
    }
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
    stream_->enqueue([dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    stream_->synchronize();
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void synchronize() override { stream_->synchronize(); }
  bool idle() override { return stream_->idle(); }

  void copy(const TensorView& dst, const TensorView& src) override {
    run([dst, src](Backend& k) { k.copy(dst, src); });
  }
  void fill(const TensorView& dst, double value) override {
    run([dst, value](Backend& k) { k.fill(dst, value); });
  }
  void attention_tile_shape(DType dtype, int64_t head_dim, int64_t* tile_m, int64_t* tile_n) override {
    kernels_->attention_tile_shape(dtype, head_dim, tile_m, tile_n);
  }

#define NF_QUEUED_OP(op, Params) \
  void op(const Params& p) override { run([p](Backend& k) { k.op(p); }); }
  NF_QUEUED_OP(gemm, GemmParams)
  NF_QUEUED_OP(norm, NormParams)
  NF_QUEUED_OP(softmax, SoftmaxParams)
  NF_QUEUED_OP(bias_activation, BiasActivationParams)
  NF_QUEUED_OP(binary, BinaryParams)
  NF_QUEUED_OP(mean, MeanParams)
  NF_QUEUED_OP(patch_gather, PatchGatherParams)
  NF_QUEUED_OP(attention, AttentionParams)
  NF_QUEUED_OP(sparse_attention, SparseAttentionParams)
  NF_QUEUED_OP(norm_backward, NormBackwardParams)
  NF_QUEUED_OP(softmax_backward, SoftmaxBackwardParams)
  NF_QUEUED_OP(activation_backward, ActivationBackwardParams)
  NF_QUEUED_OP(sum_rows, SumRowsParams)
  NF_QUEUED_OP(attention_backward, AttentionBackwardParams)
  NF_QUEUED_OP(sparse_attention_backward, SparseAttentionBackwardParams)
  NF_QUEUED_OP(cross_entropy, CrossEntropyParams)
  NF_QUEUED_OP(cross_entropy_backward, CrossEntropyBackwardParams)
  NF_QUEUED_OP(patch_scatter, PatchScatterParams)
  NF_QUEUED_OP(multi_norm, MultiNormParams)
  NF_QUEUED_OP(multi_scale, MultiScaleParams)
  NF_QUEUED_OP(depthwise_conv2d, DepthwiseConv2dParams)
  NF_QUEUED_OP(depthwise_conv2d_backward, DepthwiseConv2dBackwardParams)
  NF_QUEUED_OP(avg_pool2d, AvgPool2dParams)
  NF_QUEUED_OP(avg_pool2d_backward, AvgPool2dBackwardParams)
  NF_QUEUED_OP(fourier_mix, FourierMixParams)
  NF_QUEUED_OP(dropout, DropoutParams)
  NF_QUEUED_OP(philox, PhiloxParams)
#undef NF_QUEUED_OP

  void optimizer_step(const OptimizerStepParams& p) override { run_with_list(p, &Backend::optimizer_step); }
  void unscale_grads(const UnscaleParams& p) override { run_with_list(p, &Backend::unscale_grads); }

 private:
  // An op whose params point at a host list (`tensors`, `count` entries) the caller frees on
  // return: the work item keeps a copy of the list.
  template <typename Params>
  void run_with_list(const Params& p, void (Backend::*op)(const Params&)) {
    using Entry = std::remove_const_t<std::remove_pointer_t<decltype(p.tensors)>>;
    std::vector<Entry> list(p.tensors, p.tensors + p.count);
    run([p, op, list = std::move(list)](Backend& k) {
      Params q = p;
      q.tensors = list.data();
      (k.*op)(q);
    });
  }

  template <typename F>
  void run(F&& op) {
    Backend* kernels = kernels_.get();
    stream_->enqueue([kernels, op = std::forward<F>(op)] { op(*kernels); });
  }

  std::unique_ptr<Backend> kernels_;
  // Declared after the kernels, so destroyed before them: the stream's thread finishes the
  // queued work, which uses the kernels, before they go.
  std::unique_ptr<cpu::CpuStream> stream_ = std::make_unique<cpu::CpuStream>();
};

}  // namespace

std::shared_ptr<Backend> make_cpu_backend() { return std::make_shared<QueuedCpuBackend>(); }

}  // namespace nf
