"""ijepa-bench on the tiny model: report schema, one row per backend (run or marked unavailable
with the reason), parity beside every speed row, plots, markdown. Tiny iteration counts: these
tests check the harness, never speed (speed targets are evaluated by the benchmark itself)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from ijepa_deploy.benchmarks import sweep as sweep_mod
from ijepa_deploy.benchmarks.flops import model_flops
from ijepa_deploy.benchmarks.markdown import markdown
from ijepa_deploy.benchmarks.options import EAGER, BenchOptions
from ijepa_deploy.benchmarks.ort_profile import summarise_profile
from ijepa_deploy.benchmarks.plan import batch_sweep
from ijepa_deploy.benchmarks.plots import PLOTS
from ijepa_deploy.benchmarks.report_schema import finalize, validate_report
from ijepa_deploy.benchmarks.run import place_on_rooflines
from ijepa_deploy.benchmarks.sweep import compare
from ijepa_deploy.benchmarks.targets import (
    INT8_COSINE_MIN,
    INT8_LATENCY_MAX,
    ORT_LATENCY_MAX,
    TARGETS,
    evaluate_targets,
)
from ijepa_deploy.errors import InputError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.presets import PRESETS
from ijepa_deploy.progress import Progress

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bench_run(tiny_artifact, tmp_path_factory):
    """One CLI run on a copy of the tiny artifact that lists two extra graphs: ``int8`` (a copy of
    the fp32 file, so the INT8 targets are evaluated) and ``fp16`` whose file is missing (so the
    artifact is benchmarked with --allow-unverified)."""
    from ijepa_deploy.cli.bench import _main

    art = tmp_path_factory.mktemp("bench") / "tiny"
    shutil.copytree(tiny_artifact, art)
    manifest = read_manifest(art)
    fp32 = manifest.graphs["fp32"]
    shutil.copy(art / fp32.file, art / "model.int8.onnx")
    manifest.record_file(art, "model.int8.onnx", role="onnx-graph")
    # openvino_ir=None: these stand-ins are their ONNX files only, not the fp32 graph's IR
    manifest.graphs["int8"] = replace(fp32, file="model.int8.onnx", precision="int8", openvino_ir=None)
    # listed with a checksum, absent on disk
    manifest.files["model.fp16.onnx"] = replace(manifest.files["model.int8.onnx"])
    manifest.graphs["fp16"] = replace(fp32, file="model.fp16.onnx", precision="fp16", openvino_ir=None)
    manifest.write(art)
    out = art.parent / "report"
    argv = [
        str(art),
        "-o",
        str(out),
        "--batch-sizes",
        "1",
        "2",
        "--threads",
        "1",
        "--warmup",
        "1",
        "--min-iters",
        "2",
        "--min-seconds",
        "0",
        "--gemm-size",
        "64",
        "--skip-compile",
        "--profile",
        "--quiet",
        "--allow-unverified",
    ]
    assert _main(argv) == 0
    return out, json.loads((out / "report.json").read_text())


def test_json_follows_the_versioned_schema(bench_run):
    _, report = bench_run
    validate_report(report)
    assert report["schema"] == "ijepa-deploy/bench" and report["schema_version"] == 1
    assert report["settings"]["threads"] == 1 and report["settings"]["batch_sizes"] == [1, 2]
    assert report["command"].startswith("ijepa-bench ")
    assert report["machine"]["cpu"]["usable_cores"] >= 1
    assert report["machine"]["libraries"]["onnxruntime"]
    assert report["gemm_peak"]["peak_gflop_s"] > 0
    assert report["flops"]["gflop_per_image"] > 0


def test_every_backend_is_a_row_run_or_marked_unavailable(bench_run):
    _, report = bench_run
    rows = {(r["backend"], r["variant"]): r for r in report["rows"]}
    assert rows[("torch-eager", "fp32")]["status"] == "ok"
    assert rows[("torch-compile", "fp32")]["status"] == "unavailable"
    assert "skip-compile" in rows[("torch-compile", "fp32")]["reason"]
    assert rows[("onnxruntime-cpu", "fp32")]["status"] == "ok"
    assert rows[("onnxruntime-cpu", "int8")]["status"] == "ok"
    missing = rows[("onnxruntime-cpu", "fp16")]
    assert missing["status"] == "unavailable" and "model.fp16.onnx" in missing["reason"]
    for provider in ("cuda", "tensorrt"):
        assert any(b == f"onnxruntime-{provider}" for b, _ in rows)
    assert any(b == "tensorrt" for b, _ in rows)
    for row in report["rows"]:
        assert row["status"] in ("ok", "unavailable", "failed")
        if row["status"] != "ok":
            assert row["reason"]
        else:
            assert [p["batch"] for p in row["points"]] == [1, 2]


def test_speed_rows_carry_parity_and_roofline(bench_run):
    _, report = bench_run
    for row in report["rows"]:
        for p in row["points"]:
            assert p["p50_ms"] > 0 and p["p90_ms"] >= p["p50_ms"] and p["p99_ms"] >= p["p90_ms"]
            assert p["throughput_img_s"] > 0 and p["gflop_s"] > 0 and p["peak_fraction"] > 0
            par = p["parity"]["embedding"]
            assert par["min_cosine"] > 0.9999
            assert par["max_abs"] < (2e-2 if row["precision"] == "bf16" else 1e-3)  # bf16: 8-bit mantissa
    rows = {(r["backend"], r["variant"]): r for r in report["rows"]}
    assert [p["latency_vs_eager"] for p in rows[("torch-eager", "fp32")]["points"]] == [1.0, 1.0]
    assert all(p["latency_vs_eager"] for r in report["rows"] for p in r["points"])
    ort = rows[("onnxruntime-cpu", "fp32")]
    assert ort["details"]["session"]["intra_op_num_threads"] == 1  # --threads 1 reached the runner
    memory = ort["memory"]
    assert memory["after_load_rss_gib"] > memory["baseline_rss_gib"]
    assert memory["peak_rss_gib"] + 0.01 >= memory["after_load_rss_gib"]  # the peak is rounded to 0.01 GiB
    assert report["preprocessing"]["per_file"] and report["end_to_end"]["per_batch"]


def test_targets_profile_plots_and_markdown(bench_run):
    out, report = bench_run
    ids = {t["id"] for t in report["targets"]}
    assert ids == {"ort-fp32-latency", "ort-fp32-gemm-peak", "int8-latency", "int8-cosine"} | {
        spec.id for spec in TARGETS
    }
    paired = report["paired"]["ratios"]
    from ijepa_deploy.runtime.cpu_features import int8_dot_product
    from ijepa_deploy.runtime.openvino_runner import cpu_supports_bf16, openvino_status

    for t in report["targets"]:  # the verdicts themselves: test_targets.py and the known-input tests below
        if t["result"] == "N/A":  # only what cannot be here: an int8-cpu graph; OpenVINO, its int8 or bf16 not here
            assert (
                t["id"] == "ov-int8-vs-ort-int8-cpu"
                or (t["id"].startswith("ov-") and not openvino_status()[0])
                or (t["id"].startswith("ov-bf16") and not cpu_supports_bf16())
                or (t["id"].startswith("ov-int8") and not int8_dot_product())
            ), t
            continue
        if t["id"].endswith("latency"):  # latency targets use the paired ratio, not the sweep's
            assert t["value"] == paired[t["backend"]][str(t["batch"])]["ratio"]
    assert {t["batch"] for t in report["targets"]} == {1, 2}  # 8 is not in the sweep: its largest batch <= 8
    openvino = {
        f"openvino-cpu {r['variant']}" for r in report["rows"] if r["backend"] == "openvino-cpu" and r["status"] == "ok"
    }
    assert set(paired) == {"onnxruntime-cpu fp32", "onnxruntime-cpu int8", *openvino}  # every CPU row that ran
    assert set(paired["onnxruntime-cpu fp32"]) == {"1", "2"}
    assert all(len(r["round_ratios"]) == 3 for r in paired["onnxruntime-cpu fp32"].values())
    assert all(
        "paired A/B" in t["detail"] for t in report["targets"] if t["id"].endswith("latency") and t["result"] != "N/A"
    )
    prof = report["profiles"]["onnxruntime-cpu fp32"]["1"]
    assert prof["op_types"] and prof["op_types"][0]["ms_per_run"] > 0
    assert any(op["op_type"] == "MatMul" and op["gflop_s"] for op in prof["op_types"])
    for name in PLOTS.values():
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    md = (out / "report.md").read_text()
    assert "| backend | graph | batch | iters | p50 ms |" in md
    assert md.count("| onnxruntime-cpu | fp32 |") >= 2
    assert "## Targets" in md and ("MET" in md or "MISSED" in md)
    assert "model.fp16.onnx" in md  # the unavailable row's reason is in the table
    assert "latency_vs_batch.png" in md


def test_model_flops_matches_the_published_counts():
    def flops(name):
        p = PRESETS[name]
        info = dict(
            hidden_size=p.hidden_size,
            num_hidden_layers=p.num_hidden_layers,
            intermediate_size=p.intermediate_size,
            patch_size=p.patch_size,
            image_size=p.image_size,
        )
        return model_flops(info, "feature-extraction")["gflop_per_image"]

    assert flops("vith14") == pytest.approx(333.2, abs=0.1)
    assert flops("vitg16") == pytest.approx(404.8, abs=0.1)


def test_batch_sweep_respects_the_artifact(tiny_artifact):
    manifest = read_manifest(tiny_artifact)  # batch max 8
    assert batch_sweep(BenchOptions(tiny_artifact, max_batch=8), manifest) == [1, 2, 4, 8]
    assert batch_sweep(BenchOptions(tiny_artifact, max_batch=5), manifest) == [1, 2, 4]
    with pytest.raises(InputError, match="batch max"):
        batch_sweep(BenchOptions(tiny_artifact, max_batch=16), manifest)
    with pytest.raises(InputError, match="outside"):
        batch_sweep(BenchOptions(tiny_artifact, batch_sizes=(1, 9)), manifest)


def test_compare_flags_wrong_and_non_finite_outputs():
    import numpy as np

    ref = np.ones((2, 4), dtype=np.float32)
    assert compare(ref, ref)["min_cosine"] == pytest.approx(1.0)
    flipped = ref.copy()
    flipped[1] *= -1
    assert compare(ref, flipped)["min_cosine"] == pytest.approx(-1.0)
    bad = ref.copy()
    bad[0, 0] = np.nan
    assert compare(ref, bad)["min_cosine"] is None and not compare(ref, bad)["finite"]


def test_a_point_is_its_p50_against_eager_and_the_gemm_peak(monkeypatch):
    """Known timings in, known numbers out: eager's p50 is 10 ms at batch 2, the candidate's 5 ms,
    1 GFLOP per image against an 800 GFLOP/s peak."""
    timings = iter([[0.009, 0.010, 0.030], [0.004, 0.005, 0.020]])
    out = {"embedding": np.ones((2, 4), np.float32)}
    monkeypatch.setattr(sweep_mod, "time_fn", lambda fn, **kw: (next(timings), out, 0.0))
    sweep = sweep_mod.Sweep(
        np.zeros((2, 3, 4, 4), np.float32),
        [2],
        gflop_per_image=1.0,
        peak_gflop_s=800.0,
        primary="embedding",
        opts=BenchOptions(artifact="x"),
        progress=Progress(quiet=True),
    )
    eager, _ = sweep_mod.measure_point(SimpleNamespace(name=EAGER, label="eager"), None, 2, sweep)
    point, _ = sweep_mod.measure_point(SimpleNamespace(name="onnxruntime-cpu", label="ort"), None, 2, sweep)
    assert eager["p50_ms"] == pytest.approx(10.0) and eager["latency_vs_eager"] == 1.0
    assert point["p50_ms"] == pytest.approx(5.0)
    assert point["latency_vs_eager"] == pytest.approx(0.5)
    assert point["gflop_s"] == pytest.approx(400.0)  # 2 images x 1 GFLOP in 5 ms
    assert point["peak_fraction"] == pytest.approx(0.5)
    assert point["parity"]["embedding"]["min_cosine"] == pytest.approx(1.0)


def test_rooflines_put_int8_and_bf16_rows_on_their_own_peak():
    rows = [{"precision": precision, "points": [{"gflop_s": 50.0}]} for precision in ("fp32", "fp16", "int8", "bf16")]
    place_on_rooflines(rows, {"peak_gflop_s": 100.0, "int8": {"peak_gop_s": 500.0}, "bf16": {"peak_gflop_s": 200.0}})
    assert [(r["points"][0]["peak_kind"], r["points"][0]["peak_fraction"]) for r in rows] == [
        ("fp32", 0.5),
        ("fp32", 0.5),
        ("int8", 0.1),
        ("bf16", 0.25),
    ]
    rows = [{"precision": "bf16", "points": [{"gflop_s": 50.0}]}]
    place_on_rooflines(rows, {"peak_gflop_s": 100.0, "bf16": {"peak_gflop_s": None}})  # no native bf16 here
    assert rows[0]["points"][0] == {"gflop_s": 50.0, "peak_kind": "fp32", "peak_fraction": 0.5}


def test_profile_summary_groups_kernels_by_op_type(tmp_path):
    trace = [
        {"cat": "Session", "name": "model_run", "dur": 1000},
        {
            "cat": "Node",
            "name": "mm_kernel_time",
            "dur": 600,
            "args": {
                "op_name": "MatMul",
                "provider": "CPUExecutionProvider",
                "input_type_shape": [{"float": [4, 8]}, {"float": [8, 16]}],
                "output_type_shape": [{"float": [4, 16]}],
            },
        },
        {"cat": "Node", "name": "sm_kernel_time", "dur": 200, "args": {"op_name": "Softmax"}},
        {"cat": "Node", "name": "sm_fence_before", "dur": 5, "args": {"op_name": "Softmax"}},
    ]
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(trace))
    s = summarise_profile(path, runs=1)
    assert [o["op_type"] for o in s["op_types"]] == ["MatMul", "Softmax"]
    assert s["op_types"][0]["share"] == pytest.approx(0.75)
    assert s["op_types"][0]["gflop_s"] == pytest.approx(2 * 4 * 16 * 8 / 600e-6 / 1e9)
    assert s["model_run_ms"] == pytest.approx(1.0)


def test_time_budget_skips_larger_batches_and_says_so(tiny_artifact):
    from ijepa_deploy.benchmarks.run import run_benchmark
    from ijepa_deploy.progress import Progress

    opts = BenchOptions(
        tiny_artifact,
        batch_sizes=(1, 2),
        threads=1,
        warmup=0,
        min_iters=1,
        min_seconds=0,
        skip_compile=True,
        providers=("cpu",),
        memory_probe=False,
        end_to_end=False,
        paired_rounds=0,
        gemm_size=32,
        max_backend_seconds=1e-9,
    )
    report = run_benchmark(opts, Progress(quiet=True))
    ran = [r for r in report["rows"] if r["status"] == "ok"]
    assert {r["backend"] for r in ran} - {"openvino-cpu"} == {"torch-eager", "onnxruntime-cpu"}
    for row in ran:
        assert [p["batch"] for p in row["points"]] == [1]
        assert row["skipped_batches"] == [2] and "max-backend-seconds" in row["skip_reason"]
    md = markdown(finalize(report))
    assert "skipped: over the per-backend budget" in md


def _report(rows, paired=None, peak=None):
    return {
        "rows": rows,
        "settings": {"batch_sizes": [1, 2, 4, 8], "primary_output": "embedding"},
        "paired": {"ratios": paired or {}},
        "gemm_peak": {"peak_gflop_s": peak},
        "flops": {"gflop_per_image": 1.0},
    }


def _row(variant, latency_vs_eager, cosine=1.0, status="ok"):
    points = [
        {
            "batch": b,
            "latency_vs_eager": latency_vs_eager,
            "peak_fraction": 0.9,
            "parity": {"embedding": {"min_cosine": cosine}},
        }
        for b in (1, 2, 4, 8)
    ]
    return {
        "backend": "onnxruntime-cpu",
        "variant": variant,
        "status": status,
        "reason": None if status == "ok" else "broken",
        "points": points if status == "ok" else [],
    }


def test_targets_judge_the_cpu_int8_graph_and_prefer_paired_ratios():
    paired = {
        "onnxruntime-cpu fp32": {
            "1": {"ratio": ORT_LATENCY_MAX + 0.1, "round_ratios": [1, 1, 1], "candidate_ms": [1, 1, 1]}
        }
    }
    rows = [
        _row("fp32", ORT_LATENCY_MAX - 0.1),
        _row("int8", INT8_LATENCY_MAX + 0.5),
        _row("int8-cpu", INT8_LATENCY_MAX - 0.1, cosine=0.5),
    ]
    by = {(t["id"], t["batch"]): t for t in evaluate_targets(_report(rows, paired))}
    assert {b for _, b in by} == {1, 8}
    assert by[("ort-fp32-latency", 1)]["result"] == "MISSED"  # the paired ratio wins over the sweep's
    assert by[("ort-fp32-latency", 8)]["result"] == "MET"  # no paired ratio at 8: the sweep's
    assert by[("int8-latency", 1)]["backend"] == "onnxruntime-cpu int8-cpu"  # not TensorRT's S8S8 graph
    assert by[("int8-latency", 1)]["result"] == "MET" and by[("int8-cosine", 1)]["result"] == "MISSED"
    assert by[("ort-fp32-gemm-peak", 1)]["result"] == "MET"


def test_a_measurement_exactly_at_its_limit_meets_the_target():
    rows = [_row("fp32", ORT_LATENCY_MAX), _row("int8-cpu", INT8_LATENCY_MAX, cosine=INT8_COSINE_MIN)]
    by = {(t["id"], t["batch"]): t["result"] for t in evaluate_targets(_report(rows))}
    assert by[("ort-fp32-latency", 8)] == "MET"  # <= limit
    assert by[("int8-latency", 8)] == "MET"
    assert by[("int8-cosine", 8)] == "MET"  # >= limit


def test_targets_without_int8_or_with_a_failed_row_are_not_met():
    none = evaluate_targets(_report([_row("fp32", 0.5)]))
    assert {t["result"] for t in none if t["id"].startswith("int8")} == {"N/A"}
    failed = evaluate_targets(_report([_row("fp32", 0.5), _row("int8-cpu", 0.1, status="failed")]))
    int8 = [t for t in failed if t["id"].startswith("int8")]
    assert int8 and all(t["result"] == "N/A" and "row failed: broken" in t["detail"] for t in int8)


def test_openvino_rows_and_the_int8_roofline(bench_run):
    """Every graph on OpenVINO (plus bf16 mode or a row saying why not), in the paired rounds; INT8
    rows' roofline is the int8 GEMM peak measured in the same run."""
    from ijepa_deploy.runtime.cpu_features import int8_dot_product
    from ijepa_deploy.runtime.openvino_runner import cpu_supports_bf16, openvino_status

    out, report = bench_run
    rows = {(r["backend"], r["variant"]): r for r in report["rows"]}
    if not openvino_status()[0]:
        assert rows[("openvino-cpu", "*")]["status"] == "unavailable"
        return
    assert rows[("openvino-cpu", "fp32")]["status"] == "ok"
    int8 = rows[("openvino-cpu", "int8")]
    if int8_dot_product():
        assert int8["status"] == "ok"
    else:  # load()'s refusal, with its reason
        assert int8["status"] == "unavailable" and "no int8 dot products" in int8["reason"]
    assert rows[("openvino-cpu", "fp32")]["details"]["inference_precision"] == "f32"
    assert rows[("openvino-cpu", "fp16")]["status"] == "unavailable"  # its file is missing
    bf16 = rows[("openvino-cpu", "bf16")]
    if cpu_supports_bf16():
        assert bf16["status"] == "ok" and bf16["details"]["inference_precision"] == "bf16"
    else:
        assert bf16["status"] == "unavailable" and "bf16" in bf16["reason"]
    int8_peak = report["gemm_peak"]["int8"]
    assert int8_peak["peak_gop_s"] > 0 and int8_peak["peak_source"] in int8_peak["measurements"]
    bf16_peak = report["gemm_peak"]["bf16"]
    if cpu_supports_bf16():  # measured exactly where bf16 rows run
        assert bf16_peak["peak_gflop_s"] > 0
    else:
        assert bf16_peak["peak_gflop_s"] is None and "no native bf16" in bf16_peak["skipped"]
    for variant in ("fp32", "int8", "bf16"):  # each precision on its own same-run GEMM peak
        row = rows[("openvino-cpu", variant)]
        if row["status"] == "ok":
            assert {p["peak_kind"] for p in row["points"]} == {variant}
    assert rows[("openvino-cpu", "fp32")]["memory"]["after_load_rss_gib"] > 0
    md = (out / "report.md").read_text()
    assert "| openvino-cpu | fp32 |" in md and "INT8 GEMM peak (VNNI" in md and "bf16 GEMM peak" in md
