"""Triton Python-backend model ``preprocess`` (copied as ``model.py`` by ``ijepa-triton-repo``).

Decodes encoded images (BYTES ``[n, 1]`` per request) and applies the artifact's preprocessing
contract (``preprocessing.json`` beside this file) with a verbatim copy of the runtime's own
``Preprocessor`` (numpy + Pillow; install Pillow in the Triton container). A bad image fails only
its own request, with HTTP 400 / gRPC INVALID_ARGUMENT and the runtime's one-line
``subject | problem. Note: expected ...`` message.
"""

import json
import sys
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the copied ijepa_deploy preprocessing package

from ijepa_deploy.contract import PreprocessConfig  # noqa: E402
from ijepa_deploy.errors import IJepaDeployError, InputError  # noqa: E402
from ijepa_deploy.runtime.preprocess import Preprocessor  # noqa: E402

MAX_IMAGE_BYTES = 32 << 20


class TritonPythonModel:
    def initialize(self, args):
        contract = json.loads((HERE / "preprocessing.json").read_text())
        self.preprocess = Preprocessor(PreprocessConfig.from_dict(contract))
        self.output_dtype = pb_utils.triton_string_to_numpy(
            pb_utils.get_output_config_by_name(json.loads(args["model_config"]), "pixel_values")["data_type"]
        )

    def _one_request(self, images: np.ndarray) -> np.ndarray:
        pixels = []
        for i, item in enumerate(images.reshape(-1)):
            subject = f"images[{i}]"
            if not isinstance(item, (bytes, bytearray)):
                raise InputError(subject, f"element is {type(item).__name__}", "encoded image bytes")
            if len(item) > MAX_IMAGE_BYTES:
                raise InputError(subject, f"{len(item)} bytes", f"at most {MAX_IMAGE_BYTES} bytes")
            try:
                pixels.append(self.preprocess.one(bytes(item)))
            except IJepaDeployError as exc:
                raise exc.restated(f"{subject} {exc.subject}") from None
        return np.stack(pixels).astype(self.output_dtype)

    def execute(self, requests):
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "images").as_numpy()
            try:
                tensor = pb_utils.Tensor("pixel_values", self._one_request(images))
                responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            except InputError as exc:
                # INVALID_ARG: the client's error (HTTP 400, gRPC INVALID_ARGUMENT), one line
                error = pb_utils.TritonError(" ".join(exc.format().split()), pb_utils.TritonError.INVALID_ARG)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
        return responses
