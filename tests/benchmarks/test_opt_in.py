"""ijepa-bench's opt-in measurements on the tiny model: --cpp (C++ vs Python runtime, paired rounds)
and --serve (served vs direct). Tiny round counts: these tests check that the sections appear with
their fields, agree with the schema and the report, never speed."""

from __future__ import annotations

import json

import pytest

from ijepa_deploy.benchmarks.cpp_build import BENCH_DRIVER
from ijepa_deploy.benchmarks.markdown_opt_in import serving_section
from ijepa_deploy.benchmarks.options import BenchOptions
from ijepa_deploy.benchmarks.report_schema import OPT_IN_SECTIONS, _validate_section
from ijepa_deploy.benchmarks.targets import SERVE_RATIO_MIN, serving_targets
from ijepa_deploy.errors import InputError
from ijepa_deploy.progress import Progress

QUICK = [
    "--batch-sizes",
    "1",
    "8",
    "--threads",
    "1",
    "--warmup",
    "1",
    "--min-iters",
    "1",
    "--min-seconds",
    "0",
    "--gemm-size",
    "64",
    "--skip-compile",
    "--no-memory-probe",
    "--no-end-to-end",
    "--paired-rounds",
    "0",
    "--quiet",
]


@pytest.fixture(scope="module")
def cpp_run(tiny_artifact, cpp_release_build, tmp_path_factory):
    """One CLI run with --cpp on the session's C++ build (not built again)."""
    from ijepa_deploy.cli.bench import _main

    out = tmp_path_factory.mktemp("bench-cpp") / "report"
    argv = [
        str(tiny_artifact),
        "-o",
        str(out),
        *QUICK,
        "--cpp",
        "--cpp-rounds",
        "2",
        "--cpp-driver",
        str(cpp_release_build / BENCH_DRIVER),
    ]
    assert _main(argv) == 0
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_cpp_section_has_paired_end_to_end_at_batch_1_and_8(cpp_run):
    report, _ = cpp_run
    cpp = report["cpp"]
    assert "error" not in cpp, cpp
    assert cpp["cpp_backend"] == "openvino" and cpp["graph"] == "fp32" and cpp["threads"] == 1
    assert cpp["same_engine"] == (cpp["python_backend"] == "openvino")
    assert sorted(cpp["end_to_end"]) == ["1", "8"]
    for batch, entry in cpp["end_to_end"].items():
        assert entry["batch"] == int(batch) and len(entry["round_ratios"]) == 2
        assert entry["cpp_ms"] > 0 and entry["python_ms"] > 0
        assert entry["cpp_ms_per_image"] == pytest.approx(entry["cpp_ms"] / int(batch))
        assert min(entry["round_ratios"]) <= entry["cpp_over_python"] <= max(entry["round_ratios"])
    pre = cpp["preprocessing"]
    assert pre["batch"] == 8 and pre["cpp_img_s"] > 0 and pre["python_img_s"] > 0
    # the same files give the same embeddings in both languages (fp32: the C++ tests' parity bound)
    assert cpp["parity"]["images"] == 8 and cpp["parity"]["min_cosine"] >= 0.99999
    assert cpp["pipe_roundtrip_ms"] >= 0 and cpp["load_seconds"]["cpp"] > 0


def test_cpp_section_in_markdown_names_both_engines(cpp_run):
    report, md = cpp_run
    assert "## C++ runtime vs Python runtime (--cpp)" in md
    assert f"runtime.load(backend={report['cpp']['python_backend']!r})" in md
    for batch in ("1", "8"):
        assert f"| end to end | {batch} |" in md
    assert "| preprocessing only | 8 |" in md


def test_cpp_bad_precision_fails_before_timing(tiny_artifact, tmp_path):
    from ijepa_deploy.cli.bench import _main

    with pytest.raises(InputError, match="--cpp-precision"):
        _main(
            [
                str(tiny_artifact),
                "-o",
                str(tmp_path / "r"),
                *QUICK,
                "--cpp",
                "--cpp-precision",
                "int8-cpu",
                "--cpp-driver",
                __file__,
            ]
        )
    assert not (tmp_path / "r" / "report.json").exists()
    with pytest.raises(InputError, match="--cpp-driver"):
        _main([str(tiny_artifact), "-o", str(tmp_path / "r"), "--cpp", "--cpp-driver", str(tmp_path / "none")])


def _entry(clients: int, ratio: float) -> dict:
    return {
        "clients": clients,
        "requests": 2 * clients,
        "served_img_s": 10 * ratio,
        "direct_img_s": 10.0,
        "served_over_direct": ratio,
        "round_ratios": [ratio],
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "mean_batch": 2.0,
    }


def test_serving_target_verdicts():
    base = {"backend": "onnxruntime", "precision": "fp32"}
    met = serving_targets({**base, "per_clients": {"64": _entry(64, SERVE_RATIO_MIN + 0.01)}})
    missed = serving_targets({**base, "per_clients": {"64": _entry(64, SERVE_RATIO_MIN - 0.01)}})
    not_measured = serving_targets({**base, "per_clients": {"8": _entry(8, 1.0)}})
    failed = serving_targets({"error": "RuntimeError: no server"})
    assert [t["result"] for t in met + missed + not_measured + failed] == ["MET", "MISSED", "N/A", "N/A"]
    assert "--serve-clients" in not_measured[0]["detail"] and "no server" in failed[0]["detail"]
    assert serving_targets(None) == []


def test_serve_measures_served_and_direct_per_client_count(tiny_artifact):
    pytest.importorskip("pytriton", reason="--serve needs the 'serve' extra (nvidia-pytriton)")
    from ijepa_deploy.benchmarks.serving import measure_serving

    opts = BenchOptions(
        artifact=tiny_artifact,
        serve=True,
        serve_clients=(1, 8),
        serve_requests=1,
        serve_rounds=1,
        serve_preprocess_instances=2,
    )
    serving = measure_serving(tiny_artifact, opts, Progress(quiet=True))
    keys, per_key, per_keys = OPT_IN_SECTIONS["serving"]
    _validate_section("test", "serving", serving, keys, per_key, per_keys)
    assert sorted(serving["per_clients"], key=int) == ["1", "8"]
    eight = serving["per_clients"]["8"]
    assert eight["requests"] == 8 and eight["served_img_s"] > 0 and eight["direct_img_s"] > 0
    first_round = eight["served_img_s_rounds"][0] / eight["direct_img_s_rounds"][0]
    assert eight["served_over_direct"] == pytest.approx(first_round)
    assert 0 < eight["p50_ms"] <= eight["p99_ms"]
    assert eight["mean_batch"] is not None and eight["mean_batch"] >= 1
    assert serving["server"]["address"] == "127.0.0.1"
    md = "\n".join(serving_section({"serving": serving}))
    assert "| 8 | 8 |" in md
    assert serving_targets(serving)[0]["result"] == "N/A"  # 64 clients not asked for here
