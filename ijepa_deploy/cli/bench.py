"""``ijepa-bench ARTIFACT_DIR``: time every backend of an artifact on the same inputs and write
report.json, report.md and plots (see ``ijepa_deploy.benchmarks``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ijepa_deploy.benchmarks.options import OPT_LEVELS, ORT_PROVIDERS, BenchOptions
from ijepa_deploy.benchmarks.report import write_report
from ijepa_deploy.benchmarks.run import run_benchmark
from ijepa_deploy.cli import ArgumentParser, run
from ijepa_deploy.errors import ArtifactError, InputError, ParityError
from ijepa_deploy.manifest import read_manifest, verify_files
from ijepa_deploy.outputs import check_output_dir
from ijepa_deploy.runtime.model import artifact_problem


def _config_entry(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError("--ort-config", f"{text!r}", "KEY=VALUE, e.g. session.intra_op.allow_spinning=0")
    return key, value


def _sweep_arguments(parser: ArgumentParser) -> None:
    """The batch sweep and how long each of its points is timed."""
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", help="explicit batch sizes (default: 1 2 4 ... up to --max-batch)"
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=8,
        help="largest batch of the sweep (default 8; at most the artifact's batch max)",
    )
    parser.add_argument("--threads", type=int, help="torch and ONNX Runtime intra-op threads (default: usable cores)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up runs per point (default 1)")
    parser.add_argument("--min-iters", type=int, default=3, help="minimum timed runs per point (default 3)")
    parser.add_argument("--min-seconds", type=float, default=5.0, help="minimum timed seconds per point (default 5)")
    parser.add_argument("--max-iters", type=int, default=200, help="cap on timed runs per point (default 200)")


def _session_arguments(parser: ArgumentParser, opt_levels: tuple[str, ...]) -> None:
    """ONNX Runtime session options for every ONNX Runtime row."""
    parser.add_argument(
        "--ort-opt-level",
        default="all",
        choices=opt_levels,
        help="ONNX Runtime graph optimization level (default all, as the runtime uses)",
    )
    parser.add_argument("--ort-no-arena", action="store_true", help="disable ONNX Runtime's CPU memory arena")
    parser.add_argument(
        "--ort-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ONNX Runtime session config entry (repeatable)",
    )


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="ijepa-bench",
        description="Benchmark an ijepa-deploy artifact: eager PyTorch, torch.compile, ONNX Runtime (every "
        "graph, every execution provider) and TensorRT engines on the same inputs, with parity vs "
        "eager, a roofline against a GEMM peak measured in the same run, and targets.",
    )
    parser.add_argument("artifact", type=Path, help="artifact directory written by ijepa-export")
    parser.add_argument(
        "--output", "-o", type=Path, help="report directory (default: benchmarks/results/<artifact name>)"
    )
    _sweep_arguments(parser)
    parser.add_argument("--skip-compile", action="store_true", help="leave out torch.compile (row marked skipped)")
    parser.add_argument("--graphs", nargs="+", help="only these graphs of the artifact (default: all)")
    parser.add_argument(
        "--providers",
        nargs="+",
        default=list(ORT_PROVIDERS),
        choices=list(ORT_PROVIDERS),
        help="ONNX Runtime execution providers to try (default: all; missing ones are rows marked unavailable)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run each ONNX Runtime graph under the ORT profiler and report time per op type",
    )
    parser.add_argument("--profile-batches", type=int, nargs="+", default=[1], help="batches to profile (default 1)")
    parser.add_argument("--profile-iters", type=int, default=3, help="profiled runs per batch (default 3)")
    parser.add_argument(
        "--no-memory-probe",
        action="store_true",
        help="skip the per-backend subprocess that measures load time and peak RSS",
    )
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the file -> embedding measurement")
    parser.add_argument("--gemm-size", type=int, default=4096, help="square fp32 GEMM size for the peak (default 4096)")
    _session_arguments(parser, OPT_LEVELS)
    parser.add_argument(
        "--paired-rounds",
        type=int,
        default=3,
        help="alternating rounds at batch 1 and 8: eager, "
        "then every ONNX Runtime CPU and OpenVINO row once; the target ratios and the speed-up "
        "plot, robust to other load on the machine (default 3, 0: off)",
    )
    parser.add_argument(
        "--max-backend-seconds",
        type=float,
        help="per-backend time budget: once spent, its larger batches are skipped (and listed as skipped)",
    )
    add_opt_in_arguments(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="benchmark an artifact whose parity check did not pass or whose files do not match "
        "their checksums, and TensorRT engines whose parity check did not pass (the report "
        "says so; without it such engines are rows marked unavailable)",
    )
    return parser


def parse_args(argv=None):
    a = _parser().parse_args(argv)
    check_opt_in_arguments(a)
    if a.max_batch < 1 or a.min_iters < 1 or a.warmup < 0 or a.gemm_size < 16:
        raise InputError(
            "ijepa-bench", "--max-batch/--min-iters must be >= 1, --warmup >= 0, --gemm-size >= 16", "sensible sizes"
        )
    output = a.output or Path("benchmarks") / "results" / Path(a.artifact).resolve().name
    check_output_dir(output, "--output")  # before an hour of benchmarking, not after
    command = "ijepa-bench " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    return BenchOptions(
        artifact=a.artifact,
        output=output,
        batch_sizes=tuple(a.batch_sizes) if a.batch_sizes else None,
        max_batch=a.max_batch,
        threads=a.threads,
        warmup=a.warmup,
        min_iters=a.min_iters,
        min_seconds=a.min_seconds,
        max_iters=a.max_iters,
        skip_compile=a.skip_compile,
        graphs=tuple(a.graphs) if a.graphs else None,
        providers=tuple(a.providers),
        profile=a.profile,
        profile_batches=tuple(a.profile_batches),
        profile_iters=a.profile_iters,
        memory_probe=not a.no_memory_probe,
        end_to_end=not a.no_end_to_end,
        gemm_size=a.gemm_size,
        ort_opt_level=a.ort_opt_level,
        ort_mem_arena=not a.ort_no_arena,
        ort_config=dict(_config_entry(t) for t in a.ort_config),
        command=command,
        quiet=a.quiet,
        paired_rounds=max(0, a.paired_rounds),
        max_backend_seconds=a.max_backend_seconds,
        allow_unverified=a.allow_unverified,
        **opt_in_options(a),
    )


def add_opt_in_arguments(parser) -> None:
    """--cpp (C++ vs Python runtime) and --serve (served vs direct through Triton)."""
    group = parser.add_argument_group("opt-in measurements")
    group.add_argument(
        "--cpp",
        action="store_true",
        help="C++ runtime (OpenVINO) vs the Python runtime end to end "
        "(decode + preprocess + infer) at batch 1 and 8 and preprocessing throughput, paired rounds; "
        "builds the C++ driver with cmake/ninja (the 'cpp' extra) unless --cpp-driver is given",
    )
    group.add_argument(
        "--cpp-driver",
        type=Path,
        help="a built ijepa_bench_driver (default: build it into build/cpp-tests/release, incremental)",
    )
    group.add_argument("--cpp-precision", default="fp32", help="the graph both runtimes run (default fp32)")
    group.add_argument("--cpp-rounds", type=int, default=5, help="paired rounds Python vs C++ (default 5)")
    group.add_argument(
        "--serve",
        action="store_true",
        help="served (ijepa-serve's Triton server on loopback) vs "
        "direct runtime throughput and p50/p99 latency per client count, interleaved rounds "
        "(the 'serve' extra)",
    )
    group.add_argument(
        "--serve-clients", type=int, nargs="+", default=[1, 8, 64], help="concurrent client counts (default 1 8 64)"
    )
    group.add_argument("--serve-requests", type=int, default=2, help="requests per client per round (default 2)")
    group.add_argument("--serve-rounds", type=int, default=3, help="interleaved direct/served rounds (default 3)")
    group.add_argument(
        "--serve-backend",
        default="onnxruntime",
        help="runtime backend served and run directly (as load() takes it; default onnxruntime)",
    )
    group.add_argument("--serve-precision", default="fp32", help="precision served and run directly (default fp32)")


def check_opt_in_arguments(a) -> None:
    if a.cpp_rounds < 1:
        raise InputError("--cpp-rounds", f"{a.cpp_rounds}", "an integer >= 1")
    if a.cpp_driver is not None and not a.cpp_driver.is_file():
        raise InputError("--cpp-driver", f"{a.cpp_driver} is not a file", "the built ijepa_bench_driver")
    if a.serve_rounds < 1 or a.serve_requests < 1:
        raise InputError("--serve-rounds/--serve-requests", f"{a.serve_rounds}/{a.serve_requests}", "integers >= 1")
    if any(c < 1 or c > 256 for c in a.serve_clients):
        raise InputError("--serve-clients", f"{a.serve_clients}", "client counts within 1..256")


def opt_in_options(a) -> dict:
    return {
        "cpp": a.cpp,
        "cpp_driver": a.cpp_driver,
        "cpp_precision": a.cpp_precision,
        "cpp_rounds": a.cpp_rounds,
        "serve": a.serve,
        "serve_clients": tuple(a.serve_clients),
        "serve_requests": a.serve_requests,
        "serve_rounds": a.serve_rounds,
        "serve_backend": a.serve_backend,
        "serve_precision": a.serve_precision,
    }


def verify_artifact(directory: Path, allow_unverified: bool) -> str | None:
    """What load() checks (status passed, every file's checksum), before any timing. Returns None
    for a verified artifact, or why it is not when ``allow_unverified``; otherwise raises."""
    manifest = read_manifest(directory)
    status = artifact_problem(directory, manifest)  # load()'s own gate
    problems = [status.problem] if status else []
    try:
        verify_files(directory, manifest)
    except ArtifactError as exc:
        problems.append(exc.format())
    if problems and not allow_unverified:
        kind = ParityError if status else ArtifactError  # the parity verdict first, as load() checks it
        raise kind(
            str(directory),
            "; ".join(problems),
            "a verified artifact (status 'passed', files as exported), or --allow-unverified to benchmark it anyway",
        )
    return "; ".join(problems) or None


def _main(argv=None) -> int:
    opts = parse_args(argv)
    unverified = verify_artifact(opts.artifact, opts.allow_unverified)
    if unverified:
        print(f"WARNING: benchmarking an UNVERIFIED artifact: {unverified}", file=sys.stderr)
    report = run_benchmark(opts)
    report["artifact"]["unverified"] = unverified
    written = write_report(report, opts.output)
    print(written["markdown"].read_text())
    print(f"wrote {written['json']}, {written['markdown']} and plots in {opts.output}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    sys.exit(run(_main, argv))
