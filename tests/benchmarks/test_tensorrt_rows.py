"""ijepa-bench's TensorRT rows apply load()'s engine gate: an engine that did not pass its parity
check is an unavailable row with the reason, unless --allow-unverified (then its row is timed and
labelled UNVERIFIED in the report). TensorRT and CUDA are the stand-ins of tests/trt_fakes.py."""

from __future__ import annotations

import numpy as np
import pytest
from trt_fakes import FakeCudart, FakeEngine, fake_model, fake_runtime_tensorrt

from ijepa_deploy.benchmarks.backends import TensorRTBackend
from ijepa_deploy.benchmarks.markdown_latency import latency_section
from ijepa_deploy.benchmarks.options import STATUS_OK, STATUS_UNAVAILABLE, BenchOptions
from ijepa_deploy.benchmarks.plan import _tensorrt_rows
from ijepa_deploy.benchmarks.run import run_rows
from ijepa_deploy.benchmarks.sweep import Sweep
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime import tensorrt_host as host
from manifest_factory import engine_artifact


@pytest.fixture
def fake_tensorrt(monkeypatch):
    cudart = FakeCudart()
    trt = fake_runtime_tensorrt(lambda plan: FakeEngine(cudart, profile=(1, 2, 4)) if plan == b"plan" else None)
    monkeypatch.setattr(host, "import_cudart", lambda: cudart)
    monkeypatch.setattr(host, "import_tensorrt", lambda: trt)
    return cudart


def _sweep(opts: BenchOptions) -> Sweep:
    pixels = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    return Sweep(
        pixels,
        [1, 2],
        gflop_per_image=1.0,
        peak_gflop_s=None,
        primary="embedding",
        opts=opts,
        progress=Progress(quiet=True),
    )


def test_passed_engine_is_a_plain_row(fake_tensorrt, tmp_path):
    art = engine_artifact(tmp_path / "art")
    rows = _tensorrt_rows(art, read_manifest(art), BenchOptions(art))
    assert len(rows) == 1 and isinstance(rows[0], TensorRTBackend) and rows[0].unverified is None


@pytest.mark.parametrize(
    "status, problem", [("failed", "FAILED its parity check"), ("unverified", "was never checked")]
)
def test_engine_that_did_not_pass_is_unavailable_with_the_reason(fake_tensorrt, tmp_path, status, problem):
    art = engine_artifact(tmp_path / "art", status=status)
    [row] = _tensorrt_rows(art, read_manifest(art), BenchOptions(art))
    assert isinstance(row, dict) and row["status"] == STATUS_UNAVAILABLE and row["variant"] == "fp16"
    assert problem in row["reason"] and "model_fp16.engine" in row["reason"] and "--allow-unverified" in row["reason"]


def test_failed_engine_says_so_before_saying_tensorrt_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(host, "tensorrt_status", lambda: (False, "tensorrt not installed"))
    art = engine_artifact(tmp_path / "art", status="failed")
    [row] = _tensorrt_rows(art, read_manifest(art), BenchOptions(art))
    assert "FAILED its parity check" in row["reason"]


def test_allow_unverified_times_the_engine_and_labels_its_row(fake_tensorrt, tmp_path):
    art = engine_artifact(tmp_path / "art", status="failed")
    opts = BenchOptions(art, warmup=0, min_iters=1, min_seconds=0.0, max_iters=2, allow_unverified=True)
    plan = _tensorrt_rows(art, read_manifest(art), opts)
    assert isinstance(plan[0], TensorRTBackend) and "FAILED its parity check" in plan[0].unverified
    sweep = _sweep(opts)
    rows, _ = run_rows(plan, sweep, {})
    [row] = rows
    assert row["status"] == STATUS_OK and [p["batch"] for p in row["points"]] == [1, 2]
    assert "FAILED its parity check" in row["unverified"]
    table = "\n".join(latency_section({"settings": {"primary_output": "embedding"}, "rows": rows}))
    assert "| tensorrt (UNVERIFIED) | fp16 | 1 |" in table and "| tensorrt (UNVERIFIED) | fp16 | 2 |" in table
    np.testing.assert_array_equal(plan[0].load()(sweep.pixels)["embedding"], fake_model(sweep.pixels)["embedding"])
    plan[0].close()
