"""Timing one call: warm-up, iterations until a count and a wall time are reached, percentiles."""

from __future__ import annotations

import time

import numpy as np


def time_fn(fn, *, warmup: int, min_iters: int, min_seconds: float, max_iters: int):
    """Run ``fn`` ``warmup`` times, then until ``min_iters`` runs AND ``min_seconds`` have passed
    (or ``max_iters``). Returns (latencies in seconds, the last output, first-call seconds)."""
    first = None
    out = None
    for i in range(max(0, warmup)):
        t0 = time.perf_counter()
        out = fn()
        if i == 0:
            first = time.perf_counter() - t0
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if first is None:
            first = times[0]
        if len(times) >= max_iters:
            break
        if len(times) >= min_iters and time.perf_counter() - start >= min_seconds:
            break
    return times, out, first


def latency_stats(times: list[float], batch: int) -> dict:
    arr = np.asarray(times, dtype=np.float64) * 1000.0
    p50 = float(np.percentile(arr, 50))
    return {
        "iterations": int(arr.size),
        "p50_ms": p50,
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(arr.mean()),
        "min_ms": float(arr.min()),
        "max_ms": float(arr.max()),
        "throughput_img_s": batch / (p50 / 1000.0) if p50 > 0 else float("inf"),
    }


def repeat(fn, reps: int, seconds: float) -> list[float]:
    """Seconds per call of ``fn``: at least ``reps`` calls and ``seconds`` (at most 1000 calls)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start < seconds and len(times) < 1000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times
