"""PyTorch's side of bench/micro/lt_algos.cu: torch.nn.functional.linear on the same ViT
cases, measured the same three ways (N = 100 calls a time, the median of 5):
  host   the host's time per call while torch.cuda._sleep keeps the GPU busy
  gpu    the GPU's time per call back to back, events recorded after the sleep
  eager  events around N calls on an idle GPU
Usage: python3 bench/micro/torch_linear_host.py"""
import statistics
import time

import torch
import torch.nn.functional as F

CALLS, REPEATS = 100, 5
CASES = [
    ("f16 12608x96 -> 288 +bias", torch.float16, 96, 288, False),
    ("f16 12608x96 -> 96 +bias", torch.float16, 96, 96, False),
    ("f16 12608x96 -> 288 +bias+gelu", torch.float16, 96, 288, True),
    ("f16 12608x288 -> 96 +bias", torch.float16, 288, 96, False),
    ("f32 12608x96 -> 96 +bias", torch.float32, 96, 96, False),
]


def sleep_cycles(us):
    torch.cuda._sleep(int(us * 1980))  # cycles at the 1980 MHz SM clock


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for name, dtype, k, n, gelu in CASES:
        x = torch.zeros(12608, k, device="cuda", dtype=dtype)
        w = torch.zeros(n, k, device="cuda", dtype=dtype)
        b = torch.zeros(n, device="cuda", dtype=dtype)
        call = (lambda: F.gelu(F.linear(x, w, b), approximate="tanh")) if gelu else (lambda: F.linear(x, w, b))
        for _ in range(20):
            call()
        torch.cuda.synchronize()

        def event_us(sleep_first):
            """Events around CALLS calls, per call: behind a sleep the GPU's time, else the eager time."""
            if sleep_first:
                sleep_cycles(CALLS * 25)
            start.record()
            for _ in range(CALLS):
                call()
            stop.record()
            stop.synchronize()
            return start.elapsed_time(stop) * 1e3 / CALLS

        host, gpu, eager = [], [], []
        for _ in range(REPEATS):
            sleep_cycles(CALLS * 25)
            t0 = time.perf_counter()
            for _ in range(CALLS):
                call()
            host.append((time.perf_counter() - t0) * 1e6 / CALLS)
            torch.cuda.synchronize()
            gpu.append(event_us(True))
            eager.append(event_us(False))
        print(f"  torch {name:32s} host {statistics.median(host):6.2f}  gpu {statistics.median(gpu):6.2f}  "
              f"eager {statistics.median(eager):6.2f} us")


main()
