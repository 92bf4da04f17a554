"""PyTorch side of bench/ops.ts: the same fused-op cases on the same GPU, same method, each
timed eagerly and as GRAPH_CALLS calls captured in one CUDA graph (per call, GPU time only).

Usage: python3 bench/peers/ops.py cases.json out.json
"""
import json
import sys

import torch
import torch.nn.functional as F

from timing import blocked_autorange, summary

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
GRAPH_CALLS = 20  # as in bench/ops.ts


def graphed(fn, min_run_time):
    """Seconds per call of fn with GRAPH_CALLS calls replayed as one CUDA graph."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(GRAPH_CALLS):
            fn()
    times, number = blocked_autorange(graph.replay, min_run_time=min_run_time)
    s = summary([t / GRAPH_CALLS for t in times], number)
    del graph
    return {k: s[k] for k in ("median", "q1", "q3")}


def case_fn(case):
    dt = DTYPES[case["dtype"]]
    dev = "cuda"
    op = case["op"]
    if op == "copy":
        x = torch.randn(case["shape"], device=dev, dtype=dt)
        out = torch.empty_like(x)
        return lambda: out.copy_(x)
    if op == "layerNorm":
        rows, cols = case["shape"]
        x = torch.randn(rows, cols, device=dev, dtype=dt)
        w = torch.randn(cols, device=dev, dtype=dt)
        b = torch.randn(cols, device=dev, dtype=dt)
        return lambda: F.layer_norm(x, (cols,), w, b, 1e-5)
    if op == "softmax":
        x = torch.randn(case["shape"], device=dev, dtype=dt)
        return lambda: torch.softmax(x, dim=-1)
    if op == "biasGelu":
        rows, cols = case["shape"]
        x = torch.randn(rows, cols, device=dev, dtype=dt)
        b = torch.randn(cols, device=dev, dtype=dt)
        return lambda: F.gelu(x + b)
    if op == "linear":
        m, k, n = case["m"], case["k"], case["n"]
        x = torch.randn(m, k, device=dev, dtype=dt)
        w = torch.randn(n, k, device=dev, dtype=dt)
        b = torch.randn(n, device=dev, dtype=dt)
        if case.get("activation") == "gelu":
            return lambda: F.gelu(F.linear(x, w, b))
        return lambda: F.linear(x, w, b)
    raise ValueError(op)


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    cases = json.load(open(sys.argv[1]))
    results = []
    for case in cases:
        fn = case_fn(case)
        times, number = blocked_autorange(fn, min_run_time=case.get("minRunTime", 0.5))
        results.append({**case, **summary(times, number), "graph": graphed(fn, case.get("minRunTime", 0.5))})
        torch.cuda.empty_cache()
    json.dump({"torch": torch.__version__, "device": torch.cuda.get_device_name(), "results": results},
              open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
