"""``ijepa-build ARTIFACT_DIR``: build TensorRT engines from an artifact's ONNX graphs, on this GPU.

Engines are tied to the TensorRT version and GPU they were built with, so they are built where
they run (or with --version-compatible / --hardware-compatibility to share them). Precision comes
from the graph: ``--variant fp16`` builds from the artifact's fp16 graph (``ijepa-export --fp16``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ijepa_deploy.cli import ArgumentParser, run
from ijepa_deploy.exporters.tensorrt_build import HARDWARE_COMPATIBILITY, EngineOptions, build_engines
from ijepa_deploy.manifest import STATUS_PASSED, read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime.acceptance.summary import summary_table
from ijepa_deploy.runtime.photos import images_in


@dataclass
class BuildArgs:
    artifact: Path
    options: EngineOptions
    quiet: bool = False
    parity_images: Path | None = None


def parse_args(argv=None) -> BuildArgs:
    parser = ArgumentParser(
        prog="ijepa-build",
        description="Build TensorRT engines from an artifact's ONNX graphs, on this GPU.",
        epilog="Needs an NVIDIA GPU, TensorRT >= 10.8 and cuda-python (pip install 'ijepa-deploy[tensorrt]').",
    )
    parser.add_argument("artifact", type=Path, help="artifact directory written by ijepa-export")
    parser.add_argument(
        "--variant",
        action="append",
        dest="variants",
        metavar="GRAPH",
        help="graph to build from: fp32 (default), fp16, int8; repeat for several",
    )
    parser.add_argument("--min-batch", type=int, default=1, help="smallest batch of the profile (default 1)")
    parser.add_argument("--opt-batch", type=int, help="batch TensorRT tunes for (default 8, capped at max)")
    parser.add_argument("--max-batch", type=int, help="largest batch (default: the artifact's max batch)")
    parser.add_argument("--workspace-gib", type=float, default=4.0, help="builder workspace limit in GiB (default 4)")
    parser.add_argument("--opt-level", type=int, default=3, help="builder optimization level 0-5 (default 3)")
    parser.add_argument(
        "--timing-cache", type=Path, help="timing cache file, reused across builds (default ARTIFACT_DIR/timing.cache)"
    )
    parser.add_argument(
        "--hardware-compatibility",
        choices=("none", *HARDWARE_COMPATIBILITY),
        default="none",
        help="build for other GPUs too: ampere_plus, same_compute_capability (slower engines)",
    )
    parser.add_argument(
        "--version-compatible",
        action="store_true",
        help="engine runs on later TensorRT versions (embeds the lean runtime)",
    )
    parser.add_argument(
        "--parity-images",
        type=Path,
        metavar="DIR",
        help="photos each engine is checked on against eager PyTorch (default: the bundled ones)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    a = parser.parse_args(argv)
    options = EngineOptions(
        variants=tuple(a.variants or ("fp32",)),
        min_batch=a.min_batch,
        opt_batch=a.opt_batch,
        max_batch=a.max_batch,
        workspace_gib=a.workspace_gib,
        opt_level=a.opt_level,
        timing_cache=a.timing_cache,
        hardware_compatibility=None if a.hardware_compatibility == "none" else a.hardware_compatibility,
        version_compatible=a.version_compatible,
    )
    return BuildArgs(a.artifact, options, a.quiet, a.parity_images)


def build(args: BuildArgs) -> int:
    """Read the artifact, build and check the engines; print one line per engine and the parity
    summary table ijepa-export prints (stdout). Exit 1 when an engine fails its parity check."""
    manifest = read_manifest(args.artifact)
    parity_paths = images_in(args.parity_images) if args.parity_images else None
    records = build_engines(
        args.artifact, manifest, args.options, Progress(quiet=args.quiet), parity_paths=parity_paths
    )
    for rec in records:
        size = manifest.files[rec.file].bytes / 2**20
        p = rec.profile
        print(
            f"{rec.source_graph:<6} {rec.file:<22} {size:8.1f} MiB  batch {p.min}/{p.opt}/{p.max}  "
            f"TensorRT {rec.tensorrt_version}  {rec.gpu_name} (sm {rec.compute_capability})  "
            f"{rec.build_seconds or 0:.1f} s  parity {rec.status}"
        )
    print()
    print(summary_table(manifest, Path(args.artifact)))
    failed = [rec.file for rec in records if rec.status != STATUS_PASSED]
    if failed:
        print(
            f"error: {args.artifact} | engine parity check FAILED for {', '.join(failed)}; marked 'failed' in "
            "the manifest (the runtime refuses them). Note: expected engines within the thresholds in the "
            "table above",
            file=sys.stderr,
        )
        return 1
    return 0


def _main(argv=None) -> int:
    return build(parse_args(argv))


def main(argv=None) -> int:
    sys.exit(run(_main, argv))


if __name__ == "__main__":
    main()
