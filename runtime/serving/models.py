"""The two models ``ijepa-serve`` binds into Triton, as plain callables (PyTriton calls them).

``<name>_pixels`` takes preprocessed float32 ``pixel_values``; Triton's dynamic batcher merges
requests and checks dtype, shape and batch size against the model config before we see them.

``<name>`` takes encoded images (BYTES, request shape ``[1, n]``) and has ``max_batch_size`` 1, so
Triton never merges two clients' requests into one call: PyTriton can only fail a whole call, and
one client's corrupt JPEG must not fail the others. It decodes and preprocesses with the
artifact's own :class:`Preprocessor`, then sends the pixels through Triton to ``<name>_pixels``,
so the batching across clients is Triton's, not ours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from ijepa_deploy.errors import IJepaDeployError, InputError
from ijepa_deploy.runtime.model import DeployedModel
from ijepa_deploy.runtime.preprocess import Preprocessor

PIXELS_INPUT = "pixel_values"
IMAGES_INPUT = "images"


class BadRequest(InputError):
    """A request this server refuses: Triton answers it with INVALID_ARG (HTTP 400) and the one-line
    message only (triton_stub_model.py maps it by this class's qualified name)."""

    def format(self) -> str:
        return " ".join(super().format().split())  # one line, whatever the problem text held


class Unavailable(IJepaDeployError):
    """The server cannot take the request now (a full queue): UNAVAILABLE (HTTP 503), retry later."""

    def format(self) -> str:
        return " ".join(super().format().split())


def pixels_callable(model: DeployedModel) -> Callable:
    """Infer callable for ``<name>_pixels``: one call = one batch Triton assembled."""
    from pytriton.decorators import batch

    @batch
    def infer(**inputs):
        return model.run(inputs[PIXELS_INPUT])

    return infer


def decode_request(images: np.ndarray, preprocess: Preprocessor, max_images: int, max_image_bytes: int) -> np.ndarray:
    """``[1, n]`` encoded images -> float32 ``[n, 3, H, W]``, or IJepaDeployError naming the image."""
    if images.ndim != 2 or images.shape[0] != 1:
        raise InputError(IMAGES_INPUT, f"request shape is {list(images.shape)}", "[1, n]: one row of n encoded images")
    items = images[0]
    if len(items) == 0:
        raise InputError(IMAGES_INPUT, "the request has no images", "at least one encoded image")
    if len(items) > max_images:
        raise InputError(
            IMAGES_INPUT, f"{len(items)} images in one request", f"at most {max_images} (split the request)"
        )
    pixels = []
    for i, item in enumerate(items):
        if not isinstance(item, (bytes, bytearray)):
            raise InputError(
                f"{IMAGES_INPUT}[{i}]", f"element is {type(item).__name__}", "encoded image bytes (JPEG, PNG, ...)"
            )
        if len(item) > max_image_bytes:
            raise InputError(f"{IMAGES_INPUT}[{i}]", f"{len(item)} bytes", f"at most {max_image_bytes} bytes")
        try:
            pixels.append(preprocess.one(bytes(item)))
        except IJepaDeployError as exc:
            raise exc.restated(f"{IMAGES_INPUT}[{i}] {exc.subject}") from None
    return np.stack(pixels)


class PixelsForwarder:
    """Sends preprocessed pixels to ``<name>_pixels`` through Triton (one gRPC client per thread).

    Once ``stopping`` is set (SIGTERM), Triton refuses new requests while it drains, so a request
    already inside ``<name>`` runs on the local model instead: in-flight requests still complete.
    """

    def __init__(
        self, url: str, model_name: str, output_names: Sequence[str], local: DeployedModel, timeout_s: float = 300.0
    ):
        self.url = url
        self.model_name = model_name
        self.output_names = list(output_names)
        self.local = local
        self.timeout_s = timeout_s
        self.stopping = threading.Event()
        self._clients = threading.local()

    def _client(self):
        client = getattr(self._clients, "client", None)
        if client is None:
            import tritonclient.grpc as grpcclient

            client = self._clients.client = grpcclient.InferenceServerClient(self.url)
        return client

    def __call__(self, pixels: np.ndarray, requested: Sequence[str] | None) -> dict[str, np.ndarray]:
        names = [n for n in (requested or self.output_names) if n in self.output_names] or self.output_names
        if self.stopping.is_set():
            return self.local.run(pixels)
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        tensor = grpcclient.InferInput(PIXELS_INPUT, list(pixels.shape), "FP32")
        tensor.set_data_from_numpy(pixels)
        outputs = [grpcclient.InferRequestedOutput(n) for n in names]
        try:
            result = self._client().infer(self.model_name, [tensor], outputs=outputs, client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            if self.stopping.is_set():
                return self.local.run(pixels)
            if exc.status() in ("StatusCode.UNAVAILABLE", "StatusCode.RESOURCE_EXHAUSTED"):
                raise Unavailable(
                    self.model_name,
                    f"inference failed: {exc.message()}",
                    "a server with room in its queue (retry later)",
                ) from None
            raise RuntimeError(f"{self.model_name}: inference failed: {exc}") from None
        return {n: result.as_numpy(n) for n in names}


class ImagesModel:
    """Infer callable for ``<name>``: decode + preprocess this request, forward, reshape."""

    def __init__(self, preprocess: Preprocessor, forward: Callable, max_images: int, max_image_bytes: int):
        self.preprocess = preprocess
        self.forward = forward
        self.max_images = max_images
        self.max_image_bytes = max_image_bytes

    def __call__(self, requests) -> list[dict[str, np.ndarray]]:
        responses = []
        for request in requests:  # max_batch_size 1: exactly one request per call
            if IMAGES_INPUT not in request.data:
                raise BadRequest(IMAGES_INPUT, "input is missing", f"a BYTES input named {IMAGES_INPUT!r}")
            try:
                pixels = decode_request(request[IMAGES_INPUT], self.preprocess, self.max_images, self.max_image_bytes)
            except InputError as exc:  # everything decode_request refuses is the client's
                raise BadRequest(exc.subject, exc.problem, exc.expected) from None
            outputs = self.forward(pixels, getattr(request, "requested_output_names", None))
            responses.append({name: value[np.newaxis] for name, value in outputs.items()})
        return responses
