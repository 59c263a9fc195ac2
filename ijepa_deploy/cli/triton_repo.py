"""``ijepa-triton-repo ARTIFACT_DIR OUTPUT_DIR``: a model repository for the stock Triton server.

Writes NAME_pixels (onnxruntime_onnx or tensorrt_plan), a Python-backend ``preprocess`` model
using the runtime's own preprocessing, and the ensemble NAME (encoded images in, embeddings out).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ijepa_deploy.cli import ArgumentParser, run
from ijepa_deploy.errors import InputError
from ijepa_deploy.runtime.serving.repository import write_repository


def _main(argv=None) -> int:
    p = ArgumentParser(prog="ijepa-triton-repo", description="Write a Triton model repository for an artifact.")
    p.add_argument("artifact", type=Path, help="artifact directory written by ijepa-export")
    p.add_argument("output", type=Path, help="model repository directory to write")
    p.add_argument("--name", default="ijepa")
    p.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "tensorrt"])
    p.add_argument("--precision", default="fp32")
    p.add_argument("--max-batch", type=int, help="default: the artifact's (or the engine profile's) max batch")
    p.add_argument("--preferred-batch-sizes", type=int, nargs="+", default=[], metavar="N")
    p.add_argument("--max-queue-delay-us", type=int, default=1000)
    p.add_argument("--max-queue", type=int, default=128, help="queued requests per model before REJECT")
    p.add_argument("--instances", type=int, default=1, help="instance_group count of the model")
    p.add_argument("--kind", default="KIND_AUTO", choices=["KIND_AUTO", "KIND_GPU", "KIND_CPU"])
    p.add_argument("--preprocess-instances", type=int, default=2)
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR once the new one is complete")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="for debugging: write a repository for an artifact or engine whose parity check did not "
        "pass (files must still match their checksums); the repository gets a NOTE.txt saying so",
    )
    p.add_argument(
        "--allow-engine-host-code",
        action="store_true",
        help="write a version-compatible TensorRT engine, which runs host code embedded in the engine "
        "file inside tritonserver (only for engines from a builder you trust; tritonserver must "
        "then be started with --backend-config=tensorrt,version-compatible=true)",
    )
    a = p.parse_args(argv)
    for flag, value in (
        ("--instances", a.instances),
        ("--preprocess-instances", a.preprocess_instances),
        ("--max-queue", a.max_queue),
    ):
        if value < 1:
            raise InputError(flag, f"{value} is not positive", "an integer >= 1")
    configs = write_repository(
        a.artifact,
        a.output,
        name=a.name,
        backend=a.backend,
        precision=a.precision,
        max_batch=a.max_batch,
        preferred_batch_sizes=a.preferred_batch_sizes,
        max_queue_delay_us=a.max_queue_delay_us,
        instances=a.instances,
        kind=a.kind,
        max_queue=a.max_queue,
        preprocess_instances=a.preprocess_instances,
        overwrite=a.overwrite,
        allow_unverified=a.allow_unverified,
        allow_engine_host_code=a.allow_engine_host_code,
    )
    for path in configs:
        print(path)
    return 0


def main(argv=None) -> int:
    sys.exit(run(_main, argv))
