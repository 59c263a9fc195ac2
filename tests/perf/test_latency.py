"""``pytest -m perf [--artifact=DIR]``: every limit of ijepa_deploy.benchmarks.latency_limits.LIMITS
(graphs and engines against eager PyTorch on the same device, and the artifact's variants against
each other) in paired rounds on the saved reference photos: the code ``ijepa-check --perf`` runs.
A limit whose graph, engine, library or device this host or artifact lacks is skipped with the
reason."""

from __future__ import annotations

import pytest

from ijepa_deploy.benchmarks.latency_limits import LIMITS, Unavailable, check, measure_limit

CPU_LIMITS = [lim for lim in LIMITS if lim.device == "cpu"]
GPU_LIMITS = [lim for lim in LIMITS if lim.device == "cuda"]


def _check(limit, perf_artifact, perf_manifest, perf_pixels, perf_eager, record_ratio):
    try:
        results = measure_limit(limit, perf_artifact, perf_manifest, perf_pixels, perf_eager)
    except Unavailable as exc:
        record_ratio([f"{limit.name} vs {limit.baseline}: not measured ({exc})"])
        pytest.skip(str(exc))
    check(limit, results, report=record_ratio)


@pytest.mark.perf
@pytest.mark.parametrize("limit", CPU_LIMITS, ids=lambda lim: f"{lim.name}-vs-{lim.baseline.replace(' ', '-')}")
def test_cpu_latency(limit, perf_artifact, perf_manifest, perf_pixels, perf_eager, record_ratio):
    _check(limit, perf_artifact, perf_manifest, perf_pixels, perf_eager, record_ratio)


@pytest.mark.perf
@pytest.mark.gpu
@pytest.mark.parametrize("limit", GPU_LIMITS, ids=lambda lim: f"{lim.name}-vs-{lim.baseline.replace(' ', '-')}")
def test_gpu_latency_on_the_same_gpu(limit, perf_artifact, perf_manifest, perf_pixels, perf_eager, record_ratio):
    _check(limit, perf_artifact, perf_manifest, perf_pixels, perf_eager, record_ratio)
