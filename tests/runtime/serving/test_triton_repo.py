"""ijepa-triton-repo: every config.pbtxt parses as Triton's ModelConfig; the Python-backend
preprocess model runs in the bundled tritonserver and matches the runtime's Preprocessor."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from serving_helpers import encoded_image, free_ports

from ijepa_deploy.cli.triton_repo import main as repo_main
from ijepa_deploy.runtime.serving.repository import write_notes


def _parse(path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_unknown_field_fails_the_parser(tmp_path):
    from google.protobuf.text_format import ParseError

    bad = tmp_path / "config.pbtxt"
    bad.write_text('name: "x"\nmax_batch_size: 4\ndynamic_batching { max_queue_size: 3 }\n')
    with pytest.raises(ParseError):
        _parse(bad)


@pytest.mark.parametrize("fixture", ["tiny_artifact", "tiny_cls_artifact"])
def test_repository_configs_are_triton_model_configs(fixture, request, tmp_path):
    artifact = request.getfixturevalue(fixture)
    out = tmp_path / "repo"
    with pytest.raises(SystemExit) as done:
        repo_main([str(artifact), str(out), "--preferred-batch-sizes", "4", "8", "--instances", "2"])
    assert done.value.code == 0
    configs = {p.parent.name: _parse(p) for p in out.glob("*/config.pbtxt")}
    assert set(configs) == {"ijepa", "ijepa_pixels", "preprocess"}
    pixels, pre, ens = configs["ijepa_pixels"], configs["preprocess"], configs["ijepa"]
    assert pixels.platform == "onnxruntime_onnx" and pixels.max_batch_size == 8
    assert list(pixels.input[0].dims) == [3, 224, 224]  # no batch axis
    assert list(pixels.dynamic_batching.preferred_batch_size) == [4, 8]
    assert pixels.dynamic_batching.default_queue_policy.max_queue_size == 128
    assert pixels.instance_group[0].count == 2
    assert (out / "ijepa_pixels" / "1" / "model.onnx").is_file()
    outputs = {o.name for o in ens.output}
    assert outputs == ({"logits"} if fixture == "tiny_cls_artifact" else {"embedding", "last_hidden_state"})
    assert [s.model_name for s in ens.ensemble_scheduling.step] == ["preprocess", "ijepa_pixels"]
    assert pre.backend == "python" and (out / "preprocess" / "1" / "model.py").is_file()
    # the existing repository is kept unless --overwrite
    with pytest.raises(SystemExit) as again:
        repo_main([str(artifact), str(out)])
    assert again.value.code == 1


def test_overwrite_replaces_the_repository_and_nothing_beside_it(tiny_artifact, tmp_path):
    out = tmp_path / "repo"
    with pytest.raises(SystemExit):
        repo_main([str(tiny_artifact), str(out)])
    (out / "stale.txt").write_text("from the old repository")
    beside = tmp_path / ".repo.old"  # the name the old swap emptied first: may be someone's files
    beside.mkdir()
    (beside / "keep.txt").write_text("keep")
    with pytest.raises(SystemExit) as done:
        repo_main([str(tiny_artifact), str(out), "--overwrite"])
    assert done.value.code == 0
    assert not (out / "stale.txt").exists() and (out / "ijepa_pixels" / "config.pbtxt").is_file()
    assert (beside / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".repo.old", "repo"]


def test_preprocess_model_runs_in_tritonserver(tiny_artifact, tmp_path):
    import tritonclient.grpc as grpcclient
    from pytriton.triton import Triton, TritonConfig
    from tritonclient.utils import InferenceServerException

    from ijepa_deploy.runtime import load
    from ijepa_deploy.runtime.serving.libpython import apply_libpython_fix

    out = tmp_path / "repo"
    with pytest.raises(SystemExit):
        repo_main([str(tiny_artifact), str(out)])
    only = tmp_path / "only-preprocess"  # the bundled server has the Python backend only
    shutil.copytree(out / "preprocess", only / "preprocess")
    # the notes an overridden check leaves (repository root, model directory): Triton must ignore them
    write_notes(only, [only, only / "preprocess"], tiny_artifact, ["a test note"], warn=lambda note: None)
    http, grpc, metrics = free_ports(3)
    apply_libpython_fix()
    triton = Triton(
        config=TritonConfig(
            model_repository=only,
            http_address="127.0.0.1",
            http_port=http,
            grpc_address="127.0.0.1",
            grpc_port=grpc,
            metrics_address="127.0.0.1",
            metrics_port=metrics,
            exit_timeout_secs=5,
        )
    )
    try:
        triton.run()
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc}")
        images = [encoded_image(7), encoded_image(8, fmt="JPEG")]
        tensor = grpcclient.InferInput("images", [2, 1], "BYTES")
        tensor.set_data_from_numpy(np.array(images, dtype=np.object_).reshape(2, 1))
        got = client.infer("preprocess", [tensor], client_timeout=60).as_numpy("pixel_values")
        with load(tiny_artifact) as model:
            np.testing.assert_array_equal(got, model.preprocess(images))
        bad = grpcclient.InferInput("images", [1, 1], "BYTES")
        bad.set_data_from_numpy(np.array([[b"not an image"]], dtype=np.object_))
        with pytest.raises(InferenceServerException, match="not an image Pillow can decode") as info:
            client.infer("preprocess", [bad], client_timeout=60)
        assert info.value.status() == "StatusCode.INVALID_ARGUMENT"  # the client's error: 400, not 500
    finally:
        triton.stop()


# -- what ships through Triton is verified as load() verifies it ------------------------------------
def _copy_with(artifact, tmp_path, **changes):
    from ijepa_deploy.manifest import read_manifest

    copy = tmp_path / "art"
    shutil.copytree(artifact, copy)
    manifest = read_manifest(copy)
    for key, value in changes.items():
        setattr(manifest, key, value)
    manifest.write(copy)
    return copy


def _run(argv, capsys):
    with pytest.raises(SystemExit) as done:
        repo_main([str(a) for a in argv])
    return done.value.code, capsys.readouterr().err


def test_failed_artifact_is_refused_unless_allowed_and_then_noted(tiny_artifact, tmp_path, capsys):
    art = _copy_with(tiny_artifact, tmp_path, status="failed")
    out = tmp_path / "repo"
    code, err = _run([art, out], capsys)
    assert code == 1 and "artifact status is 'failed'" in err and "--allow-unverified" in err
    assert "Traceback" not in err and not out.exists()
    code, err = _run([art, out, "--allow-unverified"], capsys)
    assert code == 0 and "WARNING: UNVERIFIED (--allow-unverified): artifact status is 'failed'" in err
    for place in (out, out / "ijepa_pixels"):
        note = (place / "NOTE.txt").read_text()
        assert note.startswith("DO NOT SERVE IN PRODUCTION") and "artifact status is 'failed'" in note
    assert {p.parent.name for p in out.glob("*/config.pbtxt")} == {"ijepa", "ijepa_pixels", "preprocess"}


def test_tampered_graph_is_refused_even_when_unverified_is_allowed(tiny_artifact, tmp_path, capsys):
    art = _copy_with(tiny_artifact, tmp_path)
    graph = art / "model.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    code, err = _run([art, tmp_path / "repo", "--allow-unverified"], capsys)
    assert code == 1 and "checksum mismatch" in err and not (tmp_path / "repo").exists()


@pytest.fixture
def engine_artifact(tmp_path):
    """An artifact with an fp16 engine (the repository only copies the plan: no TensorRT needed)."""
    from manifest_factory import engine_artifact as make

    return lambda **engine: make(tmp_path / "engine-art", **engine)


@pytest.mark.parametrize(
    "status, problem", [("failed", "FAILED its parity check"), ("unverified", "was never checked")]
)
def test_engine_that_did_not_pass_parity_is_refused_unless_allowed(engine_artifact, tmp_path, capsys, status, problem):
    art = engine_artifact(status=status)
    out = tmp_path / "repo"
    argv = [art, out, "--backend", "tensorrt", "--precision", "fp16"]
    code, err = _run(argv, capsys)
    assert code == 1 and problem in err and "model_fp16.engine" in err and "--allow-unverified" in err
    assert not out.exists()
    code, err = _run([*argv, "--allow-unverified"], capsys)
    assert code == 0 and f"WARNING: UNVERIFIED (--allow-unverified): TensorRT engine model_fp16.engine {problem}" in err
    assert problem in (out / "ijepa_pixels" / "NOTE.txt").read_text()
    pixels = _parse(out / "ijepa_pixels" / "config.pbtxt")
    assert pixels.platform == "tensorrt_plan" and pixels.max_batch_size == 4
    assert (out / "ijepa_pixels" / "1" / "model.plan").read_bytes() == b"plan"


def test_verified_engine_ships_without_a_note(engine_artifact, tmp_path, capsys):
    out = tmp_path / "repo"
    code, err = _run([engine_artifact(), out, "--backend", "tensorrt", "--precision", "fp16"], capsys)
    assert code == 0 and "WARNING" not in err and not list(out.rglob("NOTE.txt"))


def test_version_compatible_engine_needs_the_host_code_opt_in(engine_artifact, tmp_path, capsys):
    art = engine_artifact(version_compatible=True)
    out = tmp_path / "repo"
    argv = [art, out, "--backend", "tensorrt", "--precision", "fp16"]
    code, err = _run(argv, capsys)
    assert code == 1 and "version-compatible: it embeds host code" in err and "--allow-engine-host-code" in err
    assert "--backend-config=tensorrt,version-compatible=true" in err and not out.exists()
    code, err = _run([*argv, "--allow-engine-host-code"], capsys)
    assert code == 0 and "WARNING: ENGINE HOST CODE" in err
    note = (out / "NOTE.txt").read_text()
    assert "--backend-config=tensorrt,version-compatible=true" in note and "model_fp16.engine" in note
