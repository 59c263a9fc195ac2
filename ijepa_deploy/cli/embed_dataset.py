"""``ijepa-embed-dataset ARTIFACT INPUT... --output OUT_DIR``: embed a whole corpus into Parquet
parts, streaming and resumable (see ijepa_deploy.runtime.dataset)."""

from __future__ import annotations

import sys
from pathlib import Path

from ijepa_deploy.cli import ArgumentParser, run
from ijepa_deploy.runtime.dataset import embed_dataset
from ijepa_deploy.runtime.dataset.job import DEFAULT_PART_SIZE, DatasetOptions
from ijepa_deploy.runtime.model import BACKENDS

EPILOG = """Output: OUT_DIR/part-NNNNN.parquet (path, embedding | logits + label), errors-NNNNN.parquet
(path, error), _ijepa_dataset.json. Re-running the same command does only the missing parts."""


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="ijepa-embed-dataset",
        epilog=EPILOG,
        description="Embed every image of a corpus with an ijepa-deploy artifact.",
    )
    parser.add_argument("artifact", type=Path, help="artifact directory written by ijepa-export")
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image directories (walked recursively), text listings (one path per line), "
        ".csv / .parquet listings, or image files",
    )
    parser.add_argument("--output", "-o", type=Path, required=True, help="output directory (OUT_DIR)")
    parser.add_argument("--path-column", default="path", help="the column of .csv / .parquet listings (default path)")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="auto (default): TensorRT engine on a GPU host, else OpenVINO, else ONNX Runtime",
    )
    parser.add_argument("--precision", default="fp32", help="fp32 (default), fp16, int8, int8-cpu, bf16")
    parser.add_argument("--threads", type=int, help="CPU threads for inference (default: all)")
    parser.add_argument("--batch-size", type=int, help="images per inference (default: 32, at most the artifact's max)")
    parser.add_argument(
        "--part-size",
        type=int,
        default=DEFAULT_PART_SIZE,
        help=f"rows per part file, the unit of resume (default {DEFAULT_PART_SIZE})",
    )
    parser.add_argument("--workers", type=int, help="decode workers (default: CPUs, at most 8)")
    parser.add_argument(
        "--decode",
        default="processes",
        choices=["processes", "threads"],
        help="decode in worker processes (default) or threads",
    )
    parser.add_argument("--shard-index", type=int, default=0, help="this job's index K (0 <= K < N)")
    parser.add_argument(
        "--num-shards",
        type=int,
        default=1,
        help="N independent jobs writing disjoint parts of one output (a SLURM array, ...)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an output written by another artifact, listing or part size"
    )
    parser.add_argument("--retry-errors", action="store_true", help="re-embed only the error rows")
    parser.add_argument("--engine", default="local", choices=["local", "ray"], help="local (default) or ray")
    parser.add_argument("--ray-address", help="an existing Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--ray-actors", type=int, default=1, help="embedding actors (Ray engine; default 1)")
    parser.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs per embedding actor (Ray engine)")
    parser.add_argument(
        "--openvino-hint",
        default="THROUGHPUT",
        choices=["THROUGHPUT", "LATENCY"],
        help="OpenVINO: THROUGHPUT (default: several streams, a batch in flight on each) or LATENCY",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def parse_args(argv=None) -> DatasetOptions:
    a = vars(_parser().parse_args(argv))
    a["progress"] = not a.pop("no_progress")  # the flag is the negation of the option
    return DatasetOptions(**a)


def _main(argv=None) -> int:
    summary = embed_dataset(parse_args(argv))
    for line in summary.lines():
        print(line)
    return 0


def main(argv=None) -> int:
    sys.exit(run(_main, argv))
