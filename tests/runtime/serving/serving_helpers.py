"""Helpers for the serving tests: free ports, encoded images, tritonclient inputs, metrics."""

from __future__ import annotations

import io

import numpy as np

from ijepa_deploy.benchmarks.serving import free_ports as free_ports  # one home, re-exported


def encoded_image(seed: int, size=(48, 40), fmt="PNG") -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def images_input(images: list[bytes]):
    import tritonclient.grpc as grpcclient

    tensor = grpcclient.InferInput("images", [1, len(images)], "BYTES")
    tensor.set_data_from_numpy(np.array([images], dtype=np.object_).reshape(1, len(images)))
    return tensor


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def metric(text: str, name: str, model: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and f'model="{model}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} for {model} not in the metrics text")
