"""``ijepa-check ARTIFACT``: accept a deployment on the host that serves it, without torch.

Every graph and engine this host can run, against the export's saved reference outputs with the
export's thresholds and the neighbour check (runtime/acceptance/check.py); the export's summary
table on stdout; exit 1 naming what failed. ``--perf``: the latency limits of
ijepa_deploy.benchmarks.latency_limits in paired rounds (between the artifact's own variants
always; against eager PyTorch too when torch and the checkpoint are here). ``--json FILE``: all of
it as JSON, written atomically.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ijepa_deploy.cli import ArgumentParser, run
from ijepa_deploy.manifest import write_atomic
from ijepa_deploy.outputs import check_output_file
from ijepa_deploy.runtime.acceptance.check import BACKENDS, HostCheck, check_artifact, saved_reference
from ijepa_deploy.runtime.acceptance.summary import summary_table


@dataclass
class CheckOptions:
    artifact: Path
    backends: tuple[str, ...] = BACKENDS
    precisions: tuple[str, ...] = ()
    perf: bool = False
    json: Path | None = None
    threads: int | None = None
    allow_engine_host_code: bool = False
    quiet: bool = False


def parse_args(argv=None) -> CheckOptions:
    parser = ArgumentParser(
        prog="ijepa-check",
        description="Check an artifact's graphs and engines on this host "
        "against the export's saved reference outputs (no torch needed).",
    )
    parser.add_argument("artifact", type=Path, help="artifact directory written by ijepa-export")
    parser.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="only this backend (repeatable; default: every one this host has)",
    )
    parser.add_argument(
        "--precision",
        action="append",
        help="only this precision or graph (fp32, fp16, int8, int8-cpu, bf16; repeatable)",
    )
    parser.add_argument(
        "--perf", action="store_true", help="also latency at batch 1 and 8 in paired rounds, against the limits"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument("--threads", type=int, help="CPU threads for ONNX Runtime / OpenVINO")
    parser.add_argument(
        "--allow-engine-host-code",
        action="store_true",
        help="check version-compatible TensorRT engines (they run host code from the engine file)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    a = parser.parse_args(argv)
    if a.threads is not None and a.threads < 1:
        parser.error(f"--threads {a.threads}: expected a positive number of threads")
    return CheckOptions(
        a.artifact,
        tuple(a.backend or BACKENDS),
        tuple(a.precision or ()),
        a.perf,
        a.json,
        a.threads,
        a.allow_engine_host_code,
        a.quiet,
    )


def _perf(result: HostCheck, say) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(lines, failures, records) of every latency limit this host and artifact can measure."""
    # lazy: late-bound, LIMITS is read when --perf runs (tests substitute latency_limits.LIMITS)
    from ijepa_deploy.benchmarks.latency_limits import LIMITS, Unavailable, check, eager_loader, measure_limit

    manifest = result.manifest
    pixels = saved_reference(result.directory, manifest).pixels
    eager = eager_loader(manifest)
    lines: list[str] = []
    failures: list[str] = []
    records: list[dict[str, Any]] = []
    for limit in LIMITS:
        say(f"[perf] {limit.name} vs {limit.baseline}")
        try:
            measured = measure_limit(limit, result.directory, manifest, pixels, eager)
        except Unavailable as exc:
            lines.append(f"{limit.name} vs {limit.baseline}: not measured ({exc})")
            records.append({"limit": limit.name, "baseline": limit.baseline, "not_measured": str(exc)})
            continue
        try:
            lines += check(limit, measured)
        except AssertionError as exc:
            lines += str(exc).splitlines()[1:]
            failures.append(f"{limit.name} vs {limit.baseline}")
        records += [
            {"limit": limit.name, "baseline": limit.baseline, "batch": n, "max_ratio": limit.ratio, **r.to_dict()}
            for n, r in measured.items()
        ]
    return lines, failures, records


def main_check(opts: CheckOptions) -> int:
    if opts.json is not None:
        check_output_file(opts.json, "--json")
    say = (lambda s: None) if opts.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    result = check_artifact(
        opts.artifact, opts.backends, opts.precisions, opts.threads, opts.allow_engine_host_code, say
    )
    print(summary_table(result.manifest, opts.artifact))
    for line in result.skipped:
        print(f"not checked on this host: {line}")
    failures = list(result.failed)
    perf: list[dict[str, Any]] = []
    if opts.perf:
        lines, slow, perf = _perf(result, say)
        print("\nlatency (paired rounds, candidate / baseline):\n  " + "\n  ".join(lines))
        failures += [f"latency of {s}" for s in slow]
    if opts.json is not None:
        report = {
            "artifact": str(opts.artifact),
            "passed": not failures,
            "failed": failures,
            "skipped": result.skipped,
            "parity": [r.to_dict() for r in result.manifest.parity],
            "perf": perf,
        }
        write_atomic(opts.json, json.dumps(report, indent=2, allow_nan=False) + "\n")
    if failures:
        print(f"error: {opts.artifact} | check FAILED on this host for: {'; '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    sys.exit(run(lambda a: main_check(parse_args(a)), argv))
    return 0
