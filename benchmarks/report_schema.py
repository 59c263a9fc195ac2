"""The report's JSON schema (``schema`` = "ijepa-deploy/bench", ``schema_version`` = 1).

Top-level keys are listed in :data:`REQUIRED_KEYS`; every row has :data:`ROW_KEYS` (``status``
"ok" | "unavailable" | "failed", ``reason`` set unless ok) and each point :data:`POINT_KEYS` (plus
``cpu_stall_fraction``, and ``attempts`` when a stall over ``settings.stall_limit`` made the sweep
measure it twice). Each target has a ``measure`` (:data:`TARGET_MEASURES`, None for serving). New
fields may be added without a version bump; renaming or removing one bumps ``schema_version``.
"""

from __future__ import annotations

import math
from pathlib import Path

from ijepa_deploy.benchmarks.options import STATUS_FAILED, STATUS_OK, STATUS_UNAVAILABLE
from ijepa_deploy.benchmarks.targets import COSINE, FASTER_THAN, LATENCY, PEAK, evaluate_targets
from ijepa_deploy.errors import ArtifactError

SCHEMA = "ijepa-deploy/bench"
SCHEMA_VERSION = 1
REQUIRED_KEYS = (
    "schema",
    "schema_version",
    "created",
    "command",
    "artifact",
    "machine",
    "settings",
    "flops",
    "gemm_peak",
    "rows",
    "targets",
    "paired",
    "preprocessing",
    "end_to_end",
    "memory",
    "profiles",
)
ROW_KEYS = ("backend", "variant", "precision", "status", "reason", "points")
POINT_KEYS = (
    "batch",
    "iterations",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "throughput_img_s",
    "gflop_s",
    "peak_fraction",
    "latency_vs_eager",
    "parity",
)
ROW_STATUSES = (STATUS_OK, STATUS_UNAVAILABLE, STATUS_FAILED)
TARGET_RESULTS = ("MET", "MISSED", "N/A")
TARGET_MEASURES = (LATENCY, PEAK, COSINE, FASTER_THAN, None)
# Opt-in sections (ijepa-bench --cpp / --serve): absent or None when not asked for, {"error": ...}
# when they failed, else these keys (section, then each entry of its per-batch / per-client dict).
OPT_IN_SECTIONS = {
    "cpp": (
        (
            "python_backend",
            "cpp_backend",
            "same_engine",
            "graph",
            "threads",
            "rounds",
            "load_seconds",
            "pipe_roundtrip_ms",
            "end_to_end",
            "preprocessing",
            "parity",
        ),
        "end_to_end",
        ("batch", "python_ms", "cpp_ms", "python_ms_per_image", "cpp_ms_per_image", "cpp_over_python", "round_ratios"),
    ),
    "serving": (
        ("backend", "precision", "rounds", "requests_per_client", "server", "per_clients"),
        "per_clients",
        (
            "clients",
            "requests",
            "served_img_s",
            "direct_img_s",
            "served_over_direct",
            "round_ratios",
            "p50_ms",
            "p99_ms",
            "mean_batch",
        ),
    ),
}


def _clean(value):
    """JSON-safe: NaN/inf -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def finalize(report: dict) -> dict:
    report = dict(report)
    report["schema"] = SCHEMA
    report["schema_version"] = SCHEMA_VERSION
    report["targets"] = evaluate_targets(report)
    ordered = {k: report.get(k) for k in REQUIRED_KEYS}
    ordered.update({k: v for k, v in report.items() if k not in ordered})
    return _clean(ordered)


def validate_report(report: dict) -> None:
    """Raise IJepaDeployError when ``report`` does not follow schema_version 1."""
    where = "bench report"
    if report.get("schema") != SCHEMA or report.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(
            where, f"schema {report.get('schema')!r} v{report.get('schema_version')!r}", f"{SCHEMA} v{SCHEMA_VERSION}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in report]
    if missing:
        raise ArtifactError(where, f"missing keys {missing}", f"all of {REQUIRED_KEYS}")
    if not isinstance(report["rows"], list) or not report["rows"]:
        raise ArtifactError(where, "no rows", "one row per backend")
    for row in report["rows"]:
        lacking = [k for k in ROW_KEYS if k not in row]
        if lacking:
            raise ArtifactError(where, f"row {row.get('backend')} lacks {lacking}", f"{ROW_KEYS}")
        if row["status"] not in ROW_STATUSES:
            raise ArtifactError(where, f"row {row['backend']} status {row['status']!r}", f"one of {ROW_STATUSES}")
        if row["status"] != "ok" and not row["reason"]:
            raise ArtifactError(
                where,
                f"row {row['backend']} is {row['status']} without a reason",
                "a reason for every row that did not run",
            )
        for point in row["points"]:
            lacking = [k for k in POINT_KEYS if k not in point]
            if lacking:
                raise ArtifactError(
                    where, f"row {row['backend']} batch {point.get('batch')} lacks {lacking}", f"{POINT_KEYS}"
                )
    for name, (keys, per_key, per_keys) in OPT_IN_SECTIONS.items():
        _validate_section(where, name, report.get(name), keys, per_key, per_keys)
    for t in report["targets"]:
        if t["result"] not in TARGET_RESULTS:
            raise ArtifactError(where, f"target {t['id']} result {t['result']!r}", "MET, MISSED or N/A")
        if t.get("measure") not in TARGET_MEASURES:
            raise ArtifactError(where, f"target {t['id']} measure {t['measure']!r}", f"one of {TARGET_MEASURES}")


def _validate_section(where: str, name: str, section, keys: tuple, per_key: str, per_keys: tuple) -> None:
    if section is None or (isinstance(section, dict) and set(section) == {"error"}):
        return
    lacking = [k for k in keys if k not in section] if isinstance(section, dict) else list(keys)
    if lacking:
        raise ArtifactError(where, f"section {name} lacks {lacking}", f"{keys} (or only 'error')")
    if not section[per_key]:
        raise ArtifactError(where, f"section {name} has no {per_key} entries", "at least one")
    for label, entry in section[per_key].items():
        lacking = [k for k in per_keys if k not in entry]
        if lacking:
            raise ArtifactError(where, f"{name}.{per_key}[{label}] lacks {lacking}", f"{per_keys}")
