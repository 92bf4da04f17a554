"""The benchmark method of ts/bench/timer.ts in PyTorch: blocked autorange with CUDA events.

Warm up, choose runs per block (grow 10x until the event overhead is under 1e-4 of a
block and the block lasts min_run_time / 1000, or exceeds min_run_time), then time blocks
until min_run_time is spent. Returns seconds per run for each block.
"""
import torch


def _time_block(fn, number):
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(number):
        fn()
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / 1e3


def blocked_autorange(fn, min_run_time=1.0, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    overhead = sorted(_time_block(fn, 0) for _ in range(5))[2]
    number = 1
    while True:
        taken = _time_block(fn, number)
        if taken > 0 and overhead / taken <= 1e-4 and taken >= min_run_time / 1000:
            break
        if taken > min_run_time or number * 10 > 2**31 - 1:
            break
        number *= 10
    times, total = [], 0.0
    while total < min_run_time or len(times) < 3:
        t = _time_block(fn, number)
        total += t
        times.append(t / number)
    times.sort()
    return times, number


def timed(fn, min_run_time=0.5):
    """One call, then blocked_autorange's summary; or {error} when fn raises (a backend that refuses the case says why)."""
    try:
        fn()
        torch.cuda.synchronize()
        times, number = blocked_autorange(fn, min_run_time=min_run_time)
        return summary(times, number)
    except Exception as e:
        return {"error": str(e).split("\n")[0][:200]}


def quantile(sorted_times, q):
    pos = (len(sorted_times) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(sorted_times) - 1)
    return sorted_times[lo] + (sorted_times[hi] - sorted_times[lo]) * (pos - lo)


def summary(times, number):
    return {
        "median": quantile(times, 0.5),
        "q1": quantile(times, 0.25),
        "q3": quantile(times, 0.75),
        "measurements": len(times),
        "runsPerMeasurement": number,
        "times": times,
    }
