"""Engines the runtime refuses to run, each with the ``ijepa-build`` command that fixes it: missing
or tampered files, another TensorRT or GPU, unreadable plans, version-compatible engines without
the host-code opt-in, and engines that did not pass their parity check."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from trt_runner_helpers import RECORD, fake_tensorrt

from ijepa_deploy.errors import ArtifactError, InputError, ParityError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime import tensorrt_compat as compat
from ijepa_deploy.runtime import tensorrt_host as host
from ijepa_deploy.runtime.model import load, open_runner
from ijepa_deploy.runtime.runner import RunnerOptions


@pytest.mark.parametrize(
    "changes, here, problem",
    [
        ({}, ("10.13.3.9", "8.6"), None),
        ({}, ("11.4.0.106", "8.6"), "built with TensorRT 10.13.3.9, this host has TensorRT 11.4.0.106"),
        (
            {},
            ("10.13.3.9", "8.9"),
            "built for NVIDIA A10 (compute capability 8.6), this GPU has compute capability 8.9",
        ),
        ({"version_compatible": True}, ("10.14.1.48", "8.6"), None),
        ({"version_compatible": True}, ("10.8.0.43", "8.6"), "this host has TensorRT 10.8.0.43"),
        ({"hardware_compatibility": "ampere_plus"}, ("10.13.3.9", "9.0"), None),
        ({"hardware_compatibility": "ampere_plus"}, ("10.13.3.9", "7.5"), "compute capability 7.5"),
        ({"hardware_compatibility": "same_compute_capability"}, ("10.13.3.9", "8.9"), "compute capability 8.9"),
    ],
)
def test_compatibility_problem(changes, here, problem):
    found = compat.compatibility_problem(replace(RECORD, **changes), *here)
    if problem is None:
        assert found is None
    else:
        assert found and problem in found


def test_rebuild_hint_names_the_command():
    hint = compat.rebuild_hint("artifacts/tiny", "fp16")
    assert "ijepa-build artifacts/tiny --variant fp16" in hint


def test_missing_engine_says_how_to_build_it(engine_artifact):
    with pytest.raises(ArtifactError) as info:
        load(engine_artifact, backend="tensorrt", precision="fp32")
    text = info.value.format()
    assert "artifact has no fp32 TensorRT engine" in text and f"ijepa-build {engine_artifact} --variant fp32" in text


def test_tampered_engine_is_refused_before_tensorrt(engine_artifact):
    (engine_artifact / "model_fp16.engine").write_bytes(b"other bytes")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load(engine_artifact, backend="tensorrt", precision="fp16")


def test_runner_refuses_foreign_engines_with_the_rebuild_command(fake_stack, monkeypatch):
    cudart, directory = fake_stack
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(version="11.4.0.106", cudart=cudart))
    with pytest.raises(ArtifactError) as info:
        load(directory, backend="tensorrt", precision="fp16")
    assert "built with TensorRT 10.13.3.9, this host has TensorRT 11.4.0.106" in info.value.problem
    assert f"ijepa-build {directory} --variant fp16" in info.value.format()
    assert not cudart.live

    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(plan=b"another plan", cudart=cudart))
    with pytest.raises(ArtifactError) as info:
        load(directory, backend="tensorrt", precision="fp16")
    assert "could not deserialize" in info.value.problem and "ijepa-build" in info.value.format()
    assert not cudart.live


def test_version_compatible_engines_run_host_code_only_when_the_caller_allows(fake_stack, monkeypatch, capsys):
    """A manifest edit must not be enough to make this process run an engine's embedded host code."""
    cudart, directory = fake_stack
    manifest = read_manifest(directory)
    manifest.engines["fp16"].version_compatible = True
    manifest.write(directory)
    created = []
    fake = fake_tensorrt(cudart=cudart)
    runtime_class = fake.Runtime

    class Runtime(runtime_class):
        def __init__(self, logger):
            super().__init__(logger)
            created.append(self)

    fake.Runtime = Runtime
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake)
    with pytest.raises(ArtifactError) as info:
        load(directory, backend="tensorrt", precision="fp16")
    text = info.value.format()
    assert "version-compatible: it embeds host code" in text and "allow_engine_host_code=True" in text
    assert "--allow-engine-host-code" in text and not created and not cudart.live

    with load(directory, backend="tensorrt", precision="fp16", allow_engine_host_code=True) as model:
        assert model.runner.run(np.zeros((1, 3, 32, 32), np.float32))["embedding"].shape == (1, 8)
    assert [r.engine_host_code_allowed for r in created] == [True]

    from ijepa_deploy.cli.embed import main as embed_main

    image = directory / "x.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(image)
    with pytest.raises(SystemExit) as exc:
        embed_main([str(directory), str(image), "--backend", "tensorrt", "--precision", "fp16"])
    assert exc.value.code == 1 and "--allow-engine-host-code" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        embed_main(
            [str(directory), str(image), "--backend", "tensorrt", "--precision", "fp16", "--allow-engine-host-code"]
        )
    assert exc.value.code == 0 and created[-1].engine_host_code_allowed is True


@pytest.mark.parametrize(
    "status, problem",
    [
        ("failed", "FAILED its parity check"),
        (None, "was never checked against eager PyTorch"),
        ("unverified", "was never checked"),
    ],
)
def test_runtime_refuses_engines_that_did_not_pass_parity(fake_stack, status, problem):
    cudart, directory = fake_stack
    manifest = read_manifest(directory)
    manifest.engines["fp16"].status = status
    manifest.write(directory)
    with pytest.raises(ParityError) as info:
        load(directory, backend="tensorrt", precision="fp16")
    assert problem in info.value.problem and "model_fp16.engine" in info.value.problem
    assert f"ijepa-build {directory} --variant fp16" in info.value.format()
    assert not cudart.live
    with load(directory, backend="tensorrt", precision="fp16", allow_unverified=True) as model:
        assert model.run(np.zeros((1, 3, 32, 32), np.float32))["embedding"].shape == (1, 8)


def test_an_explicit_engine_variant_is_the_engine_gated_and_opened(fake_stack):
    """open_runner(variant=...) on TensorRT names the engine: its parity verdict is the one checked."""
    cudart, directory = fake_stack
    manifest = read_manifest(directory)
    manifest.engines["fp16"].status = "failed"
    with pytest.raises(ParityError, match="model_fp16.engine FAILED its parity check"):
        open_runner(directory, manifest, "tensorrt", "fp32", variant="fp16")
    assert not cudart.live
    with open_runner(
        directory,
        manifest,
        "tensorrt",
        "fp32",
        variant="fp16",
        allow_unverified=True,
        options=RunnerOptions(max_concurrency=1),
    ) as runner:
        assert runner.variant == "fp16" and runner.engine_path.name == "model_fp16.engine"
        assert runner.max_concurrency == 1


def test_tensorrt_refuses_another_backends_option_before_tensorrt(engine_artifact):
    with pytest.raises(InputError, match="providers .* not an option of the tensorrt backend"):
        load(engine_artifact, backend="tensorrt", precision="fp16", providers=["CPUExecutionProvider"])
