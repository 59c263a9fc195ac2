"""``ijepa-serve ARTIFACT_DIR``: serve an artifact on Triton Inference Server (through PyTriton).

Two models: ``NAME`` takes encoded images (BYTES, shape [1, n]) and preprocesses them on the
server with the artifact's contract; ``NAME_pixels`` takes float32 pixel_values [n, 3, H, W].
Listens on 127.0.0.1 unless --address says otherwise. SIGTERM/SIGINT: in-flight requests finish,
then the process exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ijepa_deploy.cli import ArgumentParser, run
from ijepa_deploy.runtime.serving.options import (
    GRPC_PORT,
    HTTP_PORT,
    LOOPBACK,
    MAX_IMAGE_BYTES,
    METRICS_PORT,
    ServeOptions,
)
from ijepa_deploy.runtime.serving.server import serve


def parse_args(argv=None) -> ServeOptions:
    p = ArgumentParser(prog="ijepa-serve", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("artifact", type=Path, help="artifact directory written by ijepa-export")
    p.add_argument("--name", default="ijepa", help="model name (the pixel model is NAME_pixels)")
    p.add_argument("--backend", default="onnxruntime", help="runtime backend, as load(backend=...) takes it")
    p.add_argument("--precision", default="fp32", help="graph/engine precision, as load(precision=...) takes it")
    p.add_argument("--address", default=LOOPBACK, help="address for HTTP, gRPC and metrics (0.0.0.0: all)")
    p.add_argument("--http-port", type=int, default=HTTP_PORT)
    p.add_argument("--grpc-port", type=int, default=GRPC_PORT)
    p.add_argument("--metrics-port", type=int, default=METRICS_PORT)
    p.add_argument("--max-batch", type=int, help="dynamic batcher's max batch (default: the artifact's)")
    p.add_argument("--preferred-batch-sizes", type=int, nargs="+", default=[], metavar="N")
    p.add_argument("--max-queue-delay-us", type=int, default=1000, help="how long Triton waits to fill a batch")
    p.add_argument("--instances", type=int, default=1, help="model instances (each its own load())")
    p.add_argument(
        "--preprocess-instances",
        type=int,
        default=4,
        help="requests decoded in parallel by the NAME (encoded images) model",
    )
    p.add_argument(
        "--max-queue", type=int, default=128, help="requests waiting per model; past it requests are rejected at once"
    )
    p.add_argument("--queue-timeout-ms", type=int, default=0, help="reject requests queued longer (0: never)")
    p.add_argument("--max-images", type=int, help="images per request on NAME (default: the max batch)")
    p.add_argument("--max-image-bytes", type=int, default=MAX_IMAGE_BYTES)
    p.add_argument("--max-image-pixels", type=int, help="decompression-bomb limit (default: Pillow's)")
    p.add_argument("--exit-timeout", type=int, default=20, help="seconds to finish in-flight requests on exit")
    p.add_argument("--verbose", action="store_true", help="Triton's verbose log")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="for debugging: serve an artifact or TensorRT engine whose parity check did not pass "
        "(a warning says so at start)",
    )
    p.add_argument(
        "--allow-engine-host-code",
        action="store_true",
        help="serve a version-compatible TensorRT engine, which runs host code embedded in the engine "
        "file in this process (only for engines from a builder you trust)",
    )
    a = p.parse_args(argv)
    return ServeOptions(
        artifact=a.artifact,
        name=a.name,
        backend=a.backend,
        precision=a.precision,
        address=a.address,
        http_port=a.http_port,
        grpc_port=a.grpc_port,
        metrics_port=a.metrics_port,
        max_batch=a.max_batch,
        preferred_batch_sizes=a.preferred_batch_sizes,
        max_queue_delay_us=a.max_queue_delay_us,
        instances=a.instances,
        preprocess_instances=a.preprocess_instances,
        max_queue=a.max_queue,
        queue_timeout_ms=a.queue_timeout_ms,
        max_images=a.max_images,
        max_image_bytes=a.max_image_bytes,
        max_image_pixels=a.max_image_pixels,
        exit_timeout_s=a.exit_timeout,
        verbose=a.verbose,
        allow_unverified=a.allow_unverified,
        allow_engine_host_code=a.allow_engine_host_code,
    )


def _main(argv=None) -> int:
    opts = parse_args(argv)
    return serve(opts)


def main(argv=None) -> int:
    sys.exit(run(_main, argv))
