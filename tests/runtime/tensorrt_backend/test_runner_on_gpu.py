"""The TensorRT runner on a GPU: outputs against ONNX Runtime, bad inputs, chunking, concurrency and
rebuild hints (``gpu``: skipped with the reason where TensorRT or a GPU is missing)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from trt_runner_helpers import hammer

from ijepa_deploy.errors import IJepaDeployError, InputError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime.model import load, open_runner
from ijepa_deploy.runtime.runner import RunnerOptions


@pytest.fixture(scope="module")
def engine_dir(tensorrt_host, tiny_artifact, tmp_path_factory):
    """A copy of the tiny artifact with an fp32 engine, profile 1/2/4."""
    from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines
    from ijepa_deploy.progress import Progress

    target = tmp_path_factory.mktemp("trt-run") / "tiny"
    shutil.copytree(tiny_artifact, target)
    build_engines(
        target,
        read_manifest(target),
        EngineOptions(min_batch=1, opt_batch=2, max_batch=4, opt_level=1),
        Progress(quiet=True),
    )
    return target


@pytest.mark.gpu
def test_runner_matches_onnxruntime_and_reuses_buffers(engine_dir):
    pixels = np.random.default_rng(0).standard_normal((4, 3, 224, 224)).astype(np.float32)
    manifest = read_manifest(engine_dir)
    with open_runner(engine_dir, manifest, "onnxruntime", "fp32") as ort_runner:
        want = ort_runner.run(pixels)
    with open_runner(engine_dir, manifest, "tensorrt", "fp32") as runner:
        assert (runner.min_batch, runner.max_batch) == (1, 4)
        pointers = {n: b.device for n, b in runner._slots[0].buffers.items()}
        for n in (1, 3, 4, 2):
            got = runner.run(pixels[:n])
            for name in manifest.io.output_names:
                assert got[name].shape == want[name][:n].shape and got[name].dtype == np.float32
                np.testing.assert_allclose(got[name], want[name][:n], atol=2e-3, rtol=1e-3)
        assert {n: b.device for n, b in runner._slots[0].buffers.items()} == pointers
    runner.close()  # twice is fine
    with pytest.raises(IJepaDeployError, match="runner is closed"):
        runner.run(pixels[:1])


@pytest.mark.gpu
def test_bad_inputs_are_plain_errors(engine_dir):
    with open_runner(engine_dir, read_manifest(engine_dir), "tensorrt", "fp32") as runner:
        ok = np.zeros((1, 3, 224, 224), np.float32)
        with pytest.raises(InputError, match="batch size 5 is outside"):
            runner.run(np.zeros((5, 3, 224, 224), np.float32))
        with pytest.raises(InputError, match="dtype is float64"):
            runner.run(ok.astype(np.float64))
        with pytest.raises(InputError, match="axis 2 is 100"):
            runner.run(np.zeros((1, 3, 100, 224), np.float32))
        with pytest.raises(InputError, match="input names"):
            runner.run({"pixels": ok})
        assert runner.run(ok)["embedding"].shape == (1, 192)  # still usable after the errors


@pytest.mark.gpu
def test_deployed_model_chunks_batches_to_the_profile(engine_dir):
    from ijepa_deploy.runtime.photos import bundled_images

    images = bundled_images() * 2  # 8 images, profile max 4
    with load(engine_dir, backend="tensorrt") as model, load(engine_dir) as reference:
        assert model.max_batch == 4
        got, want = model.embed(images), reference.embed(images)
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert got.shape == (8, 192) and cos.min() > 0.9999


@pytest.mark.gpu
def test_engine_from_another_tensorrt_or_gpu_says_how_to_rebuild(engine_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(engine_dir, target)
    manifest_path = target / "ijepa_manifest.json"
    data = json.loads(manifest_path.read_text())
    data["engines"]["fp32"]["tensorrt_version"] = "9.0.1.4"
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IJepaDeployError) as info:
        load(target, backend="tensorrt")
    assert "built with TensorRT 9.0.1.4" in info.value.problem
    assert f"ijepa-build {target} --variant fp32" in info.value.format()

    data = json.loads(manifest_path.read_text())
    data["engines"]["fp32"]["tensorrt_version"] = json.loads((engine_dir / "ijepa_manifest.json").read_text())[
        "engines"
    ]["fp32"]["tensorrt_version"]
    data["engines"]["fp32"]["compute_capability"] = "1.0"
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IJepaDeployError, match="compute capability 1.0"):
        load(target, backend="tensorrt")


@pytest.mark.gpu
def test_unreadable_engine_is_a_plain_error(engine_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(engine_dir, target)
    (target / "model_fp32.engine").write_bytes(b"\0" * 4096)
    manifest = read_manifest(target)
    manifest.record_file(target, "model_fp32.engine", role="tensorrt-engine")
    manifest.write(target)
    with pytest.raises(IJepaDeployError) as info:
        load(target, backend="tensorrt")
    assert "could not deserialize" in info.value.problem and "ijepa-build" in info.value.format()


@pytest.mark.gpu
def test_concurrent_calls_equal_single_threaded_on_the_gpu(engine_dir):
    from ijepa_deploy.runtime.photos import photo_batch
    from ijepa_deploy.runtime.preprocess import Preprocessor

    manifest = read_manifest(engine_dir)
    pixels, _ = photo_batch(Preprocessor(manifest.preprocessing), 4)
    batches = [pixels[:n] for n in (1, 2, 3, 4)]
    with open_runner(engine_dir, manifest, "tensorrt", "fp32", options=RunnerOptions(max_concurrency=4)) as runner:
        single = [runner.run(b) for b in batches]
        results = hammer(runner.run, batches, threads=8, calls=20)
        assert 1 <= len(runner._slots) <= 4
    assert len(results) == 160
    for k, got in results:
        for name in manifest.io.output_names:
            np.testing.assert_array_equal(got[name], single[k][name])
