"""The perf checker itself (default run, no model): a stand-in slow backend fails with its ratio."""

from __future__ import annotations

import time

import pytest

from ijepa_deploy.benchmarks.latency_limits import Limit, check, measure
from ijepa_deploy.benchmarks.paired import paired_ratio


def sleeper(seconds: float):
    return lambda: time.sleep(seconds)


def test_a_slow_backend_fails_with_its_ratio_in_the_message():
    limit = Limit("cpu", "onnxruntime", "fp32", "eager", 0.90)
    measured = measure(limit, sleeper(0.01), sleeper(0.03), rounds=3, gap_s=0)
    assert 2.0 < measured.ratio < 4.0 and len(measured.round_ratios) == 9  # over: 6 more rounds, still over
    seen: list[str] = []
    with pytest.raises(AssertionError) as info:
        check(limit, {1: measured}, report=seen.extend)
    message = str(info.value)
    assert f"{measured.ratio:.3f}x eager (limit 0.90x) OVER LIMIT" in message
    assert "cpu-onnxruntime-fp32 batch 1" in message and seen and "OVER LIMIT" in seen[0]


def test_a_fast_backend_passes_and_every_ratio_is_reported():
    limit = Limit("cpu", "onnxruntime", "int8-cpu", "eager", 0.50)
    fast = paired_ratio(sleeper(0.02), sleeper(0.002), rounds=3, gap_s=0)
    slow = paired_ratio(sleeper(0.01), sleeper(0.02), rounds=3, gap_s=0)
    lines = check(limit, {1: fast})
    assert len(lines) == 1 and "ok" in lines[0] and "limit 0.50x" in lines[0]
    with pytest.raises(AssertionError) as info:  # one batch over the limit fails the whole check
        check(limit, {1: fast, 8: slow})
    assert "batch 8" in str(info.value) and "batch 1:" not in str(info.value)



def test_a_busy_stretch_is_re_measured_before_it_fails():
    """Slow for the warm-up and the first 3 rounds (a neighbour's job), fast afterwards: the 6 more
    rounds decide, over all 9 rounds."""
    calls = []

    def candidate():
        calls.append(1)
        time.sleep(0.03 if len(calls) <= 4 else 0.002)

    limit = Limit("cpu", "onnxruntime", "fp32", "eager", 0.90)
    measured = measure(limit, sleeper(0.01), candidate, rounds=3, gap_s=0)
    assert min(measured.round_ratios[:3]) > 0.9 and len(measured.round_ratios) == 9 and measured.ratio < 0.9
    assert "ok" in check(limit, {1: measured})[0]
