"""Target policy: which ratios a run is judged on, at which batches, with which limits, and the
MET / MISSED / N/A verdict per target (ratios measured in the same run)."""

from __future__ import annotations

TARGET_BATCHES = (1, 8)
ORT_LATENCY_MAX = 0.75
ORT_PEAK_MIN = 0.85
INT8_LATENCY_MAX = 0.30
INT8_COSINE_MIN = 0.995
ORT_FP32 = "onnxruntime-cpu fp32"
NO_INT8 = "the artifact has no int8 graph (export with --int8)"


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


def _target(tid, description, batch, value, limit, op, backend, detail="") -> dict:
    if value is None:
        result = "N/A"
    else:
        result = "MET" if (value <= limit if op == "<=" else value >= limit) else "MISSED"
    return {"id": tid, "description": description, "batch": batch, "backend": backend, "value": value,
            "limit": limit, "comparison": op, "result": result, "detail": detail}


def _latency_ratio(paired: dict, key: str, point: dict | None, batch: int):
    """The paired (alternating A/B) ratio when measured, else the sweep's p50 ratio."""
    pair = paired.get(key, {}).get(str(batch))
    sweep_ratio = point and point["latency_vs_eager"]
    if pair:
        note = f"paired A/B median of {len(pair['round_ratios'])} rounds; sweep p50 ratio " + \
            (f"{sweep_ratio:.3f}" if sweep_ratio else "n/a")
        return pair["ratio"], note
    return sweep_ratio, "sweep p50 ratio" if sweep_ratio else ""


def _ort_fp32_targets(report: dict, row: dict | None, b: int, paired: dict) -> list[dict]:
    p = _point(row, b)
    missing = "no ONNX Runtime CPU fp32 row"
    value, note = _latency_ratio(paired, ORT_FP32, p, b)
    latency = _target("ort-fp32-latency", f"ONNX Runtime CPU fp32 latency <= {ORT_LATENCY_MAX} x eager fp32", b,
                      value, ORT_LATENCY_MAX, "<=", ORT_FP32, note if p else missing)
    frac, note = p and p["peak_fraction"], "sweep p50" if p else missing
    pair = paired.get(ORT_FP32, {}).get(str(b))
    peak = report["gemm_peak"].get("peak_gflop_s")
    if p and pair and peak:
        median_s = sorted(pair["candidate_ms"])[len(pair["candidate_ms"]) // 2] / 1000.0
        frac = report["flops"]["gflop_per_image"] * b / median_s / peak
        note = (f"paired-round median {median_s * 1000:,.0f} ms = {frac * peak:.0f} GFLOP/s vs peak {peak:.0f}; "
                f"sweep p50 gives {p['peak_fraction']:.1%}")
    roofline = _target("ort-fp32-gemm-peak", f"ONNX Runtime CPU fp32 GFLOP/s >= {ORT_PEAK_MIN:.0%} of same-run "
                       "GEMM peak", b, frac, ORT_PEAK_MIN, ">=", ORT_FP32, note)
    return [latency, roofline]


def _int8_targets(row: dict | None, b: int, paired: dict, primary: str) -> list[dict]:
    latency = f"CPU INT8 latency <= {INT8_LATENCY_MAX} x eager fp32"
    cosine = f"CPU INT8 {primary} cosine vs eager >= {INT8_COSINE_MIN}"
    if row is None:
        return [_target("int8-latency", latency, b, None, INT8_LATENCY_MAX, "<=", "onnxruntime-cpu int8*", NO_INT8),
                _target("int8-cosine", cosine, b, None, INT8_COSINE_MIN, ">=", "onnxruntime-cpu int8*", NO_INT8)]
    p = _point(row, b)
    why = "" if p else f"row {row['status']}: {row.get('reason')}"
    name = f"onnxruntime-cpu {row['variant']}"
    value, note = _latency_ratio(paired, name, p, b)
    cos = p and p["parity"].get(primary, {}).get("min_cosine")
    return [_target("int8-latency", latency, b, value, INT8_LATENCY_MAX, "<=", name, why or note),
            _target("int8-cosine", cosine, b, cos, INT8_COSINE_MIN, ">=", name, why)]


def evaluate_targets(report: dict) -> list[dict]:
    rows = [r for r in report["rows"] if r["backend"] == "onnxruntime-cpu"]
    primary = report["settings"]["primary_output"]
    paired = (report.get("paired") or {}).get("ratios", {})
    ort_fp32 = next((r for r in rows if r["variant"] == "fp32" and r["status"] == "ok"), None)
    int8 = cpu_int8_variants([r["variant"] for r in rows])
    int8_rows = [r for r in rows if r["variant"] in int8] or [None]
    targets = []
    for b in target_batches(report["settings"]["batch_sizes"]):
        targets += _ort_fp32_targets(report, ort_fp32, b, paired)
        for row in int8_rows:
            targets += _int8_targets(row, b, paired, primary)
    return targets
