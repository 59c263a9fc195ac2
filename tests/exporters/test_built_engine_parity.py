"""Built engines are checked against eager PyTorch before they are served: the batch sizes checked,
the verdict recorded in the manifest, and ``ijepa-build`` / ``ijepa-export`` failing on a perturbed
engine (TensorRT stood in; end to end on a real artifact with ONNX Runtime as the engine)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from trt_build_fakes import stand_in_parity
from trt_fakes import fake_model

from ijepa_deploy.errors import ArtifactError, ParityError
from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import EngineProfile
from ijepa_deploy.runtime.acceptance.parity import profile_batch_sizes


@pytest.mark.parametrize(
    "profile, sizes",
    [
        ((1, 8, 64), (1, 8, 31, 64)),
        ((1, 4, 8), (1, 3, 4, 8)),
        ((1, 2, 4), (1, 2, 3, 4)),
        ((1, 1, 1), (1,)),
        ((2, 2, 3), (2, 3)),
        ((1, 6, 6), (1, 3, 6)),
    ],
)
def test_engines_are_checked_at_batch_sizes_inside_their_profile(profile, sizes):
    assert profile_batch_sizes(EngineProfile(*profile)) == sizes


def test_a_perturbed_engine_is_marked_failed_and_a_good_rebuild_replaces_its_check(fake_artifact, with_fake_tensorrt):
    def perturbed(pixels):
        out = fake_model(pixels)
        noise = np.random.default_rng(0).standard_normal(out["last_hidden_state"].shape).astype(np.float32)
        hidden = out["last_hidden_state"] + noise * np.abs(out["last_hidden_state"]).mean()
        return {"last_hidden_state": hidden, "embedding": hidden.mean(axis=1)}

    with_fake_tensorrt(model=perturbed)
    manifest = read_manifest(fake_artifact)
    (record,) = build_engines(
        fake_artifact, manifest, EngineOptions(), Progress(quiet=True), parity=stand_in_parity(manifest)
    )
    saved = read_manifest(fake_artifact)
    assert record.status == "failed" and saved.engines["fp32"].status == "failed"
    assert saved.status == "passed"  # the graphs' own verdict stands: ONNX Runtime still serves them
    (entry,) = [r for r in saved.parity if r.engine]
    assert not entry.passed and not entry.outputs["embedding"].passed
    with pytest.raises(ParityError, match="FAILED its parity check"):
        from ijepa_deploy.runtime.model import load

        load(fake_artifact, backend="tensorrt")

    with_fake_tensorrt()
    manifest = read_manifest(fake_artifact)
    build_engines(fake_artifact, manifest, EngineOptions(), Progress(quiet=True), parity=stand_in_parity(manifest))
    saved = read_manifest(fake_artifact)
    assert saved.engines["fp32"].status == "passed"
    assert [r.passed for r in saved.parity if r.engine] == [True]  # replaced, not appended


def test_an_engine_that_cannot_run_is_marked_failed(fake_artifact, with_fake_tensorrt):
    with_fake_tensorrt(io={"pixel_values": (3, 32, 32), "other": (8,)})  # lacks the manifest's outputs
    manifest = read_manifest(fake_artifact)
    with pytest.raises(ArtifactError, match="engine tensors are"):
        build_engines(fake_artifact, manifest, EngineOptions(), Progress(quiet=True), parity=stand_in_parity(manifest))
    assert read_manifest(fake_artifact).engines["fp32"].status == "failed"


# -- ijepa-build end to end on a real artifact, TensorRT stood in by ONNX Runtime ----------------------
def onnxruntime_engine(graph: Path, scale: float = 0.0):
    """The stand-in engine's network: the artifact's graph in ONNX Runtime, outputs perturbed by
    ``scale`` times their mean magnitude (0: exact)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(0)

    def run(pixels):
        out = dict(zip(names, session.run(names, {"pixel_values": pixels})))
        if scale:
            out = {
                k: v + scale * np.abs(v).mean() * rng.standard_normal(v.shape).astype(np.float32)
                for k, v in out.items()
            }
        return out

    return run


@pytest.mark.parametrize("scale, code", [(0.0, 0), (0.5, 1)])
def test_ijepa_build_checks_engines_and_exits_1_on_a_perturbed_one(
    tiny_artifact, tmp_path, with_fake_tensorrt, capsys, scale, code
):
    from ijepa_deploy.cli.build import main
    from ijepa_deploy.runtime.model import load

    directory = tmp_path / "tiny"
    shutil.copytree(tiny_artifact, directory)
    manifest = read_manifest(directory)
    io = {t.name: tuple(t.shape[1:]) for t in (*manifest.io.inputs, *manifest.io.outputs)}
    with_fake_tensorrt(model=onnxruntime_engine(directory / "model.onnx", scale), io=io)
    with pytest.raises(SystemExit) as info:
        main([str(directory), "--max-batch", "4", "--opt-batch", "2", "--quiet"])
    out, err = capsys.readouterr()
    assert info.value.code == code, err
    saved = read_manifest(directory)
    record = saved.engines["fp32"]
    (entry,) = [r for r in saved.parity if r.engine == "model_fp32.engine"]
    assert entry.batch_sizes == [1, 2, 3, 4] and entry.backend == "tensorrt"
    assert "min cosine" in out and "overlap@k" in out  # ijepa-export's summary table
    assert "fp32      tensorrt" in out
    if code == 0:
        assert record.status == "passed" and entry.passed and err == ""
        assert "engine    fp32: model_fp32.engine" in out and "parity PASSED at batch sizes [1, 2, 3, 4]" in out
        with load(directory, backend="tensorrt") as model:
            assert model.embed([bundled_photo()]).shape == (1, 192)
    else:
        assert record.status == "failed" and not entry.passed
        assert "FAIL" in out and "parity FAILED" in out
        assert err.startswith("error: ") and "engine parity check FAILED for model_fp32.engine" in err
        assert "Traceback" not in err


def bundled_photo():
    from ijepa_deploy.runtime.photos import bundled_images

    return bundled_images()[0]


def test_export_engine_step_fails_the_export_on_a_perturbed_engine(tiny_artifact, tmp_path, with_fake_tensorrt):
    from ijepa_deploy.exporters.engine_step import engine_step
    from ijepa_deploy.exporters.export_run import ExportRun
    from ijepa_deploy.exporters.pipeline import ExportOptions
    from ijepa_deploy.runtime.acceptance.summary import summary_table

    directory = tmp_path / "tiny"
    shutil.copytree(tiny_artifact, directory)
    manifest = read_manifest(directory)
    io = {t.name: tuple(t.shape[1:]) for t in (*manifest.io.inputs, *manifest.io.outputs)}
    with_fake_tensorrt(model=onnxruntime_engine(directory / "model.onnx", 0.5), io=io)
    engine_step(
        ExportRun(
            ExportOptions(model="random:tiny", output=directory, max_batch=4),
            directory,
            directory,
            manifest.io,
            manifest,
            Progress(quiet=True),
        )
    )
    # the fp32 graph still passed: the artifact is partial, the engine alone is refused
    assert manifest.status == "partial" and manifest.engines["fp32"].status == "failed"
    assert "TensorRT engine parity check failed: model_fp32.engine" in manifest.notes
    assert read_manifest(directory).status == "partial"
    table = summary_table(manifest, directory)
    assert "parity FAILED at batch sizes [1, 3, 4]" in table and "TensorRT engine parity check failed" in table
