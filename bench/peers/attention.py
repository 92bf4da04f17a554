"""PyTorch side of bench/attention.ts: SDPA backends on the same shapes, same method.

Usage: python3 bench/peers/attention.py cases.json out.json
Each case: {B, N, H, D, dtype}; q, k, v in PyTorch's [B, H, N, D] layout.
"""
import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from timing import blocked_autorange, summary

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "math": SDPBackend.MATH,
}


def main():
    cases = json.load(open(sys.argv[1]))
    results = []
    for case in cases:
        dt = DTYPES[case["dtype"]]
        q, k, v = (torch.randn(case["B"], case["H"], case["N"], case["D"], device="cuda", dtype=dt) for _ in range(3))
        row = {}
        for name, backend in BACKENDS.items():
            def fn():
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v)
            try:
                fn()
                times, number = blocked_autorange(fn, min_run_time=case.get("minRunTime", 0.5))
                row[name] = summary(times, number)
            except Exception as e:  # a backend that refuses the shape says why
                row[name] = {"error": str(e).split("\n")[0][:160]}
            torch.cuda.empty_cache()
        results.append({**case, "torch": row})
    json.dump({"torch": torch.__version__, "results": results}, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
