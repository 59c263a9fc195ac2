"""ijepa-serve in this process: load (64 clients), bad inputs next to good clients (400 with the
one-line message over gRPC and HTTP), server faults (500, traceback only in the server log), metrics."""

from __future__ import annotations

import logging
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from serving_helpers import cosine, encoded_image, free_ports, images_input, metric

CLIENTS = 64
REQUESTS_PER_CLIENT = 3
IMAGES_PER_REQUEST = 2
MAX_IMAGE_BYTES = 1 << 20
ONE_LINE = re.compile(r"^\S[^\n]* \| [^\n]+\. Note: expected [^\n]+$")  # subject | problem. Note: expected ...


@pytest.fixture(scope="module")
def server(tiny_artifact):
    from ijepa_deploy.runtime.serving.options import ServeOptions
    from ijepa_deploy.runtime.serving.server import Server

    http, grpc, metrics = free_ports(3)
    srv = Server(
        ServeOptions(
            artifact=tiny_artifact,
            http_port=http,
            grpc_port=grpc,
            metrics_port=metrics,
            max_queue_delay_us=20000,
            preprocess_instances=4,
            max_queue=256,
            max_image_bytes=MAX_IMAGE_BYTES,
        )
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def reference(tiny_artifact):
    from ijepa_deploy.runtime import load

    with load(tiny_artifact) as model:
        yield model


def _client(server):
    import tritonclient.grpc as grpcclient

    return grpcclient.InferenceServerClient(server.urls()["grpc"])


def test_load_64_clients_every_response_is_its_own(server, reference):
    import tritonclient.grpc as grpcclient

    def one_client(c: int):
        client = _client(server)
        results = []
        for r in range(REQUESTS_PER_CLIENT):
            images = [encoded_image(10_000 * c + 10 * r + i) for i in range(IMAGES_PER_REQUEST)]
            res = client.infer(
                "ijepa",
                [images_input(images)],
                client_timeout=120,
                outputs=[grpcclient.InferRequestedOutput("embedding")],
            )
            results.append((images, res.as_numpy("embedding")))
        return results

    before = urllib.request.urlopen(server.urls()["metrics"], timeout=10).read().decode()
    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        per_client = list(pool.map(one_client, range(CLIENTS)))
    wall = time.perf_counter() - start
    after = urllib.request.urlopen(server.urls()["metrics"], timeout=10).read().decode()

    all_images = [img for results in per_client for images, _ in results for img in images]
    expected = reference.embed(all_images)
    served = np.concatenate([emb[0] for results in per_client for _, emb in results])
    assert served.shape == expected.shape == (CLIENTS * REQUESTS_PER_CLIENT * IMAGES_PER_REQUEST, 192)
    assert cosine(served, expected).min() >= 0.99999  # none swapped: each row against its own image

    requests = metric(after, "nv_inference_request_success", "ijepa_pixels") - metric(
        before, "nv_inference_request_success", "ijepa_pixels"
    )
    executions = metric(after, "nv_inference_exec_count", "ijepa_pixels") - metric(
        before, "nv_inference_exec_count", "ijepa_pixels"
    )
    assert requests == CLIENTS * REQUESTS_PER_CLIENT  # none lost
    assert requests / executions > 1, f"no batching across clients ({requests} requests, {executions} runs)"
    print(
        f"\n{CLIENTS} clients x {REQUESTS_PER_CLIENT} requests x {IMAGES_PER_REQUEST} images in {wall:.2f} s; "
        f"mean requests per Triton execution {requests / executions:.2f}"
    )


def _bomb_png(width=30_000, height=30_000) -> bytes:
    """A PNG header declaring 900 M pixels (no pixel data needed: the size check comes first)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _float_tiff() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ones((16, 16), dtype=np.float32)).save(buf, "TIFF")
    return buf.getvalue()


def _bad_requests():
    import tritonclient.grpc as grpcclient

    good = encoded_image(1, fmt="JPEG")

    def pixels(shape, dtype, triton_dtype):
        t = grpcclient.InferInput("pixel_values", list(shape), triton_dtype)
        t.set_data_from_numpy(np.zeros(shape, dtype=dtype))
        return t

    empty = grpcclient.InferInput("images", [1, 0], "BYTES")
    empty.set_data_from_numpy(np.zeros((1, 0), dtype=np.object_))
    return {
        "non-image bytes": ("ijepa", [images_input([good, b"this is not an image"])], "not an image Pillow can decode"),
        "truncated JPEG": ("ijepa", [images_input([good[: len(good) // 2]])], "corrupt or truncated"),
        # PyTriton's proxy would fail a zero-sized tensor (500, traceback); the stub model refuses it first.
        "empty request": ("ijepa", [empty], "the request has no data"),
        "empty image": ("ijepa", [images_input([b""])], "0 bytes"),
        "decompression bomb": ("ijepa", [images_input([_bomb_png()])], "decompression"),
        "rejected mode": ("ijepa", [images_input([_float_tiff()])], "mode F"),
        "too many images": ("ijepa", [images_input([good] * 9)], "at most 8"),
        "image over the byte limit": (
            "ijepa",
            [images_input([b"\xff" * (MAX_IMAGE_BYTES + 1)])],
            f"at most {MAX_IMAGE_BYTES} bytes",
        ),
        "pixels wrong dtype": ("ijepa_pixels", [pixels((1, 3, 224, 224), np.float64, "FP64")], "expects 'fp32'"),
        "pixels wrong shape": ("ijepa_pixels", [pixels((1, 3, 32, 32), np.float32, "FP32")], "shape"),
        "pixels too many": ("ijepa_pixels", [pixels((9, 3, 224, 224), np.float32, "FP32")], "batch"),
    }


def test_bad_inputs_fail_alone_with_clear_errors(server, reference):
    from tritonclient.utils import InferenceServerException

    good_images = [[encoded_image(500 + c * 2 + i) for i in range(2)] for c in range(8)]
    expected = [reference.embed(imgs) for imgs in good_images]
    bad = _bad_requests()

    def good_client(c: int):
        client = _client(server)
        return [
            client.infer("ijepa", [images_input(good_images[c])], client_timeout=60).as_numpy("embedding")[0]
            for _ in range(4)
        ]

    def bad_client(label: str):
        model, inputs, needle = bad[label]
        try:
            _client(server).infer(model, inputs, client_timeout=60)
        except InferenceServerException as exc:
            return label, str(exc), needle
        return label, None, needle

    with ThreadPoolExecutor(8 + len(bad)) as pool:
        goods = [pool.submit(good_client, c) for c in range(8)]
        bads = [pool.submit(bad_client, label) for label in bad]
        outcomes = [f.result() for f in bads]
        good_results = [f.result() for f in goods]
    unclear = [
        f"{label}: {'accepted' if message is None else message[-300:]}"
        for label, message, needle in outcomes
        if message is None or needle.lower() not in message.lower()
    ]
    assert not unclear, "\n".join(unclear)
    for c, results in enumerate(good_results):
        for got in results:
            assert cosine(got, expected[c]).min() >= 0.99999
    assert _client(server).is_server_ready()


def _http_images(images: list[bytes]):
    import tritonclient.http as httpclient

    tensor = httpclient.InferInput("images", [1, len(images)], "BYTES")
    tensor.set_data_from_numpy(np.array([images], dtype=np.object_).reshape(1, len(images)), binary_data=True)
    return tensor


def _failure(protocol: str, server, model: str, grpc_inputs) -> tuple[str, str]:
    """(status, message) of a request expected to fail, over gRPC or HTTP (same tensors)."""
    from tritonclient.utils import InferenceServerException

    try:
        if protocol == "grpc":
            _client(server).infer(model, grpc_inputs, client_timeout=60)
        else:
            import tritonclient.http as httpclient

            inputs = []
            for t in grpc_inputs:
                h = httpclient.InferInput(t.name(), list(t._ijepa_array.shape), t.datatype())
                h.set_data_from_numpy(t._ijepa_array, binary_data=True)
                inputs.append(h)
            client = httpclient.InferenceServerClient(server.urls()["http"].removeprefix("http://"), network_timeout=60)
            try:
                client.infer(model, inputs)
            finally:
                client.close()  # an open keep-alive connection holds Triton's graceful stop to its timeout
    except InferenceServerException as exc:
        return str(exc.status()), exc.message()
    return "accepted", ""


@pytest.fixture
def keep_arrays(monkeypatch):
    """Remember the array each gRPC InferInput was given, to send the same tensor over HTTP."""
    import tritonclient.grpc as grpcclient

    original = grpcclient.InferInput.set_data_from_numpy

    def remember(self, array):
        self._ijepa_array = array
        return original(self, array)

    monkeypatch.setattr(grpcclient.InferInput, "set_data_from_numpy", remember)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_client_errors_are_400_with_the_one_line_message(server, protocol, keep_arrays, caplog):
    want = {"grpc": "StatusCode.INVALID_ARGUMENT", "http": "400"}[protocol]
    wrong = []
    for label, (model, inputs, needle) in _bad_requests().items():
        with caplog.at_level(logging.INFO):
            status, message = _failure(protocol, server, model, inputs)
        if status != want or needle.lower() not in message.lower():
            wrong.append(f"{label}: {status} {message[-300:]!r}")
        elif model == "ijepa" and not ONE_LINE.match(message):  # the pixel model's are Triton's own words
            wrong.append(f"{label}: not one 'subject | problem. Note: expected ...' line: {message[-300:]!r}")
        elif any(leak in message for leak in ("Traceback", ".py", "site-packages", 'File "')):
            wrong.append(f"{label}: server internals in the message: {message[-300:]!r}")
    assert not wrong, "\n".join(wrong)
    # the server's log has each refusal as one line, not a traceback
    assert "refused request: images | 9 images in one request" in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_server_faults_stay_500_with_the_traceback_only_in_the_log(server, protocol, keep_arrays, monkeypatch, caplog):
    def broken(_pixels):
        raise RuntimeError("engine exploded in /opt/secret/engine.py")

    monkeypatch.setattr(server.models[0], "run", broken)
    want = {"grpc": "StatusCode.INTERNAL", "http": "500"}[protocol]
    with caplog.at_level(logging.WARNING):
        for model, inputs in (
            ("ijepa", [images_input([encoded_image(3)])]),
            ("ijepa_pixels", [_pixels_input((1, 3, 224, 224))]),
        ):
            status, message = _failure(protocol, server, model, inputs)
            assert status == want, (model, status, message)
            assert message == f"{model} | internal server error (details are in the server log)"
    assert "RuntimeError: engine exploded in /opt/secret/engine.py" in caplog.text  # the server log has it


def _pixels_input(shape):
    import tritonclient.grpc as grpcclient

    t = grpcclient.InferInput("pixel_values", list(shape), "FP32")
    t.set_data_from_numpy(np.zeros(shape, dtype=np.float32))
    return t


def test_health_and_metrics_urls(server):
    for key in ("ready", "live"):
        assert urllib.request.urlopen(server.urls()[key], timeout=10).status == 200
    metrics = urllib.request.urlopen(server.urls()["metrics"], timeout=10).read().decode()
    assert "nv_inference_request_success" in metrics
