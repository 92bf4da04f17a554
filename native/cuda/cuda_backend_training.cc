// CudaBackend's backward and training ops: each launches its kernel family on the backend's
// stream, with workspaces from its allocator (cuda_backend.cc has the forward ops).
#include <functional>

#include "cuda_backend.h"
#include "host_timer.h"
#include "kernels.h"

namespace nf::cuda {

// The backward's workspaces (row statistics, the float32 dQ accumulator, tile lists) are
// stream-ordered like the forward's: freed right after the launches that use them.
void CudaBackend::attention_backward(const AttentionBackwardParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  Buffer workspace(shared_from_this(), attention_backward_workspace_bytes(p));
  launch_attention_backward(p, workspace.data(), stream_);
}

void CudaBackend::sparse_attention_backward(const SparseAttentionBackwardParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  Buffer workspace(shared_from_this(), sparse_attention_backward_workspace_bytes(p));
  launch_sparse_attention_backward(p, workspace.data(), stream_);
}

// The backward ops' float32 workspaces (partial column sums) are stream-ordered like the
// attention's: freed right after the launches that use them.
void CudaBackend::norm_backward(const NormBackwardParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  Buffer workspace(shared_from_this(), norm_backward_workspace_bytes(p, sm_count_));
  launch_norm_backward(p, static_cast<float*>(workspace.data()), sm_count_, stream_);
}

void CudaBackend::softmax_backward(const SoftmaxBackwardParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_softmax_backward(p, stream_); }

void CudaBackend::activation_backward(const ActivationBackwardParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  Buffer workspace(shared_from_this(), p.dbias != nullptr ? sum_rows_workspace_bytes(p.x.rows(), p.x.cols(), sm_count_) : 0);
  launch_activation_backward(p, static_cast<float*>(workspace.data()), sm_count_, stream_);
}

void CudaBackend::sum_rows(const SumRowsParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  Buffer workspace(shared_from_this(), sum_rows_workspace_bytes(p.x.rows(), p.x.cols(), sm_count_));
  launch_sum_rows(p.x.dtype, p.x.data, p.x.rows(), p.x.cols(), p.out.data, static_cast<float*>(workspace.data()), sm_count_, stream_);
}

void CudaBackend::dropout(const DropoutParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_dropout(p, stream_); }
void CudaBackend::philox(const PhiloxParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_philox(p, stream_); }
// The optimizer ops: each list's table goes to a stream-ordered device buffer, freed right
// after the launch that reads it, like the workspaces above.
void CudaBackend::launch_with_table(const MultiTensorTable& table, const std::function<void(const void*)>& launch) {
  if (capturing_) {
    throw_invalid("the optimizer ops upload their list of tensors from the host on every call, which a CUDA graph capture cannot record (" +
                  name() + " is capturing)");
  }
  activate();
  Buffer device_table(shared_from_this(), table.bytes.size());
  copy_from_host(device_table.data(), table.bytes.data(), table.bytes.size());
  launch(device_table.data());
}

void CudaBackend::optimizer_step(const OptimizerStepParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  const MultiTensorTable table = optimizer_step_table(p);
  launch_with_table(table, [&](const void* entries) { launch_optimizer_step(p, table, entries, sm_count_, stream_); });
}

void CudaBackend::unscale_grads(const UnscaleParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  const MultiTensorTable table = unscale_table(p);
  launch_with_table(table, [&](const void* entries) { launch_unscale(p, table, entries, sm_count_, stream_); });
}
// The training kit: workspaces stream-ordered as the backward ops' are.
void CudaBackend::cross_entropy(const CrossEntropyParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  Buffer workspace(shared_from_this(), cross_entropy_workspace_bytes(p));
  launch_cross_entropy(p, static_cast<float*>(workspace.data()), stream_);
}
void CudaBackend::cross_entropy_backward(const CrossEntropyBackwardParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_cross_entropy_backward(p, stream_); }
void CudaBackend::patch_scatter(const PatchScatterParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_patch_scatter(p, stream_); }
void CudaBackend::multi_norm(const MultiNormParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  Buffer workspace(shared_from_this(), multi_norm_workspace_bytes(p));
  launch_multi_norm(p, static_cast<float*>(workspace.data()), stream_);
}
void CudaBackend::multi_scale(const MultiScaleParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_multi_scale(p, stream_); }

}  // namespace nf::cuda
