"""ijepa-serve applies load()'s gates and passes its opt-ins through: an unverified artifact or
engine and a version-compatible engine are refused unless the flag is given; with
--allow-engine-host-code such an engine is served (a stand-in TensorRT, tests/trt_fakes.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from serving_helpers import encoded_image, free_ports, images_input
from trt_fakes import FakeCudart, FakeEngine, fake_model, fake_runtime_tensorrt

from ijepa_deploy.cli.serve import parse_args
from ijepa_deploy.errors import ArtifactError, ParityError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime import tensorrt_host as host
from ijepa_deploy.runtime.serving.options import ServeOptions
from ijepa_deploy.runtime.serving.server import Server
from manifest_factory import engine_artifact


@pytest.fixture
def fake_tensorrt(monkeypatch):
    """TensorRT and cuda-python stand-ins; returns the TensorRT Runtimes created (to read their opt-in)."""
    cudart = FakeCudart()
    trt = fake_runtime_tensorrt(lambda plan: FakeEngine(cudart, profile=(1, 2, 4)) if plan == b"plan" else None)
    created = []

    class Runtime(trt.Runtime):
        def __init__(self, logger):
            super().__init__(logger)
            created.append(self)

    trt.Runtime = Runtime
    monkeypatch.setattr(host, "import_cudart", lambda: cudart)
    monkeypatch.setattr(host, "import_tensorrt", lambda: trt)
    return created


@pytest.mark.parametrize(
    "engine, flag, error, refusal",
    [
        ({"status": "failed"}, "--allow-unverified", ParityError, "FAILED its parity check"),
        ({"version_compatible": True}, "--allow-engine-host-code", ArtifactError, "embeds host code"),
    ],
)
def test_each_flag_lets_the_server_load_what_it_refuses_by_default(
    fake_tensorrt, tmp_path, engine, flag, error, refusal
):
    """ijepa-serve's command line to a loaded server (Triton is not started: the gates apply when
    the server loads its models)."""
    argv = [str(engine_artifact(tmp_path / "art", **engine)), "--backend", "tensorrt", "--precision", "fp16"]
    with pytest.raises(error, match=refusal):
        Server(parse_args(argv))
    server = Server(parse_args([*argv, flag]))
    try:
        assert server.models[0].embed([encoded_image(1)]).shape == (1, 8)
    finally:
        server.stop()


def test_failed_artifact_is_refused_unless_allowed(tiny_artifact, tmp_path):
    art = tmp_path / "art"
    shutil.copytree(tiny_artifact, art)
    manifest = read_manifest(art)
    manifest.status = "failed"
    manifest.write(art)
    with pytest.raises(ParityError) as info:
        Server(ServeOptions(artifact=art))
    assert "artifact status is 'failed'" in info.value.problem and "--allow-unverified" in info.value.format()
    server = Server(ServeOptions(artifact=art, allow_unverified=True))
    try:
        assert server.unverified == ["artifact status is 'failed': its parity check did not pass"]
        assert server.models[0].embed([encoded_image(1)]).shape == (1, 192)
    finally:
        server.stop()


def test_engine_gates_name_the_serve_flags(fake_tensorrt, tmp_path):
    art = engine_artifact(tmp_path / "failed", status="failed")
    with pytest.raises(ParityError) as info:
        Server(ServeOptions(artifact=art, backend="tensorrt", precision="fp16"))
    assert "FAILED its parity check" in info.value.problem and "--allow-unverified" in info.value.format()
    art = engine_artifact(tmp_path / "vc", version_compatible=True)
    with pytest.raises(ArtifactError) as info:
        Server(ServeOptions(artifact=art, backend="tensorrt", precision="fp16"))
    assert "embeds host code" in info.value.problem and "--allow-engine-host-code" in info.value.format()
    assert not fake_tensorrt  # refused before TensorRT saw the engine


def test_version_compatible_engine_is_served_with_the_opt_in(fake_tensorrt, tmp_path):
    import tritonclient.grpc as grpcclient

    art = engine_artifact(tmp_path / "vc", version_compatible=True)
    http, grpc, metrics = free_ports(3)
    server = Server(
        ServeOptions(
            artifact=art,
            backend="tensorrt",
            precision="fp16",
            allow_engine_host_code=True,
            http_port=http,
            grpc_port=grpc,
            metrics_port=metrics,
            preprocess_instances=1,
        )
    )
    assert [r.engine_host_code_allowed for r in fake_tensorrt] == [True] and server.unverified == []
    try:
        server.start()
        client = grpcclient.InferenceServerClient(server.urls()["grpc"])
        images = [encoded_image(3), encoded_image(4)]
        got = client.infer("ijepa", [images_input(images)], client_timeout=60).as_numpy("embedding")[0]
        want = fake_model(server.models[0].preprocess(images))["embedding"]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    finally:
        server.stop()
