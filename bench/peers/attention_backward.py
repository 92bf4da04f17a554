"""PyTorch side of ts/bench/suite/attention_backward.ts: SDPA's backward by backend, same method.

Usage: python3 bench/peers/attention_backward.py cases.json out.json
Each case: {B, N, H, D, dtype, causal}; q, k, v in PyTorch's [B, H, N, D] layout, requiring
grad, and a gradient dO of out's shape. Per backend (flash, efficient, cudnn), forced with
sdpa_kernel (the forward fixes the backward's kernel):
  "backward <backend>": torch.autograd.grad(out, (q, k, v), dO, retain_graph=True) on one
      forward's graph: the backward alone;
  "f+b <backend>": the forward and out.backward(dO), gradients accumulating in q.grad, ...
"""
import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from timing import timed

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}


def backend_rows(q, k, v, dout, causal, backend, min_run_time):
    """The backward alone and the forward + backward with one SDPA backend forced."""
    def forward():
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    try:
        out = forward()
    except Exception as e:  # the backend refuses the shape: both rows say why
        error = {"error": str(e).split("\n")[0][:160]}
        return error, error
    backward = timed(lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True), min_run_time)
    out = None
    fb = timed(lambda: forward().backward(dout), min_run_time)
    for t in (q, k, v):
        t.grad = None
    return backward, fb


def main():
    cases = json.load(open(sys.argv[1]))
    results = []
    for case in cases:
        dt = DTYPES[case["dtype"]]
        shape = (case["B"], case["H"], case["N"], case["D"])
        q, k, v = (torch.randn(shape, device="cuda", dtype=dt, requires_grad=True) for _ in range(3))
        dout = torch.randn(shape, device="cuda", dtype=dt)
        causal = case.get("causal", False)
        row = {}
        for name, backend in BACKENDS.items():
            row[f"backward {name}"], row[f"f+b {name}"] = backend_rows(q, k, v, dout, causal, backend, case.get("minRunTime", 0.25))
            torch.cuda.empty_cache()
        print(f"peer B{case['B']} H{case['H']} N{case['N']} D{case['D']} {case['dtype']}{' causal' if causal else ''}: " + ", ".join(
            f"{key} {t['median'] * 1e3:.3f} ms" if "median" in t else f"{key} n/a" for key, t in row.items()), flush=True)
        results.append({**case, "torch": row})
    json.dump({"torch": torch.__version__, "results": results}, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
