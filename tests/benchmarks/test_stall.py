"""Points slowed by other processes: a sweep point over the CPU-stall limit is measured once more
(both attempts recorded), report.md names the marked points, and the speed-up plot comes from
the paired rounds, not from the sweep's p50 ratios."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ijepa_deploy.benchmarks import sweep as sweep_mod
from ijepa_deploy.benchmarks.machine import STALL_LIMIT
from ijepa_deploy.benchmarks.markdown_latency import stall_notes
from ijepa_deploy.benchmarks.options import EAGER, BenchOptions
from ijepa_deploy.benchmarks.plots import PLOTS, write_plots
from ijepa_deploy.progress import Progress


def _fake_points(monkeypatch, stalls_and_p50):
    """measure_point returns these (stall, p50) points in order, as eager would record them."""
    calls = iter(stalls_and_p50)

    def fake(backend, fn, n, sweep):
        stall, p50 = next(calls)
        if backend.name == EAGER:
            sweep.eager_p50[n] = p50
        return {
            "batch": n,
            "iterations": 3,
            "p50_ms": p50,
            "p90_ms": p50,
            "p99_ms": p50,
            "cpu_stall_fraction": stall,
        }, 0.0

    monkeypatch.setattr(sweep_mod, "measure_point", fake)


def _sweep(batches):
    return sweep_mod.Sweep(
        np.zeros((8, 3, 4, 4), np.float32),
        batches,
        1.0,
        100.0,
        "embedding",
        BenchOptions(artifact="x"),
        Progress(quiet=True),
    )


@pytest.mark.parametrize("second_stall, kept_p50", [(0.01, 200.0), (0.9, 600.0)])
def test_a_stalled_point_is_measured_again_and_the_quieter_attempt_kept(monkeypatch, second_stall, kept_p50):
    _fake_points(monkeypatch, [(STALL_LIMIT / 2, 100.0), (STALL_LIMIT + 0.4, 600.0), (second_stall, 200.0)])
    backend = SimpleNamespace(name=EAGER, label="eager", variant="fp32")
    row = {"points": [], "status": "ok"}
    sweep = _sweep([1, 8])
    sweep_mod.measure_row(backend, None, row, sweep)
    quiet, stalled = row["points"]
    assert "attempts" not in quiet  # under the limit: measured once
    assert stalled["p50_ms"] == kept_p50 and sweep.eager_p50[8] == kept_p50  # the others' ratios use the kept one
    assert [a["p50_ms"] for a in stalled["attempts"]] == [600.0, 200.0]
    assert [a["kept"] for a in stalled["attempts"]] == [kept_p50 == 600.0, kept_p50 == 200.0]


def _report():
    def row(backend, variant, stalls):
        return {
            "backend": backend,
            "variant": variant,
            "status": "ok",
            "points": [
                {
                    "batch": b,
                    "p50_ms": 100.0 * b,
                    "throughput_img_s": 10.0,
                    "latency_vs_eager": 0.05,
                    "cpu_stall_fraction": s,
                }
                for b, s in zip((1, 8), stalls)
            ],
        }

    rows = [row("torch-eager", "fp32", [0.52, 0.01]), row("onnxruntime-cpu", "fp32", [0.01, 0.02])]
    pair = {"ratio": 0.4, "round_ratios": [0.38, 0.4, 0.45], "eager_ms": [1.0] * 3, "candidate_ms": [0.4] * 3}
    return {
        "rows": rows,
        "artifact": {"model": "random:tiny"},
        "settings": {"threads": 2},
        "paired": {"rounds": 3, "ratios": {"onnxruntime-cpu fp32": {"1": pair, "8": pair}}},
    }


def test_report_names_the_points_over_the_stall_limit():
    text = "\n".join(stall_notes(_report()))
    assert f"CPU stall > {STALL_LIMIT:.0%}" in text and "torch-eager fp32 batch 1 (52%)" in text
    assert "onnxruntime-cpu" not in text


def test_speedup_plot_uses_the_paired_ratios(tmp_path, monkeypatch):
    import matplotlib.axes

    bars = []
    real_bar = matplotlib.axes.Axes.bar
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "bar",
        lambda self, x, h, *a, **k: bars.append((list(h), k.get("yerr"))) or real_bar(self, x, h, *a, **k),
    )
    written = write_plots(_report(), tmp_path)
    assert set(written) == set(PLOTS) and all((tmp_path / name).stat().st_size > 0 for name in PLOTS.values())
    ((heights, (lo, hi)),) = bars  # one series: ORT fp32 at batch 1 and 8
    assert heights == pytest.approx([2.5, 2.5])  # 1 / paired median 0.4, not the sweep's 1 / 0.05 = 20
    assert lo == pytest.approx([2.5 - 1 / 0.45] * 2) and hi == pytest.approx([1 / 0.38 - 2.5] * 2)
