"""Triton Python-backend ``model.py`` that ``ijepa-serve`` puts in front of PyTriton's own proxy model.

Runs inside Triton's Python-backend stub, not in the ``ijepa-serve`` process: it may import only the
standard library, ``triton_python_backend_utils`` and PyTriton's proxy files copied beside it (PyTriton's
``model.py`` is renamed ``pytriton_model.py`` there). It changes two things, both at their cause:

- **Start-up race**: PyTriton's first instance of a model starts a handshake server on a Unix socket;
  the other instances (loaded in parallel by the Python backend) read its config once, within 1 s,
  as soon as the socket *file* exists. The file appears at ``bind()``, before ``listen()``, so an
  instance can get ``Connection refused`` (or time out while the first instance is still importing)
  and the model fails to load. Here the other instances wait (bounded) until the handshake answers.
- **Error status**: PyTriton turns every exception of the bound callable into an INTERNAL error (HTTP
  500) carrying the full traceback. Here a request the callable refused (an exception whose class is
  in ``CLIENT_ERRORS``) becomes INVALID_ARG (HTTP 400, gRPC INVALID_ARGUMENT) with its one-line
  message only; anything else stays INTERNAL, with a short message to the client and the traceback
  in the server log.
"""

import importlib
import pathlib
import time
from typing import Any

import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend

_pkg = __name__.rsplit(".", 1)[0]
_proxy: Any = importlib.import_module(f"{_pkg}.pytriton_model")  # PyTriton's own proxy model.py
_communication = importlib.import_module(f"{_pkg}.communication")

# "<module>.<class>: " prefixes of the traceback's last line -> Triton error code name.
# Keep in sync with ijepa_deploy.runtime.serving.models (BadRequest, Unavailable).
CLIENT_ERRORS = {
    "ijepa_deploy.runtime.serving.models.BadRequest: ": "INVALID_ARG",
    "ijepa_deploy.runtime.serving.models.Unavailable: ": "UNAVAILABLE",
}
HANDSHAKE_WAIT_S = 120.0


def classify(text: str):
    """(code name, one-line message) for a refused request found in PyTriton's error text, else None."""
    for line in reversed(text.splitlines()):
        for prefix, code in CLIENT_ERRORS.items():
            at = line.find(prefix)
            if at >= 0:
                return code, line[at + len(prefix) :].strip()
    return None


def _wait_for_handshake(args, deadline_s: float = HANDSHAKE_WAIT_S) -> None:
    """Block a non-first instance until the first instance's handshake server answers."""
    import json

    instance = args.get("model_instance_name") or ""
    if instance == "_".join(instance.split("_")[:-1] + ["0"]):
        return  # the first instance serves the handshake itself
    config = json.loads(args["model_config"])
    workspace = pathlib.Path(config["parameters"]["workspace-path"]["string_value"])
    socket_path = workspace / f"{args['model_name']}-config.sock"
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            _communication.get_config_from_handshake_server(socket_path, timeout_s=1.0)
            return
        except (ConnectionRefusedError, FileNotFoundError, TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{instance} | the first instance's handshake at {socket_path} did not "
                    f"answer within {deadline_s:.0f} s ({type(exc).__name__})"
                ) from None
            time.sleep(0.05)


def _empty_input(requests):
    for request in requests:
        for tensor in request.inputs():
            if 0 in tensor.shape():
                return f"{tensor.name()} | the request has no data (shape {list(tensor.shape())})"
    return None


class TritonPythonModel(_proxy.TritonPythonModel):
    def initialize(self, args):
        self._name = args["model_name"]
        _wait_for_handshake(args)
        super().initialize(args)

    def _errors(self, requests, code: str, message: str):
        error = pb_utils.TritonError(message, getattr(pb_utils.TritonError, code))
        return [pb_utils.InferenceResponse(output_tensors=[], error=error) for _ in requests]

    def execute(self, requests):
        empty = _empty_input(requests)  # PyTriton's proxy would fail these with an INTERNAL traceback
        if empty is not None:
            return self._errors(requests, "INVALID_ARG", f"{empty}. Note: expected at least one element")
        try:
            return super().execute(requests)
        except pb_utils.TritonModelException as exc:
            text = str(exc)
        refused = classify(text)
        if refused is not None:
            return self._errors(requests, *refused)
        pb_utils.Logger.log_error(f"{self._name}: inference failed:\n{text}")
        return self._errors(
            requests, "INTERNAL", f"{self._name} | internal server error (details are in the server log)"
        )
