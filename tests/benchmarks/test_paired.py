"""Paired A/B rounds: per-round ratios against the same round's reference call."""

from __future__ import annotations

import itertools

import pytest

from ijepa_deploy.benchmarks import paired
from ijepa_deploy.progress import Progress


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


def test_candidates_load_in_groups_that_fit_in_memory(monkeypatch):
    """Each candidate adds 3 GiB once loaded and run; with 10 GiB available a group may grow 5 GiB,
    so five candidates share rounds as 2 + 2 + 1 (each called once at the largest batch on load)."""
    rss = {"gib": 1.0}
    calls = []

    class Candidate:
        def __init__(self, name):
            self.name = name

        def load(self):
            rss["gib"] += 3.0
            return lambda pixels: calls.append((self.name, len(pixels)))

    monkeypatch.setattr(paired, "available_memory_gib", lambda: 10.0)
    monkeypatch.setattr(paired, "current_rss_gib", lambda: rss["gib"])
    pending = [(f"c{i}", Candidate(f"c{i}")) for i in range(5)]
    sizes = []
    while pending:
        sizes.append(len(paired._load_group(pending, [0] * 8, Progress(quiet=True))))
    assert sizes == [2, 2, 1]
    assert calls == [(f"c{i}", 8) for i in range(5)]


def test_cross_candidate_ratios_come_from_each_rounds_eager_anchor():
    from ijepa_deploy.benchmarks.targets import versus_rounds

    a = {"round_ratios": [0.2, 0.3, 0.25]}
    b = {"round_ratios": [0.4, 0.3, 0.5]}
    assert versus_rounds(a, b) == pytest.approx([0.5, 1.0, 0.5])
    assert versus_rounds(a, {"round_ratios": [0.4]}) == [] and versus_rounds(a, None) == []


def test_a_candidate_that_fails_to_load_closes_its_group(monkeypatch):
    closed = []

    class Candidate:
        def __init__(self, name, fails=False):
            self.name, self.fails = name, fails

        def load(self):
            if self.fails:
                raise RuntimeError("cannot load")
            return lambda pixels: None

        def close(self):
            closed.append(self.name)

    monkeypatch.setattr(paired, "available_memory_gib", lambda: None)  # unknown: no budget, one group
    pending = [("a", Candidate("a")), ("b", Candidate("b")), ("c", Candidate("c", fails=True))]
    with pytest.raises(RuntimeError, match="cannot load"):
        paired._load_group(pending, [0], Progress(quiet=True))
    assert closed == ["a", "b"]
