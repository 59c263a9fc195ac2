"""ONNX Runtime's GPU execution providers are checked like the CPU run (stand-in providers here:
the CPU session dressed as CUDA, exact or perturbed; on a GPU host the export runs the real ones)."""

from __future__ import annotations

import numpy as np
import pytest

from ijepa_deploy.errors import BackendUnavailable
from ijepa_deploy.exporters.engine_parity import onnxruntime_gpu_parity, onnxruntime_gpu_step, reference_parity
from ijepa_deploy.exporters.export_run import ExportRun
from ijepa_deploy.exporters.pipeline import ExportOptions
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner


class DressedRunner(OnnxRuntimeRunner):
    """The CPU session reporting ``backend``; outputs perturbed by ``scale`` x their mean magnitude."""

    def __init__(self, graph, manifest, backend: str, scale: float = 0.0):
        super().__init__(graph, manifest.io, 1, manifest.batch.max, providers=["CPUExecutionProvider"])
        self.backend, self.scale = backend, scale

    def _run(self, feed):
        out = super()._run(feed)
        if self.scale:
            rng = np.random.default_rng(0)
            out = {
                k: v + self.scale * np.abs(v).mean() * rng.standard_normal(v.shape).astype(v.dtype)
                for k, v in out.items()
            }
        return out


@pytest.fixture(scope="module")
def eager_parity(tiny_artifact):
    """The artifact's saved reference outputs (eager fp32 on 24 photos at export)."""
    return reference_parity(tiny_artifact, read_manifest(tiny_artifact))


@pytest.mark.parametrize("scale, passed", [(0.0, True), (0.5, False)])
def test_gpu_provider_results_are_parity_entries(tiny_artifact, eager_parity, scale, passed):
    manifest = read_manifest(tiny_artifact)
    opened = []

    def open_runner(graph, entry):
        opened.append(entry)
        return DressedRunner(graph, manifest, "onnxruntime-cuda", scale)

    results = onnxruntime_gpu_parity(
        tiny_artifact,
        manifest,
        eager_parity,
        (1, 2, 3),
        Progress(quiet=True),
        providers=["CUDAExecutionProvider"],
        open_runner=open_runner,
    )
    assert opened == ["CUDAExecutionProvider"]  # one graph (fp32), one provider
    (result,) = results
    assert result in manifest.parity and result.backend == "onnxruntime-cuda" and result.graph == "fp32"
    assert result.batch_sizes == [1, 2, 3] and result.retrieval is not None and result.retrieval.images == 24
    assert result.passed is passed and result.engine is None and "engine" not in result.to_dict()


def test_a_provider_that_falls_back_is_an_error_not_a_pass(tiny_artifact, eager_parity, tmp_path):
    manifest = read_manifest(tiny_artifact)
    with pytest.raises(BackendUnavailable, match="session fell back to onnxruntime-cpu"):
        onnxruntime_gpu_parity(
            tiny_artifact,
            manifest,
            eager_parity,
            (1,),
            Progress(quiet=True),
            providers=["TensorrtExecutionProvider"],
            open_runner=lambda graph, entry: DressedRunner(graph, manifest, "onnxruntime-cpu"),
        )


def test_the_export_step_fails_when_onnxruntime_ignores_a_gpu_provider(
    tiny_artifact, eager_parity, tmp_path, monkeypatch
):
    """A CPU-only onnxruntime asked for CUDA falls back to the CPU with a warning: that must fail."""
    import shutil

    from ijepa_deploy.exporters import engine_parity

    copy = tmp_path / "art"
    shutil.copytree(tiny_artifact, copy)
    manifest = read_manifest(copy)
    monkeypatch.setattr(engine_parity, "gpu_execution_providers", lambda: ["CUDAExecutionProvider"])
    run = ExportRun(
        ExportOptions(model="random:tiny", output=copy, batch_sizes=(1,)),
        copy,
        copy,
        manifest.io,
        manifest,
        Progress(quiet=True),
    )
    assert onnxruntime_gpu_step(run, eager_parity) is False
    assert any(n.startswith("ONNX Runtime GPU parity failed") and "fell back" in n for n in manifest.notes)
    assert read_manifest(copy).notes == manifest.notes  # written
