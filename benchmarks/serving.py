"""``ijepa-bench --serve``: served (Triton through ``ijepa-serve``'s ``Server``, on loopback) vs
direct (``runtime.load().embed`` in this process) throughput, same run, interleaved.

For each client count C (default 1, 8, 64), every round first runs direct: ``embed`` of C distinct
JPEGs as one call (batch C, chunked at the artifact's max batch as ``load()`` does), ``requests``
times; then served: C concurrent gRPC clients, each sending ``requests`` requests of its own one
JPEG to ``<name>`` (decode + preprocess on the server, Triton's dynamic batcher in front of the
model). Both sides decode and preprocess the same bytes. The ratio is served images/s over direct
images/s of the same round; the report takes the median over rounds, the latency percentiles over
every served request, and the mean batch Triton's metrics saw on ``<name>_pixels``.

Bounded: ``rounds x C x requests`` requests per client count, each with a client timeout; the
server listens on 127.0.0.1 on ports the kernel says are free."""

from __future__ import annotations

import io
import socket
import statistics
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ijepa_deploy.benchmarks.options import BenchOptions
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime.serving.options import ServeOptions
from ijepa_deploy.runtime.serving.server import Server

REQUEST_TIMEOUT_S = 300.0
JPEG_SIZE = (320, 256)  # width, height: a small photo-sized input, resized by the server


def client_jpeg(seed: int) -> bytes:
    """A distinct JPEG per client (seeded noise: every client's image differs)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (rng.random((JPEG_SIZE[1], JPEG_SIZE[0], 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


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


def batch_counters(metrics_url: str, model: str) -> tuple[float, float]:
    """(inferences, executions) Triton counted for ``model``: their ratio is the mean batch."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        for name in ("nv_inference_count", "nv_inference_exec_count"):
            if line.startswith(name + "{") and f'model="{model}"' in line:
                values[name] = float(line.rsplit(" ", 1)[1])
    return values.get("nv_inference_count", 0.0), values.get("nv_inference_exec_count", 0.0)


def _client(grpc_url: str, model: str, image: bytes, requests: int, output: str) -> list[float]:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(grpc_url)
    try:
        tensor = grpcclient.InferInput("images", [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        wanted = [grpcclient.InferRequestedOutput(output)]
        latencies = []
        for _ in range(requests):
            t0 = time.perf_counter()
            client.infer(model, [tensor], outputs=wanted, client_timeout=REQUEST_TIMEOUT_S)
            latencies.append(time.perf_counter() - t0)
        return latencies
    finally:
        client.close()


def _served_round(server, clients: int, images: list[bytes], requests: int, output: str) -> tuple[float, list]:
    grpc_url = server.urls()["grpc"]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(
            pool.map(lambda c: _client(grpc_url, server.opts.name, images[c], requests, output), range(clients))
        )
    wall = time.perf_counter() - t0
    return clients * requests / wall, [lat for per in results for lat in per]


def _direct_round(model, clients: int, images: list[bytes], requests: int, task: str) -> float:
    call = model.classify if task == "image-classification" else model.embed
    t0 = time.perf_counter()
    for _ in range(requests):
        call(images)
    return clients * requests / (time.perf_counter() - t0)


def _clients_rounds(server, direct, clients: int, opts: BenchOptions, task: str, output: str) -> dict:
    """``opts.serve_rounds`` paired rounds at ``clients`` concurrent clients: direct, then served."""
    images = [client_jpeg(c) for c in range(clients)]
    before = batch_counters(server.urls()["metrics"], server.opts.pixels_name)
    served, direct_rates, latencies = [], [], []
    for _ in range(opts.serve_rounds):
        direct_rates.append(_direct_round(direct, clients, images, opts.serve_requests, task))
        rate, lat = _served_round(server, clients, images, opts.serve_requests, output)
        served.append(rate)
        latencies += lat
    after = batch_counters(server.urls()["metrics"], server.opts.pixels_name)
    ratios = [s / d for s, d in zip(served, direct_rates)]
    executions = after[1] - before[1]
    lat_ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "served_img_s": statistics.median(served),
        "direct_img_s": statistics.median(direct_rates),
        "served_over_direct": statistics.median(ratios),
        "round_ratios": ratios,
        "served_img_s_rounds": served,
        "direct_img_s_rounds": direct_rates,
        "p50_ms": float(np.percentile(lat_ms, 50)),
        "p99_ms": float(np.percentile(lat_ms, 99)),
        "mean_batch": (after[0] - before[0]) / executions if executions else None,
    }


def measure_serving(directory: Path, opts: BenchOptions, progress: Progress) -> dict:
    manifest = read_manifest(directory)
    output = "logits" if manifest.task == "image-classification" else "embedding"
    http, grpc, metrics = free_ports(3)
    serve_opts = ServeOptions(
        artifact=directory,
        backend=opts.serve_backend,
        precision=opts.serve_precision,
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
        max_queue=max(128, 2 * max(opts.serve_clients)),
        preprocess_instances=opts.serve_preprocess_instances,
        max_queue_delay_us=opts.serve_queue_delay_us,
    )
    server = Server(serve_opts)
    result = {
        "what": "served: C concurrent gRPC clients on loopback, each sending its own JPEG one per request "
        "to the encoded-images model (server decodes, preprocesses, Triton batches); direct: "
        "runtime.load().embed of the same C JPEGs as one call (batch C) in this process",
        "backend": opts.serve_backend,
        "precision": opts.serve_precision,
        "rounds": opts.serve_rounds,
        "requests_per_client": opts.serve_requests,
        "server": {
            "max_batch": None,
            "max_queue_delay_us": serve_opts.max_queue_delay_us,
            "preprocess_instances": serve_opts.preprocess_instances,
            "instances": serve_opts.instances,
            "address": serve_opts.address,
        },
        "method": "per round: direct (requests calls of batch C), then served (C clients x requests); "
        "ratio = median over rounds of served img/s / direct img/s of the same round",
        "per_clients": {},
    }
    t0 = time.perf_counter()
    server.start()
    result["server"]["start_seconds"] = time.perf_counter() - t0
    result["server"]["max_batch"] = serve_opts.max_batch
    direct = load(directory, backend=opts.serve_backend, precision=opts.serve_precision)
    try:
        warm = [client_jpeg(10_000 + i) for i in range(min(8, max(opts.serve_clients)))]
        _direct_round(direct, len(warm), warm, 1, manifest.task)
        _served_round(server, len(warm), warm, 1, output)
        for clients in opts.serve_clients:
            entry = _clients_rounds(server, direct, clients, opts, manifest.task, output)
            result["per_clients"][str(clients)] = entry
            progress.say(
                f"[serve] {clients} clients: served {entry['served_img_s']:.2f} img/s, direct "
                f"{entry['direct_img_s']:.2f} img/s (batch {clients}): {entry['served_over_direct']:.3f}x; "
                f"p50 {entry['p50_ms']:.0f} ms, p99 {entry['p99_ms']:.0f} ms, mean batch "
                f"{entry['mean_batch'] or 0:.2f}"
            )
    finally:
        direct.close()
        server.stop()
    return result
