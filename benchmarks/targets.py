"""Target policy: which ratios a run is judged on, at which batches, with which limits, and the
MET / MISSED / N/A verdict per target (ratios measured in the same run).

Most targets are rows of :data:`TARGETS` (a limit beside its description); the CPU INT8 target,
whose graph depends on the artifact (``int8-cpu`` when it has one), and the serving target are
evaluated by their own functions below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGET_BATCHES = (1, 8)
ORT_LATENCY_MAX = 0.75
ORT_PEAK_MIN = 0.85
INT8_LATENCY_MAX = 0.30
INT8_COSINE_MIN = 0.995
ORT_FP32 = "onnxruntime-cpu fp32"
ORT_INT8_CPU = "onnxruntime-cpu int8-cpu"
NO_INT8 = "the artifact has no int8 graph (export with --int8)"
SERVE_RATIO_MIN = 0.8  # served throughput / direct throughput at the same batch
SERVE_TARGET_CLIENTS = 64

# What a target's value is (``TargetSpec.measure``):
LATENCY = "latency"  # candidate / eager fp32 latency, the paired rounds' median (else the sweep's p50 ratio)
PEAK = "peak"  # achieved GFLOP/s / the same run's fp32 GEMM peak (paired-round median latency, else sweep p50)
COSINE = "cosine"  # min cosine of the primary output vs eager over the batch (the sweep's point)
FASTER_THAN = "faster-than"  # versus / candidate latency in the same paired rounds, median over rounds


@dataclass(frozen=True)
class TargetSpec:
    """One target: ``backend`` is the row (and paired-round key) it judges, ``versus`` the other
    row of a FASTER_THAN target; ``batches`` the wanted sizes (the largest swept size <= each)."""

    id: str
    description: str
    backend: str
    measure: str
    comparison: str  # "<=" or ">="
    limit: float
    batches: tuple[int, ...] = TARGET_BATCHES
    versus: str | None = None


TARGETS = (
    TargetSpec(
        "ort-fp32-latency",
        f"ONNX Runtime CPU fp32 latency <= {ORT_LATENCY_MAX} x eager fp32",
        ORT_FP32,
        LATENCY,
        "<=",
        ORT_LATENCY_MAX,
    ),
    TargetSpec(
        "ort-fp32-gemm-peak",
        f"ONNX Runtime CPU fp32 GFLOP/s >= {ORT_PEAK_MIN:.0%} of same-run GEMM peak",
        ORT_FP32,
        PEAK,
        ">=",
        ORT_PEAK_MIN,
    ),
    TargetSpec(
        "ov-fp32-gemm-peak",
        "OpenVINO fp32 GFLOP/s >= 95% of same-run fp32 GEMM peak",
        "openvino-cpu fp32",
        PEAK,
        ">=",
        0.95,
    ),
    TargetSpec(
        "ov-int8-latency",
        "OpenVINO int8 (TensorRT Q/DQ graph) latency <= 0.15 x eager fp32",
        "openvino-cpu int8",
        LATENCY,
        "<=",
        0.15,
    ),
    TargetSpec(
        "ov-int8-cosine",
        "OpenVINO int8 (TensorRT Q/DQ graph) cosine vs eager >= 0.999",
        "openvino-cpu int8",
        COSINE,
        ">=",
        0.999,
    ),
    TargetSpec(
        "ov-int8-vs-ort-int8-cpu",
        "OpenVINO int8 (TensorRT Q/DQ graph) >= 1.4 x faster than ONNX Runtime int8-cpu",
        "openvino-cpu int8",
        FASTER_THAN,
        ">=",
        1.4,
        batches=(8,),
        versus=ORT_INT8_CPU,
    ),
    TargetSpec(
        "ov-bf16-latency",
        "OpenVINO bf16 (fp32 graph, bf16 hint) latency <= 0.25 x eager fp32",
        "openvino-cpu bf16",
        LATENCY,
        "<=",
        0.25,
    ),
    TargetSpec(
        "ov-bf16-cosine",
        "OpenVINO bf16 (fp32 graph, bf16 hint) cosine vs eager >= 0.9999",
        "openvino-cpu bf16",
        COSINE,
        ">=",
        0.9999,
    ),
)


def target_batches(sweep: list[int], wanted=TARGET_BATCHES) -> list[int]:
    """The batches targets are judged at: each wanted size, or the largest swept size below it."""
    chosen = []
    for b in wanted:
        below = [x for x in sweep if x <= b]
        if below and max(below) not in chosen:
            chosen.append(max(below))
    return chosen


def cpu_int8_variants(variants: list[str]) -> list[str]:
    """The INT8 graphs the CPU target is judged on: the forms made for CPUs when there are any
    (the plain ``int8`` graph is TensorRT's S8S8 form)."""
    int8 = [v for v in variants if "int8" in str(v)]
    cpu_forms = [v for v in int8 if "cpu" in str(v)]
    return cpu_forms or int8


def _point(row: dict | None, batch: int) -> dict | None:
    if row is None or row.get("status") != "ok":
        return None
    return next((p for p in row.get("points", []) if p["batch"] == batch), None)


def _target(tid, description, batch, value, limit, op, backend, detail="", measure=None) -> dict:
    if value is None:
        result = "N/A"
    else:
        result = "MET" if (value <= limit if op == "<=" else value >= limit) else "MISSED"
    return {
        "id": tid,
        "description": description,
        "batch": batch,
        "backend": backend,
        "value": value,
        "limit": limit,
        "comparison": op,
        "result": result,
        "detail": detail,
        "measure": measure,
    }


def _latency_ratio(paired: dict, key: str, point: dict | None, batch: int):
    """The paired (alternating A/B) ratio when measured, else the sweep's p50 ratio."""
    pair = paired.get(key, {}).get(str(batch))
    sweep_ratio = point and point["latency_vs_eager"]
    if pair:
        note = f"paired A/B median of {len(pair['round_ratios'])} rounds; sweep p50 ratio " + (
            f"{sweep_ratio:.3f}" if sweep_ratio else "n/a"
        )
        return pair["ratio"], note
    return sweep_ratio, "sweep p50 ratio" if sweep_ratio else ""


def _peak_fraction(report: dict, paired: dict, key: str, point: dict, batch: int):
    """Achieved GFLOP/s over the same run's fp32 GEMM peak: from the paired rounds' median latency
    when measured (contention hits a lone sweep point), else the sweep's p50."""
    pair = paired.get(key, {}).get(str(batch))
    peak = report["gemm_peak"].get("peak_gflop_s")
    if not (pair and peak):
        return point["peak_fraction"], "sweep p50"
    median_s = float(np.median(pair["candidate_ms"])) / 1000.0
    frac = report["flops"]["gflop_per_image"] * batch / median_s / peak
    return frac, (
        f"paired-round median {median_s * 1000:,.0f} ms = {frac * peak:.0f} GFLOP/s vs peak {peak:.0f}; "
        f"sweep p50 gives {point['peak_fraction']:.1%}"
        if point["peak_fraction"] is not None
        else ""
    )


def versus_rounds(a: dict | None, b: dict | None) -> list[float]:
    """Latency of candidate ``a`` over candidate ``b`` per paired round, from each one's ratio to
    the eager call of its own round (in the same round that is a / b exactly; candidates measured
    in different memory groups pair round i with round i, each still anchored to its eager call).
    Empty when either is missing or the round counts differ."""
    if not (a and b) or len(a["round_ratios"]) != len(b["round_ratios"]):
        return []
    return [x / y for x, y in zip(a["round_ratios"], b["round_ratios"])]


def _faster_than(paired: dict, spec: TargetSpec, point: dict, versus_point: dict | None, batch: int):
    """versus / candidate latency per paired round (both ran in the same rounds), median over
    rounds; else the sweep's p50 ratio."""
    mine, theirs = (paired.get(k, {}).get(str(batch)) for k in (spec.backend, spec.versus))
    per_round = versus_rounds(theirs, mine)
    if per_round:
        rounds = ", ".join(f"{r:.2f}" for r in per_round)
        return float(np.median(per_round)), f"paired A/B: median of {len(per_round)} per-round ratios ({rounds})"
    if versus_point is None:
        return None, f"no {spec.versus} point at batch {batch}"
    return versus_point["p50_ms"] / point["p50_ms"], "sweep p50 ratio (no paired rounds for both)"


def _missing(report: dict, key: str) -> str:
    """Why there is no value for row ``key``: the row's own reason, its backend's wildcard row, or
    a graph the artifact lacks."""
    backend, _, variant = key.partition(" ")
    rows = report["rows"]
    row = next((r for r in rows if (r["backend"], r["variant"]) == (backend, variant)), None) or next(
        (r for r in rows if (r["backend"], r["variant"]) == (backend, "*")), None
    )
    graphs = (report.get("artifact") or {}).get("graphs")
    if row is None and graphs is not None and variant not in graphs and variant != "bf16":
        return f"the artifact has no {variant} graph"
    if row is None:
        return f"no {key} row in this report"
    if row["status"] != "ok":
        return f"row {row['status']}: {row.get('reason')}"
    return "not measured at this batch"


def evaluate_spec(spec: TargetSpec, report: dict, batch: int) -> dict:
    """One :class:`TargetSpec` at one batch, from the same run's rows and paired rounds."""
    rows = report["rows"]
    paired = (report.get("paired") or {}).get("ratios", {})
    by_key = {f"{r['backend']} {r['variant']}": r for r in rows}
    point = _point(by_key.get(spec.backend), batch)
    if point is None:
        value, note = None, _missing(report, spec.backend)
    elif spec.measure == LATENCY:
        value, note = _latency_ratio(paired, spec.backend, point, batch)
    elif spec.measure == PEAK:
        value, note = _peak_fraction(report, paired, spec.backend, point, batch)
    elif spec.measure == COSINE:
        value = point["parity"].get(report["settings"]["primary_output"], {}).get("min_cosine")
        note = f"{report['settings']['primary_output']}, min over the batch"
    elif spec.measure == FASTER_THAN:
        versus = _point(by_key.get(spec.versus), batch)
        if versus is None and not paired.get(spec.versus, {}).get(str(batch)):
            value, note = None, f"{spec.versus}: {_missing(report, spec.versus)}"
        else:
            value, note = _faster_than(paired, spec, point, versus, batch)
    else:
        raise ValueError(f"unknown target measure {spec.measure!r}")
    return _target(
        spec.id, spec.description, batch, value, spec.limit, spec.comparison, spec.backend, note, spec.measure
    )


def _int8_targets(row: dict | None, b: int, paired: dict, primary: str) -> list[dict]:
    latency = f"CPU INT8 latency <= {INT8_LATENCY_MAX} x eager fp32"
    cosine = f"CPU INT8 {primary} cosine vs eager >= {INT8_COSINE_MIN}"
    if row is None:
        return [
            _target(
                "int8-latency", latency, b, None, INT8_LATENCY_MAX, "<=", "onnxruntime-cpu int8*", NO_INT8, LATENCY
            ),
            _target("int8-cosine", cosine, b, None, INT8_COSINE_MIN, ">=", "onnxruntime-cpu int8*", NO_INT8, COSINE),
        ]
    p = _point(row, b)
    why = "" if p else f"row {row['status']}: {row.get('reason')}"
    name = f"onnxruntime-cpu {row['variant']}"
    value, note = _latency_ratio(paired, name, p, b)
    cos = p and p["parity"].get(primary, {}).get("min_cosine")
    return [
        _target("int8-latency", latency, b, value, INT8_LATENCY_MAX, "<=", name, why or note, LATENCY),
        _target("int8-cosine", cosine, b, cos, INT8_COSINE_MIN, ">=", name, why, COSINE),
    ]


def evaluate_targets(report: dict) -> list[dict]:
    """Every target at its batches: the ORT fp32 ones, the CPU INT8 one per CPU INT8 graph, the
    OpenVINO ones, then serving (only when --serve ran)."""
    rows = [r for r in report["rows"] if r["backend"] == "onnxruntime-cpu"]
    primary = report["settings"]["primary_output"]
    paired = (report.get("paired") or {}).get("ratios", {})
    int8 = cpu_int8_variants([r["variant"] for r in rows])
    int8_rows = [r for r in rows if r["variant"] in int8] or [None]
    sweep = report["settings"]["batch_sizes"]
    ort = [s for s in TARGETS if s.backend == ORT_FP32]
    targets = []
    for b in target_batches(sweep):
        targets += [evaluate_spec(s, report, b) for s in ort]
        for row in int8_rows:
            targets += _int8_targets(row, b, paired, primary)
    for spec in (s for s in TARGETS if s.backend != ORT_FP32):
        targets += [evaluate_spec(spec, report, b) for b in target_batches(sweep, spec.batches)]
    return targets + serving_targets(report.get("serving"))


def serving_targets(serving: dict | None) -> list[dict]:
    """Served >= 0.8x direct throughput at 64 clients (only when --serve ran)."""
    if serving is None:
        return []
    description = f"served throughput >= {SERVE_RATIO_MIN} x direct at {SERVE_TARGET_CLIENTS} clients"
    backend = f"triton {serving.get('backend', '?')} {serving.get('precision', '?')}"
    entry = (serving.get("per_clients") or {}).get(str(SERVE_TARGET_CLIENTS))
    if entry is None:
        why = (
            f"--serve failed: {serving['error']}"
            if "error" in serving
            else f"{SERVE_TARGET_CLIENTS} clients not measured (--serve-clients)"
        )
        return [
            _target("serve-throughput", description, SERVE_TARGET_CLIENTS, None, SERVE_RATIO_MIN, ">=", "triton", why)
        ]
    rounds = ", ".join(f"{r:.3f}" for r in entry["round_ratios"])
    note = (
        f"median of {len(entry['round_ratios'])} interleaved rounds ({rounds}); "
        f"served {entry['served_img_s']:.2f} img/s vs direct {entry['direct_img_s']:.2f} img/s at batch "
        f"{SERVE_TARGET_CLIENTS}"
    )
    return [
        _target(
            "serve-throughput",
            description,
            SERVE_TARGET_CLIENTS,
            entry["served_over_direct"],
            SERVE_RATIO_MIN,
            ">=",
            backend,
            note,
        )
    ]
