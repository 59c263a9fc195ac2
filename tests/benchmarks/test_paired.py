"""Paired A/B rounds: per-round ratios against the same round's reference call."""

from __future__ import annotations

import itertools

import pytest

from ijepa_deploy.benchmarks import paired


def _fake_clock(monkeypatch, durations):
    """time.perf_counter advancing by the next of ``durations`` on every second call (start/stop)."""
    now = itertools.count()
    clock = {"t": 0.0}
    steps = iter(durations)

    def perf_counter():
        if next(now) % 2:
            clock["t"] += next(steps)
        return clock["t"]

    monkeypatch.setattr(paired.time, "perf_counter", perf_counter)
    monkeypatch.setattr(paired.time, "sleep", lambda s: None)


def test_ratio_is_the_median_of_same_round_ratios(monkeypatch):
    # rounds: (reference, candidate) = (1.0, 0.5), (4.0, 1.0), (1.0, 0.7): a busy second round
    _fake_clock(monkeypatch, [1.0, 0.5, 4.0, 1.0, 1.0, 0.7])
    calls = []
    result = paired.paired_ratio(lambda: calls.append("ref"), lambda: calls.append("cand"), rounds=3, warmup=1)
    assert calls == ["ref", "cand"] * 4  # one warm-up, then alternating
    assert result.round_ratios == pytest.approx([0.5, 0.25, 0.7])
    assert result.ratio == pytest.approx(0.5)
    assert result.reference_s == pytest.approx([1.0, 4.0, 1.0]) and result.candidate_s == pytest.approx([0.5, 1.0, 0.7])
    assert result.to_dict()["eager_ms"] == pytest.approx([1000.0, 4000.0, 1000.0])


def test_several_candidates_share_each_rounds_reference(monkeypatch):
    _fake_clock(monkeypatch, [2.0, 1.0, 4.0, 2.0, 1.0, 4.0])
    results = paired.paired_ratios(lambda: None, {"a": lambda: None, "b": lambda: None}, rounds=2, warmup=0)
    assert results["a"].round_ratios == pytest.approx([0.5, 0.5])
    assert results["b"].round_ratios == pytest.approx([2.0, 2.0])
    with pytest.raises(ValueError, match="rounds"):
        paired.paired_ratio(lambda: None, lambda: None, rounds=0)
