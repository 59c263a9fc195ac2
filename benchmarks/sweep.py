"""One row of the report: load its backend, then time it at every batch of the sweep, each point
with its roofline numbers and its parity against eager on the same pixels."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ijepa_deploy.benchmarks.backends import Backend, Unavailable
from ijepa_deploy.benchmarks.machine import STALL_LIMIT, cpu_stall_us, stalled
from ijepa_deploy.benchmarks.options import COMPILE, EAGER, STATUS_FAILED, STATUS_OK, STATUS_UNAVAILABLE, BenchOptions
from ijepa_deploy.benchmarks.timing import latency_stats, time_fn
from ijepa_deploy.memory import current_rss_gib
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime.acceptance.parity import compare_outputs


@dataclass
class Sweep:
    """What every row of a run shares: inputs, batch sizes, cost model and eager's results."""

    pixels: np.ndarray
    batches: list[int]
    gflop_per_image: float
    peak_gflop_s: float | None
    primary: str
    opts: BenchOptions
    progress: Progress
    eager_out: dict = field(default_factory=dict)  # batch -> eager outputs
    eager_p50: dict = field(default_factory=dict)  # batch -> eager p50 ms


def compare(ref: np.ndarray, got: np.ndarray) -> dict:
    """Per-image cosine (min over the batch) and max abs error of ``got`` against ``ref``."""
    if np.shape(ref) != np.shape(got):
        return {
            "min_cosine": None,
            "max_abs": None,
            "finite": False,
            "note": f"shape {list(np.shape(got))} vs eager {list(np.shape(ref))}",
        }
    stats = compare_outputs(np.asarray(ref), np.asarray(got))
    if not stats["finite"]:
        return {"min_cosine": None, "max_abs": None, "finite": False, "note": "non-finite outputs"}
    return {"min_cosine": stats["min_cosine"], "max_abs": stats["max_abs"], "finite": True}


def new_row(backend: Backend) -> dict:
    row = {
        "backend": backend.name,
        "variant": backend.variant,
        "precision": backend.precision,
        "status": STATUS_OK,
        "reason": None,
        "details": backend.details(),
        "points": [],
    }
    if backend.unverified:
        row["unverified"] = backend.unverified
    return row


def load_row(backend: Backend, row: dict, progress: Progress):
    """The backend's callable, or None with the row marked unavailable / failed."""
    rss_before = current_rss_gib()
    t0 = time.perf_counter()
    try:
        fn = backend.load()
    except Unavailable as exc:
        row.update(status=STATUS_UNAVAILABLE, reason=str(exc))
        progress.say(f"[{backend.label}] unavailable: {exc}")
        return None
    except Exception as exc:  # any engine library error: the row records it, the run goes on
        row.update(status=STATUS_FAILED, reason=f"{type(exc).__name__}: {exc}"[:400])
        progress.say(f"[{backend.label}] FAILED to load: {row['reason']}")
        return None
    row["load_seconds"] = time.perf_counter() - t0
    row["rss_after_load_delta_gib"] = current_rss_gib() - rss_before
    row["details"] = backend.details()  # again: some facts exist only once loaded (OpenVINO's precision)
    return fn


def measure_row(backend: Backend, fn, row: dict, sweep: Sweep) -> None:
    """Time ``fn`` at each batch of the sweep into ``row["points"]`` (within the time budget)."""
    opts, progress = sweep.opts, sweep.progress
    first_calls: dict = {}
    row_start = time.perf_counter()
    try:
        for n in sweep.batches:
            spent = time.perf_counter() - row_start
            if opts.max_backend_seconds and row["points"] and spent > opts.max_backend_seconds:
                row.setdefault("skipped_batches", []).append(n)
                row["skip_reason"] = (
                    f"over the per-backend budget ({spent:.0f} s > --max-backend-seconds {opts.max_backend_seconds:g})"
                )
                progress.say(f"[{backend.label}] batch {n} skipped: {row['skip_reason']}")
                continue
            point, first_calls[str(n)] = measure_point(backend, fn, n, sweep)
            if stalled(point):
                point = remeasure_point(backend, fn, point, sweep)
            row["points"].append(point)
    except Exception as exc:  # a run-time engine error: the row records it, the run goes on
        row.update(status=STATUS_FAILED, reason=f"{type(exc).__name__}: {exc}"[:400])
        progress.say(f"[{backend.label}] FAILED: {row['reason']}")
    if backend.name == COMPILE and first_calls:
        steady = {p["batch"]: p["p50_ms"] / 1000.0 for p in row["points"]}
        row["compile_seconds"] = sum(max(0.0, first_calls[str(b)] - steady.get(b, 0.0)) for b in steady)
        row["first_call_seconds"] = first_calls


def measure_point(backend: Backend, fn, n: int, sweep: Sweep) -> tuple[dict, float]:
    """One (backend, batch) point and the seconds its first call took."""
    opts = sweep.opts
    batch = np.ascontiguousarray(sweep.pixels[:n])
    with sweep.progress.step(
        f"{backend.label} batch {n}",
        f"warm-up {opts.warmup}, >= {opts.min_iters} iterations and >= {opts.min_seconds:g} s",
    ):
        stall0, wall0 = cpu_stall_us(), time.perf_counter()
        times, out, first = time_fn(
            lambda: fn(batch),
            warmup=opts.warmup,
            min_iters=opts.min_iters,
            min_seconds=opts.min_seconds,
            max_iters=opts.max_iters,
        )
        stall1, wall1 = cpu_stall_us(), time.perf_counter()
    point = {"batch": n, **latency_stats(times, n)}
    point["cpu_stall_fraction"] = (
        (stall1 - stall0) / 1e6 / (wall1 - wall0) if stall0 is not None and stall1 is not None else None
    )
    point["gflop_s"] = sweep.gflop_per_image * n / (point["p50_ms"] / 1000.0)
    point["peak_fraction"] = point["gflop_s"] / sweep.peak_gflop_s if sweep.peak_gflop_s else None
    if backend.name == EAGER:
        sweep.eager_out[n] = out
        sweep.eager_p50[n] = point["p50_ms"]
    point["latency_vs_eager"] = point["p50_ms"] / sweep.eager_p50[n] if n in sweep.eager_p50 else None
    ref = sweep.eager_out.get(n, {})
    point["parity"] = {name: compare(ref[name], out[name]) for name in ref if name in out}
    cos = point["parity"].get(sweep.primary, {}).get("min_cosine")
    sweep.progress.say(
        f"[{backend.label}] batch {n}: p50 {point['p50_ms']:.1f} ms ({point['iterations']} it), "
        f"{point['throughput_img_s']:.2f} img/s, {point['gflop_s']:.0f} GFLOP/s"
        + (f", {point['latency_vs_eager']:.2f}x eager" if point["latency_vs_eager"] else "")
        + (f", cos {cos:.6f}" if cos is not None else "")
    )
    return point, first


ATTEMPT_KEYS = ("iterations", "p50_ms", "p90_ms", "p99_ms", "cpu_stall_fraction")


def remeasure_point(backend: Backend, fn, first: dict, sweep: Sweep) -> dict:
    """A point that ran under a CPU stall above STALL_LIMIT, measured once more: the attempt with
    the lower stall is kept, both are recorded in its ``attempts`` (the kept one flagged)."""
    n = first["batch"]
    sweep.progress.say(
        f"[{backend.label}] batch {n}: CPU stall {first['cpu_stall_fraction']:.0%} > "
        f"{STALL_LIMIT:.0%}, measuring it again once"
    )
    again, _ = measure_point(backend, fn, n, sweep)
    kept = again if again["cpu_stall_fraction"] <= first["cpu_stall_fraction"] else first
    if backend.name == EAGER:  # the other rows' latency / eager refers to the kept attempt
        sweep.eager_p50[n] = kept["p50_ms"]
    kept["attempts"] = [{**{k: p[k] for k in ATTEMPT_KEYS}, "kept": p is kept} for p in (first, again)]
    return kept
