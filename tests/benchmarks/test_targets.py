"""Target verdicts on synthetic reports: every target in targets.TARGETS flips between MET and
MISSED on the right side of its limit, from the measurement it is declared to use (the paired
rounds where it is a latency ratio, not the sweep's p50)."""

from __future__ import annotations

import pytest

from ijepa_deploy.benchmarks.markdown_targets import targets_section
from ijepa_deploy.benchmarks.targets import COSINE, FASTER_THAN, LATENCY, PEAK, TARGETS, evaluate_targets

ROWS = (
    "onnxruntime-cpu fp32",
    "onnxruntime-cpu int8-cpu",
    "openvino-cpu fp32",
    "openvino-cpu int8",
    "openvino-cpu bf16",
)
PEAK_GFLOP_S = 100.0


def _point(batch: int, ratio: float = 0.5, cosine: float = 1.0, p50_ms: float = 100.0) -> dict:
    return {
        "batch": batch,
        "iterations": 3,
        "p50_ms": p50_ms,
        "latency_vs_eager": ratio,
        "peak_fraction": 0.5,
        "parity": {"embedding": {"min_cosine": cosine}},
    }


def _pair(candidate_ms: list[float], ratios: list[float] | None = None) -> dict:
    ratios = ratios or [0.5] * len(candidate_ms)
    return {
        "ratio": sorted(ratios)[len(ratios) // 2],
        "round_ratios": ratios,
        "eager_ms": [1000.0] * len(ratios),
        "candidate_ms": candidate_ms,
    }


def _report(batches=(1, 2, 4, 8)) -> dict:
    rows = [
        {
            "backend": k.split()[0],
            "variant": k.split()[1],
            "status": "ok",
            "reason": None,
            "points": [_point(b) for b in batches],
        }
        for k in ROWS
    ]
    paired = {k: {str(b): _pair([100.0, 100.0, 100.0]) for b in (1, 8)} for k in ROWS}
    return {
        "rows": rows,
        "settings": {"batch_sizes": list(batches), "primary_output": "embedding"},
        "paired": {"ratios": paired},
        "gemm_peak": {"peak_gflop_s": PEAK_GFLOP_S},
        "flops": {"gflop_per_image": 1.0},
    }


def _set(report: dict, spec, batch: int, value: float) -> None:
    """Make ``spec``'s measurement at ``batch`` equal ``value``; the sweep says the opposite where
    the paired rounds should win."""
    row = next(r for r in report["rows"] if f"{r['backend']} {r['variant']}" == spec.backend)
    point = next(p for p in row["points"] if p["batch"] == batch)
    pair = report["paired"]["ratios"][spec.backend][str(batch)]
    if spec.measure == LATENCY:
        pair.update(_pair([1.0, 1.0, 1.0], [value * 0.9, value, value * 5]))  # median = value
        point["latency_vs_eager"] = spec.limit * (0.5 if value > spec.limit else 2.0)
    elif spec.measure == PEAK:  # 1 GFLOP/image: fraction = batch / seconds / peak
        seconds = batch / (value * PEAK_GFLOP_S)
        pair["candidate_ms"] = [seconds * 1000 * f for f in (0.5, 1.0, 3.0)]  # median = seconds
        point["peak_fraction"] = spec.limit * (0.5 if value > spec.limit else 2.0)
    elif spec.measure == COSINE:
        point["parity"]["embedding"]["min_cosine"] = value
    elif spec.measure == FASTER_THAN:  # versus / mine per round (each over its round's eager): value, value, 10
        pair.update(_pair([100.0, 200.0, 100.0], [0.1, 0.2, 0.1]))
        report["paired"]["ratios"][spec.versus][str(batch)].update(
            _pair([100.0 * value, 200.0 * value, 1000.0], [0.1 * value, 0.2 * value, 1.0])
        )
        point["p50_ms"] = 100.0 * value * (2.0 if value < spec.limit else 0.5)  # the sweep's ratio disagrees
    else:
        raise AssertionError(spec.measure)


@pytest.mark.parametrize("spec", TARGETS, ids=[s.id for s in TARGETS])
@pytest.mark.parametrize("side", ["inside", "outside"])
def test_each_target_flips_at_its_limit(spec, side):
    batch = spec.batches[-1]
    better = side == "inside"
    step = 1e-4 if spec.measure == COSINE else 0.02
    up = (spec.comparison == ">=") == better
    value = spec.limit + step if up else spec.limit - step
    if spec.measure == COSINE and value > 1:
        pytest.skip("a cosine cannot exceed 1")
    report = _report()
    _set(report, spec, batch, value)
    verdict = next(t for t in evaluate_targets(report) if t["id"] == spec.id and t["batch"] == batch)
    assert verdict["value"] == pytest.approx(value)
    assert verdict["result"] == ("MET" if better else "MISSED"), verdict


def test_openvino_targets_at_their_batches_and_in_the_markdown_table():
    report = _report(batches=(1, 2, 4))  # no 8 in the sweep: batch-8 targets are judged at 4
    targets = evaluate_targets(report)
    by = {}
    for t in targets:
        by.setdefault(t["id"], []).append(t["batch"])
    assert by["ov-fp32-gemm-peak"] == [1, 4] and by["ov-int8-vs-ort-int8-cpu"] == [4]
    assert by["ov-int8-latency"] == by["ov-bf16-cosine"] == [1, 4]
    faster = next(t for t in targets if t["id"] == "ov-int8-vs-ort-int8-cpu")
    assert faster["value"] == pytest.approx(1.0) and "sweep p50" in faster["detail"]  # no paired rounds at 4
    report["targets"] = targets
    table = "\n".join(line for line in targets_section(report) if "OpenVINO" in line)
    assert "| openvino-cpu int8 | 4 | 1.00x | >= 1.4x | **MISSED**" in table
    assert "| openvino-cpu fp32 | 1 | 10.0% | >= 95% | **MISSED**" in table  # 1 GFLOP in 100 ms, 100 GFLOP/s peak
    assert "| openvino-cpu bf16 | 1 | 1.000000 | >= 0.9999 | **MET**" in table


def test_openvino_targets_without_openvino_are_not_applicable():
    report = _report()
    report["rows"] = [r for r in report["rows"] if r["backend"] != "openvino-cpu"]
    report["rows"].append(
        {
            "backend": "openvino-cpu",
            "variant": "*",
            "status": "unavailable",
            "reason": "openvino not installed",
            "points": [],
        }
    )
    for key in [k for k in report["paired"]["ratios"] if k.startswith("openvino")]:
        del report["paired"]["ratios"][key]
    ov = [t for t in evaluate_targets(report) if t["id"].startswith("ov-")]
    assert ov and all(t["result"] == "N/A" and "openvino not installed" in t["detail"] for t in ov)


def test_faster_than_is_not_applicable_without_the_other_graph():
    report = _report()
    report["rows"] = [r for r in report["rows"] if r["variant"] != "int8-cpu"]
    del report["paired"]["ratios"]["onnxruntime-cpu int8-cpu"]
    faster = next(t for t in evaluate_targets(report) if t["id"] == "ov-int8-vs-ort-int8-cpu")
    assert faster["result"] == "N/A" and "no onnxruntime-cpu int8-cpu row in this report" in faster["detail"]
    report["artifact"] = {"graphs": ["fp32", "int8"]}
    faster = next(t for t in evaluate_targets(report) if t["id"] == "ov-int8-vs-ort-int8-cpu")
    assert faster["result"] == "N/A" and "the artifact has no int8-cpu graph" in faster["detail"]


def test_markdown_shows_every_target_with_its_verdict():
    report = _report()
    report["targets"] = evaluate_targets(report)
    lines = targets_section(report)
    for spec in TARGETS:
        assert any(spec.description in line and ("MET" in line or "MISSED" in line) for line in lines), spec.id
