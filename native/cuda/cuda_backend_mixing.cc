// CudaBackend's token-mixing ops (core/mixing_ops.h): the depthwise windows launch their
// kernels (depthwise_window.cu); the Fourier mix runs cuFFT (fft_plans.h) between its two
// elementwise kernels (fourier_mix.cu). Workspaces are stream-ordered like the backward ops'.
#include <memory>

#include "cuda_backend.h"
#include "host_timer.h"
#include "kernels.h"
#ifdef NODEFORMERS_WITH_CUFFT
#include "fft_plans.h"
#endif

namespace nf::cuda {

void CudaBackend::depthwise_conv2d(const DepthwiseConv2dParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_depthwise_conv2d(p, stream_); }

void CudaBackend::depthwise_conv2d_backward(const DepthwiseConv2dBackwardParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  Buffer workspace(shared_from_this(), depthwise_conv2d_backward_workspace_bytes(p, sm_count_));
  launch_depthwise_conv2d_backward(p, static_cast<float*>(workspace.data()), sm_count_, stream_);
}

void CudaBackend::avg_pool2d(const AvgPool2dParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_avg_pool2d(p, stream_); }

void CudaBackend::avg_pool2d_backward(const AvgPool2dBackwardParams& p) { HostTimer timer(host_times_, kHostKernel); activate(); launch_avg_pool2d_backward(p, stream_); }

void CudaBackend::fourier_mix(const FourierMixParams& p) {
  HostTimer timer(host_times_, kHostKernel);
  activate();
  const FftShape s = fourier_shape(p);
  if (s.rows * s.len == 1) {  // the transform of one value is itself
    launch_copy(p.out, p.x, stream_);
    return;
  }
#ifndef NODEFORMERS_WITH_CUFFT
  throw_invalid("fourier_mix: this build's CUDA backend has no cuFFT (it was not found when the addon was built)");
#else
  if (!fft_plans_) fft_plans_ = std::make_shared<FftPlans>();
  Buffer real(shared_from_this(), static_cast<size_t>(p.x.numel()) * sizeof(float));
  Buffer spectrum(shared_from_this(), static_cast<size_t>(s.batch * s.rows * (s.len / 2 + 1)) * 2 * sizeof(float));
  launch_fourier_to_real(p, static_cast<float*>(real.data()), stream_);
  fft_plans_->real_to_complex(shared_from_this(), s, static_cast<float*>(real.data()), spectrum.data(), stream_, capturing_);
  launch_fourier_real_part(p, s, spectrum.data(), stream_);
#endif
}

}  // namespace nf::cuda
