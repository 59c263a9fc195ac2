"""Fixtures of the TensorRT runner tests: an artifact with an fp16 engine, and the same artifact
with TensorRT and cuda-python stood in (so the runner runs on any host)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from trt_fakes import FakeCudart
from trt_runner_helpers import RECORD, fake_tensorrt

from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime import tensorrt_host as host
from manifest_factory import small_manifest


@pytest.fixture
def engine_artifact(tmp_path):
    directory = tmp_path / "art"
    directory.mkdir()
    manifest = small_manifest(directory, graphs=("fp16",), status="passed")
    (directory / "model_fp16.engine").write_bytes(b"plan bytes")
    manifest.record_file(directory, "model_fp16.engine", role="tensorrt-engine")
    manifest.engines["fp16"] = replace(RECORD, source_sha256=manifest.files["model_fp16.onnx"].sha256, status="passed")
    manifest.write(directory)
    return directory


@pytest.fixture
def fake_stack(monkeypatch, engine_artifact):
    cudart = FakeCudart()
    monkeypatch.setattr(host, "import_cudart", lambda: cudart)
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(cudart=cudart))
    (engine_artifact / "model_fp16.engine").write_bytes(b"plan")
    manifest = read_manifest(engine_artifact)
    manifest.record_file(engine_artifact, "model_fp16.engine", role="tensorrt-engine")
    manifest.write(engine_artifact)
    return cudart, engine_artifact
