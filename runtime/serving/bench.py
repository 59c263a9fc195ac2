"""Served vs direct throughput: ``python -m ijepa_deploy.runtime.serving.bench ARTIFACT_DIR``.

For each client count C (default 1, 8, 64) each client sends ``--requests`` requests of one JPEG
to ``<name>`` (decode + preprocess on the server, Triton batching); "direct" runs
``load(dir).embed()`` on the same C images as one batch in this process. Rounds alternate direct
and served (paired, interleaved) so a shared machine's load hits both alike; the ratio is
served images/s over direct images/s. Prints one JSON line per client count.
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def _jpeg(seed: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((256, 320, 3)) * 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("artifact", type=Path)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--requests", type=int, default=2, help="requests per client per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--precision", default="fp32")
    a = p.parse_args(argv)

    import tritonclient.grpc as grpcclient

    from ijepa_deploy.runtime import load
    from ijepa_deploy.runtime.serving.options import ServeOptions
    from ijepa_deploy.runtime.serving.server import Server

    http, grpc, metrics = _ports(3)
    server = Server(ServeOptions(artifact=a.artifact, backend=a.backend, precision=a.precision, http_port=http,
                                 grpc_port=grpc, metrics_port=metrics, max_queue=1024,
                                 preprocess_instances=8, max_queue_delay_us=5000))
    server.start()
    direct = load(a.artifact, backend=a.backend, precision=a.precision)
    try:
        for clients in a.clients:
            images = [_jpeg(c) for c in range(clients)]
            direct.embed(images[:1])  # warm
            served_rates, direct_rates, latencies = [], [], []
            for _ in range(a.rounds):
                start = time.perf_counter()
                for _ in range(a.requests):
                    direct.embed(images)
                direct_rates.append(clients * a.requests / (time.perf_counter() - start))

                def one(c, images=images):
                    client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc}")
                    t = grpcclient.InferInput("images", [1, 1], "BYTES")
                    t.set_data_from_numpy(np.array([[images[c]]], dtype=np.object_))
                    out, lat = [], []
                    for _ in range(a.requests):
                        s = time.perf_counter()
                        out.append(client.infer("ijepa", [t], client_timeout=600,
                                                outputs=[grpcclient.InferRequestedOutput("embedding")]))
                        lat.append(time.perf_counter() - s)
                    return lat

                start = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    for lat in pool.map(one, range(clients)):
                        latencies.extend(lat)
                served_rates.append(clients * a.requests / (time.perf_counter() - start))
            ratios = [s / d for s, d in zip(served_rates, direct_rates)]
            print(json.dumps({"clients": clients, "requests_per_client": a.requests, "rounds": a.rounds,
                              "served_img_s": round(statistics.median(served_rates), 2),
                              "direct_img_s_same_batch": round(statistics.median(direct_rates), 2),
                              "served_over_direct": round(statistics.median(ratios), 3),
                              "ratios_per_round": [round(r, 3) for r in ratios],
                              "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
                              "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 1)}), flush=True)
    finally:
        direct.close()
        server.stop()


if __name__ == "__main__":
    main()
