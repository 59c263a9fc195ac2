"""``ijepa-embed DIR IMAGE...``: embed (or classify) images with an artifact.

Prints one JSON line per image: the file, the embedding's dimension and norm, its first values,
and (with --output) writes all embeddings to a .npy file.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ijepa_deploy.cli import ArgumentParser, run
from ijepa_deploy.manifest import write_atomic
from ijepa_deploy.outputs import check_output_file
from ijepa_deploy.runtime import RunnerOptions, load
from ijepa_deploy.runtime.model import BACKENDS


@dataclass
class EmbedOptions:
    artifact: Path
    images: list[str]
    precision: str = "fp32"
    backend: str = "auto"
    output: Path | None = None
    top_k: int = 5
    threads: int | None = None
    allow_engine_host_code: bool = False


def parse_args(argv=None) -> EmbedOptions:
    parser = ArgumentParser(prog="ijepa-embed", description="Embed or classify images with an ijepa-deploy artifact.")
    parser.add_argument("artifact", type=Path, help="artifact directory written by ijepa-export")
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument(
        "--precision",
        default="fp32",
        help="fp32, fp16, int8, int8-cpu (graphs, if exported) or bf16 (OpenVINO on CPUs with bf16)",
    )
    # auto by default: a person at a terminal wants the fastest verified path this host has, and the
    # choice (and why) is printed; explicit backends stay available for reproducing a deployment.
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="auto (default): TensorRT engine on a GPU host, else OpenVINO, else ONNX Runtime",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for ONNX Runtime / OpenVINO (default: all)")
    parser.add_argument("--output", "-o", type=Path, help="write embeddings [N, D] to this .npy file")
    parser.add_argument("--top-k", type=int, default=5, help="labels per image for classification artifacts")
    parser.add_argument(
        "--allow-engine-host-code",
        action="store_true",
        help="run version-compatible TensorRT engines, which execute host code embedded in the "
        "engine file (only for engines from a builder you trust)",
    )
    a = parser.parse_args(argv)
    if a.threads is not None and a.threads < 1:
        parser.error(f"--threads {a.threads}: expected a positive number of threads")
    return EmbedOptions(
        a.artifact, a.images, a.precision, a.backend, a.output, a.top_k, a.threads, a.allow_engine_host_code
    )


def embed_images(opts: EmbedOptions) -> int:
    import numpy as np

    if opts.output:
        check_output_file(opts.output, "--output")
    options = RunnerOptions(threads=opts.threads, allow_engine_host_code=opts.allow_engine_host_code)
    with load(opts.artifact, backend=opts.backend, precision=opts.precision, options=options) as model:
        ran = getattr(model.runner, "inference_precision", None)
        print(
            f"backend {model.backend}{f' ({ran})' if ran else ''}, precision {opts.precision}: {model.choice}",
            file=sys.stderr,
        )
        if model.task == "image-classification":
            for path, top in zip(opts.images, model.classify(opts.images, top_k=opts.top_k)):
                print(json.dumps({"image": path, "top_k": [{"label": label, "prob": round(p, 6)} for label, p in top]}))
            return 0
        vectors = model.embed(opts.images)
    for path, vec in zip(opts.images, vectors):
        print(
            json.dumps(
                {
                    "image": path,
                    "dim": int(vec.shape[0]),
                    "norm": round(float(np.linalg.norm(vec)), 6),
                    "head": [round(float(v), 6) for v in vec[:4]],
                }
            )
        )
    if opts.output:
        buffer = io.BytesIO()
        np.save(buffer, vectors)  # np.save(path) would append .npy to a path without it
        write_atomic(opts.output, buffer.getvalue())
        print(f"wrote {opts.output} {vectors.shape}", file=sys.stderr)
    return 0


def _main(argv=None) -> int:
    return embed_images(parse_args(argv))


def main(argv=None) -> int:
    sys.exit(run(_main, argv))
