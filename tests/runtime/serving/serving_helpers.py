"""Helpers for the serving tests: free ports, encoded images, tritonclient inputs, metrics."""

from __future__ import annotations

import io
import socket

import numpy as np


def free_ports(n: int) -> list[int]:
    """Ports the kernel says are free now (bound together so they differ); parallel runs don't collide."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


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
