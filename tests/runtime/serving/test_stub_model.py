"""triton_stub_model.py (the model.py ijepa-serve puts in front of PyTriton's proxy), run outside
Triton: a stand-in ``triton_python_backend_utils`` and PyTriton's base class, the real PyTriton
``communication.py`` (its handshake), laid out as Triton lays out a model version directory."""

from __future__ import annotations

import importlib
import json
import shutil
import socket
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from ijepa_deploy.runtime.serving import server as serving_server
from ijepa_deploy.runtime.serving.models import BadRequest, Unavailable

VERSION_DIR = "97"  # Triton imports "<version>.model"; a number no other test uses

FAKE_BASE = """
class TritonPythonModel:
    calls = []
    execute_error = None

    def initialize(self, args):
        TritonPythonModel.calls.append(("initialize", args["model_instance_name"]))

    def execute(self, requests):
        if TritonPythonModel.execute_error is not None:
            raise TritonPythonModel.execute_error
        return ["served"] * len(requests)
"""


def _fake_pb_utils():
    pb = types.ModuleType("triton_python_backend_utils")

    class TritonError:
        INTERNAL, INVALID_ARG, UNAVAILABLE = "INTERNAL", "INVALID_ARG", "UNAVAILABLE"

        def __init__(self, message, code="INTERNAL"):
            self.message, self.code = message, code

    class InferenceResponse:
        def __init__(self, output_tensors, error=None):
            self.output_tensors, self.error = output_tensors, error

    class Logger:
        errors: list[str] = []

        @classmethod
        def log_error(cls, text):
            cls.errors.append(text)

    pb.TritonError, pb.InferenceResponse, pb.Logger = TritonError, InferenceResponse, Logger
    pb.TritonModelException = type("TritonModelException", (Exception,), {})
    return pb


@pytest.fixture
def stub(tmp_path, monkeypatch):
    """The stub module imported as Triton imports it, with PyTriton's real communication.py."""
    import pytriton.proxy.communication as communication

    version = tmp_path / "repo" / VERSION_DIR
    version.mkdir(parents=True)
    shutil.copyfile(serving_server.STUB_MODEL, version / "model.py")
    shutil.copyfile(communication.__file__, version / "communication.py")
    (version / "pytriton_model.py").write_text(FAKE_BASE)
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _fake_pb_utils())
    monkeypatch.syspath_prepend(str(tmp_path / "repo"))
    for name in [n for n in sys.modules if n == VERSION_DIR or n.startswith(VERSION_DIR + ".")]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module(f"{VERSION_DIR}.model")
    yield module
    for name in [n for n in sys.modules if n == VERSION_DIR or n.startswith(VERSION_DIR + ".")]:
        del sys.modules[name]


def _args(workspace: Path, instance: str) -> dict:
    config = {"parameters": {"workspace-path": {"string_value": str(workspace)}}}
    return {"model_name": "ijepa", "model_instance_name": instance, "model_config": json.dumps(config)}


def _bound_not_listening(path: Path) -> socket.socket:
    """A Unix socket in the state PyTriton's handshake server is in between bind() and listen()."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


def test_the_cause_a_handshake_socket_file_before_listen_refuses(tmp_path):
    """PyTriton's non-first instances connect as soon as the socket file exists: refused until listen()."""
    from pytriton.proxy.communication import get_config_from_handshake_server

    path = tmp_path / "ijepa-config.sock"
    sock = _bound_not_listening(path)
    try:
        with pytest.raises(ConnectionRefusedError):
            get_config_from_handshake_server(path, timeout_s=1.0)
    finally:
        sock.close()


def test_other_instances_wait_for_the_first_instances_handshake(stub, tmp_path):
    from pytriton.proxy.communication import HandshakeServer

    path = tmp_path / "ijepa-config.sock"
    early = _bound_not_listening(path)
    servers = []

    def first_instance_gets_there():
        time.sleep(0.6)
        early.close()
        path.unlink()
        servers.append(HandshakeServer(path, {"data_socket": "x"}))
        servers[0].start()

    helper = threading.Thread(target=first_instance_gets_there)
    start = time.monotonic()
    helper.start()
    try:
        stub.TritonPythonModel().initialize(_args(tmp_path, "ijepa_0_2"))
        waited = time.monotonic() - start
    finally:
        helper.join()
        for s in servers:
            s.close()
    assert waited >= 0.5, "did not wait for the handshake"
    base = importlib.import_module(f"{VERSION_DIR}.pytriton_model").TritonPythonModel
    assert base.calls == [("initialize", "ijepa_0_2")]
    stub.TritonPythonModel().initialize(_args(tmp_path / "none", "ijepa_0_0"))  # the first never waits
    assert base.calls[-1] == ("initialize", "ijepa_0_0")


def test_a_handshake_that_never_comes_fails_with_a_clear_message(stub, tmp_path):
    with pytest.raises(RuntimeError, match=r"ijepa_0_1 \| the first instance's handshake .* did not answer"):
        stub._wait_for_handshake(_args(tmp_path, "ijepa_0_1"), deadline_s=0.3)


def _pytriton_error_text(exc: Exception) -> str:
    """PyTriton's text for a callable's exception: the traceback, nested in the stub's own."""
    return (
        'Model execute error: Traceback (most recent call last):\n  File "/x/model.py", line 1\n'
        "c_python_backend_utils.TritonModelException: Traceback (most recent call last):\n"
        '  File "/site-packages/pytriton/proxy/inference.py", line 393, in _handle_requests\n'
        f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}\n"
    )


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (BadRequest("images", "9 images in one request", "at most 8 (split the request)"), "INVALID_ARG"),
        (BadRequest("images[0] <4 bytes>", "not an image\nPillow can decode", "an image file"), "INVALID_ARG"),
        (Unavailable("ijepa_pixels", "inference failed: Exceeds maximum queue size", "retry later"), "UNAVAILABLE"),
    ],
)
def test_refused_requests_get_their_code_and_one_line(stub, exc, code):
    base = importlib.import_module(f"{VERSION_DIR}.pytriton_model").TritonPythonModel
    base.execute_error = sys.modules["triton_python_backend_utils"].TritonModelException(_pytriton_error_text(exc))
    model = stub.TritonPythonModel()
    model.initialize(_args(Path("/nonexistent"), "ijepa_0_0"))
    (response,) = model.execute([_request((1, 1))])
    assert response.error.code == code
    assert response.error.message == exc.format() and "\n" not in response.error.message


def test_server_faults_stay_internal_with_the_traceback_logged(stub):
    pb = sys.modules["triton_python_backend_utils"]
    base = importlib.import_module(f"{VERSION_DIR}.pytriton_model").TritonPythonModel
    text = _pytriton_error_text(RuntimeError("CUDA error in /opt/x/engine.py"))
    base.execute_error = pb.TritonModelException(text)
    model = stub.TritonPythonModel()
    model.initialize(_args(Path("/nonexistent"), "ijepa_0_0"))
    responses = model.execute([_request((1, 1)), _request((1, 2))])
    assert [r.error.code for r in responses] == ["INTERNAL", "INTERNAL"]
    assert responses[0].error.message == "ijepa | internal server error (details are in the server log)"
    assert text in pb.Logger.errors[-1]
    base.execute_error = None
    assert model.execute([_request((1, 1))]) == ["served"]


def test_an_empty_tensor_is_refused_before_pytriton_sees_it(stub):
    model = stub.TritonPythonModel()
    model.initialize(_args(Path("/nonexistent"), "ijepa_0_0"))
    (response,) = model.execute([_request((1, 0))])
    assert response.error.code == "INVALID_ARG"
    assert response.error.message.startswith("images | the request has no data (shape [1, 0])")


def test_the_stub_knows_the_exception_classes_by_their_real_names(stub):
    for cls in (BadRequest, Unavailable):
        assert f"{cls.__module__}.{cls.__qualname__}: " in stub.CLIENT_ERRORS


def _request(shape):
    tensor = types.SimpleNamespace(name=lambda: "images", shape=lambda: list(shape))
    return types.SimpleNamespace(inputs=lambda: [tensor])
