"""Paired A/B rounds: latency ratios that stay honest on a shared machine.

Each round calls the reference once and then each candidate once, a short gap apart; a round's
ratio is candidate / reference of that round, and the reported ratio is the median over rounds.
Contention from other processes then hits both sides of a ratio alike.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ijepa_deploy.benchmarks.backends import OpenVinoBackend, OrtBackend, TorchBackend
from ijepa_deploy.benchmarks.options import COMPILE, STATUS_OK, BenchOptions
from ijepa_deploy.benchmarks.targets import target_batches
from ijepa_deploy.memory import available_memory_gib, current_rss_gib, release_memory
from ijepa_deploy.progress import Progress

# ONNX Runtime's intra-op threads spin after a run (session.intra_op.allow_spinning=1, the default)
# and torch's OpenMP threads after a parallel region: a call started right after the other
# library's call shares the cores with those spinners. The gap lets them go idle.
PAIR_GAP_S = 0.1


@dataclass
class PairedResult:
    """One candidate against the reference: the median ratio, each round's ratio, raw seconds."""

    ratio: float
    round_ratios: list[float]
    reference_s: list[float]
    candidate_s: list[float]

    def to_dict(self) -> dict:
        return {
            "ratio": self.ratio,
            "round_ratios": self.round_ratios,
            "eager_ms": [1000 * t for t in self.reference_s],
            "candidate_ms": [1000 * t for t in self.candidate_s],
        }


def paired_ratios(
    reference_call: Callable[[], object],
    candidate_calls: dict[str, Callable[[], object]],
    rounds: int = 3,
    *,
    gap_s: float = PAIR_GAP_S,
    warmup: int = 1,
) -> dict[str, PairedResult]:
    """Time ``reference_call`` and every candidate alternately for ``rounds`` rounds (after
    ``warmup`` untimed calls of each); return each candidate's :class:`PairedResult`."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    for _ in range(warmup):
        reference_call()
        for call in candidate_calls.values():
            call()
    reference_s: list[float] = []
    candidate_s: dict[str, list[float]] = {key: [] for key in candidate_calls}
    for _ in range(rounds):
        reference_s.append(_timed(reference_call, gap_s))
        for key, call in candidate_calls.items():
            candidate_s[key].append(_timed(call, gap_s))
    results = {}
    for key, times in candidate_s.items():
        ratios = [c / r for c, r in zip(times, reference_s)]
        results[key] = PairedResult(float(np.median(ratios)), ratios, list(reference_s), times)
    return results


def paired_ratio(
    reference_call: Callable[[], object],
    candidate_call: Callable[[], object],
    rounds: int = 3,
    *,
    gap_s: float = PAIR_GAP_S,
    warmup: int = 1,
) -> PairedResult:
    """:func:`paired_ratios` for one candidate: ``result.ratio`` is its median latency / reference."""
    return paired_ratios(reference_call, {"candidate": candidate_call}, rounds, gap_s=gap_s, warmup=warmup)["candidate"]


class SelfTimed(float):
    """Seconds a call measured itself. A call that returns one is timed by it instead of by the
    wall clock around it: a call into another process (the C++ driver) keeps its pipe round trip
    out of the ratio."""


def _timed(call: Callable[[], object], gap_s: float) -> float:
    time.sleep(gap_s)
    t0 = time.perf_counter()
    out = call()
    elapsed = time.perf_counter() - t0
    return float(out) if isinstance(out, SelfTimed) else elapsed


def paired_rounds(
    plan: list,
    rows: list[dict],
    holder: dict,
    pixels: np.ndarray,
    sweep: list[int],
    opts: BenchOptions,
    progress: Progress,
) -> dict:
    """The harness's rounds: eager against every ONNX Runtime CPU graph and every OpenVINO row that
    ran and torch.compile when it ran, at the target batches. Candidates share rounds in groups that
    fit in memory (a ViT-H artifact's ten CPU rows need ~24 GiB loaded at once)."""
    eager = next((b for b in plan if isinstance(b, TorchBackend) and not b.compiled), None)
    if eager is None or "loaded" not in holder:
        return {}
    ok = {(r["backend"], r["variant"]) for r in rows if r["status"] == STATUS_OK}
    ort = [
        b
        for b in plan
        if isinstance(b, OrtBackend) and b.provider_key == "cpu" and ("onnxruntime-cpu", b.variant) in ok
    ]
    if not ort:
        return {}
    pending = [(f"onnxruntime-cpu {b.variant}", b) for b in ort]
    pending += [
        (f"{b.name} {b.variant}", b) for b in plan if isinstance(b, OpenVinoBackend) and (b.name, b.variant) in ok
    ]
    compiled = next((b for b in plan if isinstance(b, TorchBackend) and b.compiled), None)
    if compiled is not None and (COMPILE, "fp32") in ok:
        # its sweep row can land in a busy minute like any other (recompiles on the first call)
        pending.append((f"{COMPILE} fp32", compiled))
    batches = target_batches(sweep)
    largest = np.ascontiguousarray(pixels[: max(batches)])
    result: dict = {
        "rounds": opts.paired_rounds,
        "method": "per round: eager once, then each candidate of its "
        f"memory group once, {PAIR_GAP_S:g} s apart; ratio = median over rounds of candidate / eager "
        "of the same round",
        "groups": [],
        "ratios": {},
    }
    eager_call = eager.load()
    try:
        while pending:
            group = _load_group(pending, largest, progress)
            result["groups"].append(list(group))
            try:
                _measure_group(eager_call, group, pixels, batches, opts, progress, result["ratios"])
            finally:
                for backend, _ in group.values():
                    backend.close()
                release_memory()
    finally:
        eager.close()
        gc.collect()
    return result


def _load_group(pending: list, largest: np.ndarray, progress: Progress) -> dict:
    """Load candidates from ``pending`` (removing them) while the group's resident growth, each
    measured after a call at the largest target batch, stays under half the memory available when
    the group started: the next candidate then still fits, however large (one always loads)."""
    available = available_memory_gib()
    budget = 0.5 * available if available else float("inf")
    start = current_rss_gib()
    group: dict = {}
    try:
        while pending and (not group or current_rss_gib() - start < budget):
            key, backend = pending.pop(0)
            group[key] = (backend, backend.load())
            group[key][1](largest)
    except BaseException:  # the rounds cannot run: free what this group holds before the error goes up
        for backend, _ in group.values():
            backend.close()
        raise
    if pending:
        progress.say(
            f"[paired] group of {len(group)} uses {current_rss_gib() - start:.1f} GiB of a "
            f"{budget:.1f} GiB budget; the other {len(pending)} candidates follow in their own rounds"
        )
    return group


def _measure_group(
    eager_call,
    group: dict,
    pixels: np.ndarray,
    batches: list[int],
    opts: BenchOptions,
    progress: Progress,
    ratios: dict,
) -> None:
    for n in batches:
        batch = np.ascontiguousarray(pixels[:n])
        measured = paired_ratios(
            lambda batch=batch: eager_call(batch),
            {k: (lambda c=c, batch=batch: c(batch)) for k, (_, c) in group.items()},
            opts.paired_rounds,
        )
        for key, pair in measured.items():
            ratios.setdefault(key, {})[str(n)] = pair.to_dict()
            progress.say(
                f"[paired] {key} batch {n}: {pair.ratio:.3f} x eager "
                f"(rounds {', '.join(f'{r:.3f}' for r in pair.round_ratios)})"
            )
