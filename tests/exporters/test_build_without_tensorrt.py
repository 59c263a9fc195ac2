"""Engine builds on a host without TensorRT or a GPU: the graph is still checked first, and the
reason reaches the caller and ``ijepa-build``'s exit status, with nothing written."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from ijepa_deploy.errors import ArtifactError, BackendUnavailable
from ijepa_deploy.exporters.engine_step import engine_step
from ijepa_deploy.exporters.export_run import ExportRun
from ijepa_deploy.exporters.pipeline import ExportOptions
from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines, tensorrt_status
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime.acceptance.summary import summary_table

KNOWN_REASONS = (
    "tensorrt not installed",
    "tensorrt is installed but",
    "cuda-python not installed",
    "no CUDA GPU visible",
    "no usable CUDA GPU",
)


def test_tensorrt_status_is_plain():
    available, reason = tensorrt_status()
    assert isinstance(available, bool) and reason
    if not available:
        assert reason.startswith(KNOWN_REASONS), reason


def test_build_engines_checks_the_graph_before_tensorrt(fake_artifact):
    manifest = read_manifest(fake_artifact)
    (fake_artifact / "model_fp32.onnx").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        build_engines(fake_artifact, manifest, EngineOptions(), Progress(quiet=True))


def test_build_engines_without_tensorrt_raises_the_reason(fake_artifact):
    available, reason = tensorrt_status()
    if available:
        pytest.skip(f"this host can build engines ({reason})")
    with pytest.raises(BackendUnavailable) as info:
        build_engines(fake_artifact, read_manifest(fake_artifact), EngineOptions(), Progress(quiet=True))
    assert info.value.problem == reason
    assert "ijepa-deploy[tensorrt]" in info.value.format()
    assert not list(fake_artifact.glob("*.engine"))
    assert read_manifest(fake_artifact).engines == {}


def test_ijepa_build_without_tensorrt_exits_1_with_the_reason(fake_artifact):
    available, reason = tensorrt_status()
    if available:
        pytest.skip(f"this host can build engines ({reason})")
    proc = subprocess.run(
        [sys.executable, "-m", "ijepa_deploy.cli.build", str(fake_artifact), "--variant", "fp32"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: TensorRT engine build | ") and reason in line and ". Note: expected " in line
    assert "Traceback" not in proc.stderr


def test_engine_step_skipped_plainly_without_tensorrt(tiny_precision_artifact, tmp_path):
    available, reason = tensorrt_status()
    if available:
        pytest.skip("TensorRT is available here: the engine step builds instead")
    out = tmp_path / "art"
    shutil.copytree(tiny_precision_artifact, out)
    manifest = read_manifest(out)
    engine_step(
        ExportRun(ExportOptions(model="random:tiny", output=out), out, out, manifest.io, manifest, Progress(quiet=True))
    )
    assert manifest.engines == {}
    note = next(n for n in manifest.notes if n.startswith("TensorRT engine step skipped"))
    assert reason in note and f"ijepa-build {out} --variant fp16 --variant int8" in note
    table = summary_table(manifest, out)
    assert note in table
    for graph in ("fp16", "int8", "int8-cpu"):
        assert any(line.startswith(graph) and "@5" in line for line in table.splitlines())
