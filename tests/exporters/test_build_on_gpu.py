"""Engine builds on a GPU with parity against eager PyTorch (``gpu``: skipped with the reason
where TensorRT or a GPU is missing)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines, engine_file_name
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress


@pytest.fixture(scope="module")
def gpu_artifact(tensorrt_host, tiny_precision_artifact, tmp_path_factory):
    """A private copy of the tiny artifact with fp16/int8 graphs (engines are written into it)."""
    target = tmp_path_factory.mktemp("trt") / "tiny"
    shutil.copytree(tiny_precision_artifact, target)
    return target


@pytest.fixture(scope="module")
def eager(tensorrt_host):
    """The eager model the tiny artifact was exported from (same preset and seed)."""
    from ijepa_deploy.exporters.models import load_model, parse_model_source

    return load_model(parse_model_source("random:tiny"), "feature-extraction", seed=0)


def _variant_or_skip(directory: Path, variant: str):
    manifest = read_manifest(directory)
    if variant not in manifest.graphs:
        pytest.skip(f"artifact has no {variant} graph yet (ijepa-export --{variant} adds it)")
    return manifest


@pytest.mark.gpu
@pytest.mark.parametrize("variant", ["fp32", "fp16", "int8"])
def test_build_engine_matches_eager(gpu_artifact, eager, variant):
    from ijepa_deploy.exporters.reference import TorchRunner
    from ijepa_deploy.runtime.acceptance.parity import ParityCheck
    from ijepa_deploy.runtime.model import open_runner
    from ijepa_deploy.runtime.photos import photo_batch
    from ijepa_deploy.runtime.preprocess import Preprocessor

    manifest = _variant_or_skip(gpu_artifact, variant)
    opts = EngineOptions(variants=(variant,), min_batch=1, opt_batch=4, max_batch=8, workspace_gib=1.0, opt_level=1)
    (record,) = build_engines(gpu_artifact, manifest, opts, Progress(quiet=True))
    manifest = read_manifest(gpu_artifact)
    assert manifest.engines[variant] == record and record.status == "passed"  # checked by build_engines
    assert record.file == engine_file_name(variant) and record.source_graph == variant
    assert record.source_sha256 == manifest.files[manifest.graphs[variant].file].sha256
    assert record.profile.to_dict() == {"min": 1, "opt": 4, "max": 8} and record.tensorrt_version
    assert record.compute_capability and record.gpu_name and record.build_seconds > 0
    assert manifest.files[record.file].role == "tensorrt-engine"
    assert (gpu_artifact / "timing.cache").stat().st_size > 0

    pixels, names = photo_batch(Preprocessor(manifest.preprocessing), 5)
    reference = TorchRunner(eager, manifest.io, 1, 8)
    with open_runner(gpu_artifact, manifest, "tensorrt", variant) as candidate:
        assert (candidate.min_batch, candidate.max_batch) == (1, 8)
        result = ParityCheck(reference, candidate, manifest.graphs[variant].precision, (1, 2, 5))(
            pixels, names, variant
        )
    assert result.passed, json.dumps(result.to_dict()["outputs"], indent=1)


@pytest.mark.gpu
def test_timing_cache_is_reused_and_engine_options_recorded(gpu_artifact):
    manifest = read_manifest(gpu_artifact)
    cache = gpu_artifact / "shared.cache"
    first = EngineOptions(max_batch=4, opt_batch=2, timing_cache=cache, opt_level=0)
    build_engines(gpu_artifact, manifest, first, Progress(quiet=True))
    size = cache.stat().st_size
    assert size > 0
    (record,) = build_engines(
        gpu_artifact,
        read_manifest(gpu_artifact),
        dataclasses.replace(first, hardware_compatibility="ampere_plus"),
        Progress(quiet=True),
    )
    assert cache.stat().st_size >= size
    assert record.hardware_compatibility == "ampere_plus" and record.version_compatible is False
    assert record.profile.to_dict() == {"min": 1, "opt": 2, "max": 4}


@pytest.mark.gpu
def test_broken_graph_reports_the_parser_error(gpu_artifact, tmp_path):
    from ijepa_deploy.exporters.tensorrt_build import EngineFromOnnx

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    opts = EngineOptions().resolved(read_manifest(gpu_artifact), tmp_path)
    with pytest.raises(IJepaDeployError, match="ONNX parser failed"):
        EngineFromOnnx(bad, read_manifest(gpu_artifact).io, opts)()
