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
from ijepa_deploy.benchmarks.targets import cpu_int8_variants, target_batches
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
        return {"ratio": self.ratio, "round_ratios": self.round_ratios,
                "eager_ms": [1000 * t for t in self.reference_s],
                "candidate_ms": [1000 * t for t in self.candidate_s]}


def paired_ratios(reference_call: Callable[[], object], candidate_calls: dict[str, Callable[[], object]],
                  rounds: int = 3, *, gap_s: float = PAIR_GAP_S, warmup: int = 1) -> dict[str, PairedResult]:
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


def paired_ratio(reference_call: Callable[[], object], candidate_call: Callable[[], object], rounds: int = 3,
                 *, gap_s: float = PAIR_GAP_S, warmup: int = 1) -> PairedResult:
    """:func:`paired_ratios` for one candidate: ``result.ratio`` is its median latency / reference."""
    return paired_ratios(reference_call, {"candidate": candidate_call}, rounds, gap_s=gap_s,
                         warmup=warmup)["candidate"]


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


def paired_rounds(plan: list, rows: list[dict], holder: dict, pixels: np.ndarray, sweep: list[int],
                  opts: BenchOptions, progress: Progress) -> dict:
    """The harness's rounds: eager against the target graphs (ONNX Runtime CPU fp32 and the CPU INT8
    graph), every OpenVINO row and torch.compile when it ran, at the target batches."""
    eager = next((b for b in plan if isinstance(b, TorchBackend) and not b.compiled), None)
    if eager is None or "loaded" not in holder:
        return {}
    ok = {(r["backend"], r["variant"]) for r in rows if r["status"] == STATUS_OK}
    ran = [b for b in plan if isinstance(b, OrtBackend) and b.provider_key == "cpu"
           and ("onnxruntime-cpu", b.variant) in ok]
    int8 = cpu_int8_variants([b.variant for b in ran])
    targets = [b for b in ran if b.variant == "fp32" or b.variant in int8]
    if not targets:
        return {}
    # every OpenVINO row that ran (each graph and bf16), so the CPU engines compare in the same rounds
    openvino = [b for b in plan if isinstance(b, OpenVinoBackend) and (b.name, b.variant) in ok]
    backends = [eager, *targets, *openvino]
    calls = {f"onnxruntime-cpu {b.variant}": b.load() for b in targets}
    calls.update({f"{b.name} {b.variant}": b.load() for b in openvino})
    compiled = next((b for b in plan if isinstance(b, TorchBackend) and b.compiled), None)
    if compiled is not None and (COMPILE, "fp32") in ok:
        # its sweep row can land in a busy minute like any other (recompiles on the first call)
        calls[f"{COMPILE} fp32"] = compiled.load()
        backends.append(compiled)
    eager_call = eager.load()
    result: dict = {"rounds": opts.paired_rounds, "method": "per round: eager once, then each candidate "
                    f"once, {PAIR_GAP_S:g} s apart; ratio = median over rounds of candidate / eager of the same "
                    "round", "ratios": {}}
    try:
        for n in target_batches(sweep):
            batch = np.ascontiguousarray(pixels[:n])
            measured = paired_ratios(lambda batch=batch: eager_call(batch),
                                     {k: (lambda c=c, batch=batch: c(batch)) for k, c in calls.items()},
                                     opts.paired_rounds)
            for key, pair in measured.items():
                result["ratios"].setdefault(key, {})[str(n)] = pair.to_dict()
                progress.say(f"[paired] {key} batch {n}: {pair.ratio:.3f} x eager "
                             f"(rounds {', '.join(f'{r:.3f}' for r in pair.round_ratios)})")
    finally:
        for backend in backends:
            backend.close()
        gc.collect()
    return result
