"""Shared fixtures: tiny seeded models exported once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """random:tiny feature-extraction artifact (exported, validated, parity passed)."""
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("art") / "tiny"
    manifest = export_artifact(ExportOptions(model="random:tiny", output=out, max_batch=8), Progress(quiet=True))
    assert manifest.status == "passed"
    return out


@pytest.fixture(scope="session")
def tiny_cls_artifact(tmp_path_factory):
    """random:tiny image-classification artifact."""
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("art") / "tiny-cls"
    manifest = export_artifact(
        ExportOptions(model="random:tiny", task="image-classification", output=out, max_batch=8), Progress(quiet=True)
    )
    assert manifest.status == "passed"
    return out


@pytest.fixture(scope="session")
def tiny_precision_artifact(tmp_path_factory):
    """random:tiny with fp32, fp16, int8 and int8-cpu graphs (engines not built: tests build them)."""
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("art") / "tiny-precision"
    manifest = export_artifact(
        ExportOptions(
            model="random:tiny", output=out, max_batch=8, fp16=True, int8=True, calib_count=16, engines=False
        ),
        Progress(quiet=True),
    )
    assert manifest.status == "passed" and {"fp16", "int8", "int8-cpu"} <= set(manifest.graphs)
    return out


@pytest.fixture(scope="session")
def tensorrt_host():
    """Skips (with the plain reason) unless TensorRT and a GPU are usable; GPU tests request it
    first so nothing is exported on hosts that cannot build engines."""
    from ijepa_deploy.runtime.tensorrt_host import tensorrt_status

    available, reason = tensorrt_status()
    if not available:
        pytest.skip(f"TensorRT engine tests need TensorRT and an NVIDIA GPU: {reason}")
    return reason


@pytest.fixture(scope="session")
def cpp_release_build():
    """The C++ release build directory (runtime library, example, test and benchmark drivers), built
    once per session by ijepa_deploy.benchmarks.cpp_build. A missing system library is a skip naming
    the package; any other configure or compile error fails."""
    from ijepa_deploy.benchmarks import cpp_build

    try:
        return cpp_build.release_build()
    except cpp_build.CppDependencyMissing as exc:
        pytest.skip(f"C++ runtime not built: {exc}")
    except cpp_build.CppBuildFailed as exc:
        pytest.fail(str(exc))


def pytest_addoption(parser):
    parser.addoption(
        "--artifact",
        action="store",
        default=None,
        metavar="DIR",
        help="perf tests: the artifact to check against eager PyTorch (default: a ViT-B/16-shaped "
        "random:vitb16 artifact with fp16 and INT8 graphs, exported once per session)",
    )
