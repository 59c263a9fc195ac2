"""The build logic against a stand-in for TensorRT (any host): what is asked of the builder, what
lands in the artifact and the manifest, and TensorRT's own messages on failure."""

from __future__ import annotations

import pytest
from trt_build_fakes import stand_in_parity

from ijepa_deploy.errors import BackendError, BackendUnavailable
from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress


@pytest.mark.parametrize("version, flags", [("10.13.3.9", 1 << 1), ("11.4.0.106", 0)])
def test_build_logic_with_a_stand_in(fake_artifact, with_fake_tensorrt, version, flags):
    calls = with_fake_tensorrt(version)
    (fake_artifact / "timing.cache").write_bytes(b"old")
    manifest = read_manifest(fake_artifact)
    (record,) = build_engines(
        fake_artifact,
        manifest,
        EngineOptions(max_batch=6, workspace_gib=0.5, opt_level=2),
        Progress(quiet=True),
        parity=stand_in_parity(manifest),
    )
    assert calls["network_flags"] == flags  # STRONGLY_TYPED on 10.x only (11.x: deprecated, ignored)
    assert calls["parsed"] == str(fake_artifact / "model_fp32.onnx")
    assert calls["set_shape"] == [("pixel_values", (1, 3, 32, 32), (6, 3, 32, 32), (6, 3, 32, 32))]
    assert calls["pool"] == ("WORKSPACE", 1 << 29)
    assert calls["config"].builder_optimization_level == 2
    assert calls["config"].hardware_compatibility_level is None and calls["flags"] == []
    assert calls["cache_in"] == b"old" and (fake_artifact / "timing.cache").read_bytes() == b"old+timings"
    assert (fake_artifact / "model_fp32.engine").read_bytes() == b"PLAN"
    saved = read_manifest(fake_artifact)
    assert saved.engines["fp32"] == record
    assert record.to_dict() == {
        "file": "model_fp32.engine",
        "source_graph": "fp32",
        "source_sha256": saved.files["model_fp32.onnx"].sha256,
        "precision": "fp32",
        "tensorrt_version": version,
        "gpu_name": "Fake GPU",
        "compute_capability": "8.6",
        "profile": {"min": 1, "opt": 6, "max": 6},
        "hardware_compatibility": None,
        "version_compatible": False,
        "build_seconds": record.build_seconds,
        "status": "passed",
    }
    assert saved.files["model_fp32.engine"].role == "tensorrt-engine"
    (entry,) = [r for r in saved.parity if r.engine == "model_fp32.engine"]
    assert entry.passed and entry.backend == "tensorrt" and entry.graph == "fp32"
    assert entry.batch_sizes == [1, 3, 6]  # min, an odd size between, opt = max
    assert entry.retrieval is not None and entry.retrieval.passed and entry.retrieval.images == 24
    assert not calls["cudart"].live  # the runner was closed


def test_build_compatibility_options_with_a_stand_in(fake_artifact, with_fake_tensorrt):
    calls = with_fake_tensorrt("11.4.0.106")
    opts = EngineOptions(hardware_compatibility="same_compute_capability", version_compatible=True)
    manifest = read_manifest(fake_artifact)
    (record,) = build_engines(fake_artifact, manifest, opts, Progress(quiet=True), parity=stand_in_parity(manifest))
    assert calls["config"].hardware_compatibility_level == "SAME_COMPUTE_CAPABILITY"
    assert calls["flags"] == ["VERSION_COMPATIBLE"]
    assert record.hardware_compatibility == "same_compute_capability" and record.version_compatible is True

    with_fake_tensorrt("10.8.0.43", has_same_cc=False)
    with pytest.raises(BackendUnavailable, match="same_compute_capability needs TensorRT >= 10.9"):
        build_engines(fake_artifact, read_manifest(fake_artifact), opts, Progress(quiet=True))


def test_build_failures_carry_tensorrt_messages(fake_artifact, with_fake_tensorrt, capsys):
    with_fake_tensorrt(plan=None)
    with pytest.raises(BackendError, match="could not build the engine: out of memory while building tactic X"):
        build_engines(fake_artifact, read_manifest(fake_artifact), EngineOptions(), Progress(quiet=True))
    assert not (fake_artifact / "model_fp32.engine").exists() and read_manifest(fake_artifact).engines == {}
    with_fake_tensorrt(parse_ok=False)
    with pytest.raises(
        BackendError,
        match="ONNX parser failed: Unsupported ONNX op FancyOp "
        r"\(at /layers.0/FancyOp, FancyOp\)",
    ):
        build_engines(fake_artifact, read_manifest(fake_artifact), EngineOptions(), Progress(quiet=True))
