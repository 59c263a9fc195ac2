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


@pytest.mark.parametrize("has_int8_dot", [True, False])
def test_a_cpu_class_limit_is_measured_only_on_that_class_of_cpu(monkeypatch, tmp_path, has_int8_dot):
    """The int8-cpu vs eager limit depends on whether the CPU has int8 dot products: exactly one of
    the pair applies on any host; the other says why it was not measured (before any runner opens)."""
    from ijepa_deploy.benchmarks import latency_limits

    monkeypatch.setattr(latency_limits, "int8_dot_product", lambda: has_int8_dot)
    pair = [lim for lim in latency_limits.LIMITS if lim.variant == "int8-cpu" and lim.baseline == "eager"]
    assert sorted(lim.cpu for lim in pair) == ["int8-dot", "no-int8-dot"]
    skipped, reached = [], []

    def no_runner(*args):
        reached.append(args)
        raise latency_limits.Unavailable("stop before opening a runner")

    monkeypatch.setattr(latency_limits, "_runner", no_runner)
    for lim in pair:
        with pytest.raises(latency_limits.Unavailable) as info:
            latency_limits.measure_limit(lim, tmp_path, None, None, None)
        if "VNNI" in str(info.value):
            skipped.append(lim.cpu)
    assert skipped == ["no-int8-dot" if has_int8_dot else "int8-dot"] and len(reached) == 1
