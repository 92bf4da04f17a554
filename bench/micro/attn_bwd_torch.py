"""PyTorch's scaled_dot_product_attention backward at attn_bwd_check.cu's timing shapes
(B8 H16 N4096, D64 and D128, float16, full and causal), per SDPA backend, CUDA events:
median and IQR of 30 runs after 3 warm-ups; TFLOP/s = 2.5 x the forward's 4 B H N^2 D
(halved when causal), as FlashAttention reports its backward."""
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

B, H, N = 8, 16, 4096
print(f"device: {torch.cuda.get_device_name()} torch {torch.__version__}")
for D in (64, 128):
    for causal in (False, True):
        q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.float16, requires_grad=True) for _ in range(3))
        g = torch.randn(B, H, N, D, device="cuda", dtype=torch.float16)
        flops = 2.5 * 4 * B * H * N * N * D / (2 if causal else 1)
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    for _ in range(3):
                        torch.autograd.grad(o, (q, k, v), g, retain_graph=True)
                    times = []
                    for _ in range(30):
                        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        e0.record()
                        torch.autograd.grad(o, (q, k, v), g, retain_graph=True)
                        e1.record()
                        e1.synchronize()
                        times.append(e0.elapsed_time(e1))
                times.sort()
                med, iqr = times[15], times[22] - times[7]
                print(f"TIME torch {name} bwd B{B} H{H} N{N} D{D} float16 {'causal' if causal else 'full'}: "
                      f"median {med:.3f} ms, IQR {iqr:.3f} ms, {flops / (med * 1e-3) / 1e12:.1f} TFLOP/s (30 runs)")
            except Exception as e:  # a backend this build or GPU lacks
                print(f"TIME torch {name} D{D}: unavailable ({type(e).__name__}: {str(e)[:120]})")
