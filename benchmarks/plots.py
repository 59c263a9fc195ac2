"""PNG plots: latency and throughput over the batch sweep (points slowed by other processes drawn
hollow), and the speed-up vs eager from the paired rounds (the sweep's ratios only when there are
none: a lone sweep point of eager can land in a busy minute)."""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.benchmarks.machine import STALL_LIMIT, stalled
from ijepa_deploy.benchmarks.markdown_cells import row_name

PLOTS = {"latency": "latency_vs_batch.png", "throughput": "throughput_vs_batch.png", "speedup": "speedup_vs_eager.png"}
STALL_NOTE = f"hollow: CPU stall > {STALL_LIMIT:.0%}\n(slowed by other processes)"


def write_plots(report: dict, out_dir: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    series = [
        (f"{row_name(r)} {r['variant']}", r["points"]) for r in report["rows"] if r["status"] == "ok" and r["points"]
    ]
    cmap = plt.get_cmap("tab10" if len(series) <= 10 else "tab20")
    colors = {label: cmap(i % cmap.N) for i, (label, _) in enumerate(series)}
    title = f"{report['artifact']['model']} — {report['settings']['threads']} threads"
    written = {}
    specs = {
        "latency": ("p50 latency (ms)", "p50_ms", True),
        "throughput": ("throughput (img/s, batch / p50)", "throughput_img_s", False),
    }
    for key, (ylabel, field, logy) in specs.items():
        fig, ax = plt.subplots(figsize=(9.5, 4.8), dpi=110)
        marked = _sweep_lines(ax, series, colors, lambda p, f=field: p[f])
        _batch_axis(ax, series)
        if logy:
            ax.set_yscale("log")
        _finish(fig, ax, ylabel, title, marked)
        written[key] = _save(fig, out_dir / PLOTS[key])
    fig, ax = plt.subplots(figsize=(9.5, 4.8), dpi=110)
    ratios = (report.get("paired") or {}).get("ratios") or {}
    if ratios:
        _paired_bars(ax, ratios, colors, report["paired"].get("rounds"))
        _finish(fig, ax, "speed-up vs eager PyTorch fp32 (x)", title)
    else:
        marked = _sweep_lines(
            ax, series, colors, lambda p: (1.0 / p["latency_vs_eager"]) if p.get("latency_vs_eager") else None
        )
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        _batch_axis(ax, series)
        _finish(
            fig, ax, "speed-up vs eager PyTorch (eager p50 / p50)", title + " — sweep p50, no paired rounds", marked
        )
    written["speedup"] = _save(fig, out_dir / PLOTS["speedup"])
    return written


def _sweep_lines(ax, series, colors, getter) -> bool:
    """One line per row; points with a CPU stall over STALL_LIMIT drawn hollow. True if any was."""
    any_stalled = False
    for label, points in series:
        pts = [p for p in points if getter(p) is not None]
        if not pts:
            continue
        ax.plot([p["batch"] for p in pts], [getter(p) for p in pts], marker="o", color=colors[label], label=label)
        hollow = [p for p in pts if stalled(p)]
        if hollow:
            any_stalled = True
            ax.plot(
                [p["batch"] for p in hollow],
                [getter(p) for p in hollow],
                ls="none",
                marker="o",
                ms=9,
                markerfacecolor="white",
                markeredgecolor=colors[label],
                markeredgewidth=2,
            )
    return any_stalled


def _paired_bars(ax, ratios: dict, colors: dict, rounds) -> None:
    """Grouped bars per paired batch: 1 / median paired ratio, error bars spanning the per-round range."""
    import numpy as np

    keys = sorted(ratios, key=lambda k: (list(colors).index(k) if k in colors else len(colors), k))
    batches = sorted({int(b) for per in ratios.values() for b in per})
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        xs, ys, lo, hi = [], [], [], []
        for j, b in enumerate(batches):
            pair = ratios[key].get(str(b))
            if not pair:
                continue
            speed = 1.0 / pair["ratio"]
            per_round = [1.0 / r for r in pair["round_ratios"]]
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(speed)
            lo.append(max(0.0, speed - min(per_round)))
            hi.append(max(0.0, max(per_round) - speed))
        bars = ax.bar(
            xs, ys, width * 0.9, yerr=[lo, hi], capsize=2, color=colors.get(key), label=key, error_kw={"lw": 0.8}
        )
        ax.bar_label(bars, [f"{y:.1f}x" for y in ys], fontsize=7, padding=2)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="eager = 1x")
    ax.set_xticks(np.arange(len(batches)), [f"batch {b}" for b in batches])
    ax.set_xlim(-0.5, len(batches) - 0.5)
    ax.margins(y=0.12)
    ax.text(
        0.0,
        1.02,
        f"paired rounds: eager, then each backend, per round ({rounds or '?'} rounds); bar = 1 / "
        "median same-round ratio, whisker = per-round range",
        transform=ax.transAxes,
        fontsize=8,
    )


def _batch_axis(ax, series) -> None:
    ax.set_xscale("log", base=2)
    batches = sorted({p["batch"] for _, points in series for p in points})
    if batches:
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.minorticks_off()
    ax.set_xlabel("batch size")


def _finish(fig, ax, ylabel: str, title: str, stall_marked: bool = False) -> None:
    from matplotlib.lines import Line2D

    ax.set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if stall_marked:
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                ms=9,
                markerfacecolor="white",
                markeredgecolor="black",
                markeredgewidth=2,
                label=STALL_NOTE,
            )
        )
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path)
    plt.close(fig)
    return str(path)
