"""ijepa-triton-repo: every config.pbtxt parses as Triton's ModelConfig; the Python-backend
preprocess model runs in the bundled tritonserver and matches the runtime's Preprocessor."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from serving_helpers import encoded_image, free_ports

from ijepa_deploy.cli.triton_repo import main as repo_main


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
    http, grpc, metrics = free_ports(3)
    apply_libpython_fix()
    triton = Triton(config=TritonConfig(model_repository=only, http_address="127.0.0.1", http_port=http,
                                        grpc_address="127.0.0.1", grpc_port=grpc, metrics_address="127.0.0.1",
                                        metrics_port=metrics, exit_timeout_secs=5))
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
        with pytest.raises(InferenceServerException, match="not an image Pillow can decode"):
            client.infer("preprocess", [bad], client_timeout=60)
    finally:
        triton.stop()
