"""Perf fixtures: the artifact under test, eager PyTorch beside it, and the ratio table printed
at the end of the run (every measured ratio with its limit, passing or not)."""

from __future__ import annotations

from pathlib import Path

import pytest

MEASURED: list[str] = []


@pytest.fixture(scope="session")
def perf_artifact(request, tmp_path_factory) -> Path:
    """``--artifact DIR``, or random:vitb16 with fp16 and INT8 graphs exported into a tmp dir (and,
    on a TensorRT host, fp32/fp16/int8 engines, each parity-checked by the export/build)."""
    from ijepa_deploy.manifest import read_manifest

    given = request.config.getoption("--artifact")
    if given:
        manifest = read_manifest(Path(given))  # a plain error for a wrong path
        assert manifest.status == "passed", f"{given}: artifact status {manifest.status!r}"
        return Path(given)
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines, tensorrt_status
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("perf") / "vitb16"
    # Cheaper than a user's export (16 calibration images, parity at batch 1 and 2, neighbour check
    # over 12 images): with the defaults ViT-B/16 --fp16 --int8 took 9.7 min on the shared 2 cores.
    manifest = export_artifact(
        ExportOptions(
            model="random:vitb16",
            output=out,
            max_batch=8,
            fp16=True,
            int8=True,
            calib_count=16,
            batch_sizes=(1, 2),
            retrieval_images=12,
        ),
        Progress(quiet=True),
    )
    assert manifest.status == "passed", "the perf artifact failed its parity check"
    if tensorrt_status()[0] and "fp32" not in manifest.engines:
        build_engines(out, manifest, EngineOptions(variants=("fp32",), max_batch=8), Progress(quiet=True))
    return out


@pytest.fixture(scope="session")
def perf_manifest(perf_artifact):
    from ijepa_deploy.benchmarks.latency_limits import LIMITS
    from ijepa_deploy.manifest import read_manifest

    manifest = read_manifest(perf_artifact)
    cpu = {lim.variant for lim in LIMITS if lim.device == "cpu"} | {"int8"}  # OpenVINO's int8 is the int8 graph
    for variant, graph in manifest.graphs.items():
        if variant not in cpu:  # say so, rather than let the table look complete
            MEASURED.append(
                f"{variant} graph: not timed on the CPU (made for {', '.join(graph.targets)}; the GPU tests time it)"
            )
    return manifest


@pytest.fixture(scope="session")
def perf_eager(perf_manifest):
    """The artifact's model in eager PyTorch (fp32, default SDPA attention), loaded on first use."""
    from ijepa_deploy.benchmarks.latency_limits import eager_loader

    return eager_loader(perf_manifest)


@pytest.fixture(scope="session")
def perf_pixels(perf_artifact, perf_manifest):
    """The artifact's saved reference photos, preprocessed on this host."""
    from ijepa_deploy.runtime.acceptance.check import saved_reference

    return saved_reference(perf_artifact, perf_manifest).pixels


@pytest.fixture
def record_ratio():
    return MEASURED.extend


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("latency against eager PyTorch and between variants (paired rounds)")
        for line in MEASURED:
            terminalreporter.write_line(line)
