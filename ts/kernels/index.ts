// Kernels users bring (issue 26): CUDA C++ compiled at run time by NVRTC (cuda.compile),
// compiled modules (loadKernel), Triton's ahead-of-time artifacts (loadTritonKernel), each a
// Kernel launched on a device's stream with its arguments checked against its signature.
export { Kernel } from './kernel';
export type { Dim3, FixedLaunch, KernelArg, KernelAttributes, KernelOrigin, LaunchConfig } from './kernel';
export { compileKernel } from './compile';
export type { CompileError, CompileOptions } from './compile';
export { loadKernel } from './load';
export type { LoadKernelOptions } from './load';
export { loadTritonKernel } from './triton';
export type { TritonKernelOptions } from './triton';
