"""Fixtures of the exporter tests: for the TensorRT tests a small artifact to build from, TensorRT's
builder, runtime and cuda-python stood in (so the build logic runs on any host), and the API
surfaces of the TensorRT releases we support; for the INT8 tests a small --calib-dir."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from trt_api_checker import Surface, load_surface_module
from trt_build_fakes import fake_tensorrt
from trt_fakes import FakeCudart, FakeEngine, fake_model, fake_runtime_tensorrt

from manifest_factory import small_manifest


@pytest.fixture
def fake_artifact(tmp_path) -> Path:
    """A manifest plus a (not really ONNX) graph file with its checksum: enough to reach the
    TensorRT check without exporting anything."""
    directory = tmp_path / "art"
    directory.mkdir()
    small_manifest(directory, status="passed").write(directory)
    return directory


@pytest.fixture
def with_fake_tensorrt(monkeypatch):
    """Stand-ins for TensorRT's builder (build module) and runtime + cuda-python (runner module): the
    built plan deserializes to an engine running ``model`` with the profile the build set."""
    from ijepa_deploy.exporters import tensorrt_build as tb
    from ijepa_deploy.runtime import tensorrt_host as host

    def install(version="10.13.3.9", model=fake_model, io=None, **kw):
        trt, calls = fake_tensorrt(version, **kw)
        cudart = calls["cudart"] = FakeCudart()

        def engine_for_plan(data):
            if data != kw.get("plan", b"PLAN"):
                return None
            _name, lo, opt, hi = calls["set_shape"][-1]
            return FakeEngine(cudart, model, io, profile=(lo[0], opt[0], hi[0]))

        monkeypatch.setattr(tb, "import_tensorrt", lambda: trt)
        monkeypatch.setattr(tb, "tensorrt_status", lambda: (True, "fake"))
        monkeypatch.setattr(tb, "gpu_info", lambda: {"device": 0, "name": "Fake GPU", "compute_capability": "8.6"})
        runtime = fake_runtime_tensorrt(engine_for_plan, version)
        monkeypatch.setattr(host, "import_tensorrt", lambda: runtime)
        monkeypatch.setattr(host, "import_cudart", lambda: cudart)
        return calls

    return install


@pytest.fixture(scope="session")
def surfaces() -> list[Surface]:
    mod = load_surface_module()
    found = []
    for release in ("11", "10"):
        package, version = mod.DEFAULT_RELEASES[release]
        try:
            dump = mod.surface(package, version)
        except mod.SurfaceError as exc:
            message = f"cannot obtain the TensorRT {version} bindings wheel from PyPI: {exc}"
            if os.environ.get("CI"):
                pytest.fail(message + " (CI=1: the API check must run in CI)")
            pytest.skip(message)
        found.append(Surface.from_dump(dump))
    return found


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory):
    """12 small distinct images (smooth random colour fields) in two class folders."""
    root = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(1)
    for i in range(12):
        folder = root / f"class{i % 2}"
        folder.mkdir(exist_ok=True)
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((96, 80), Image.Resampling.BILINEAR).save(folder / f"img{i:02d}.png")
    return root
