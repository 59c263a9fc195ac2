"""PNG plots over the batch sweep: latency, throughput and speed-up vs eager."""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.benchmarks.markdown import row_name

PLOTS = {"latency": "latency_vs_batch.png", "throughput": "throughput_vs_batch.png",
         "speedup": "speedup_vs_eager.png"}


def write_plots(report: dict, out_dir: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    series = [(f"{row_name(r)} {r['variant']}", r["points"]) for r in report["rows"]
              if r["status"] == "ok" and r["points"]]
    title = f"{report['artifact']['model']} — {report['settings']['threads']} threads"
    written = {}
    specs = {
        "latency": ("p50 latency (ms)", lambda p: p["p50_ms"], True),
        "throughput": ("throughput (img/s, batch / p50)", lambda p: p["throughput_img_s"], False),
        "speedup": ("speed-up vs eager PyTorch (eager p50 / p50)",
                    lambda p: (1.0 / p["latency_vs_eager"]) if p.get("latency_vs_eager") else None, False),
    }
    for key, (ylabel, getter, logy) in specs.items():
        fig, ax = plt.subplots(figsize=(9.5, 4.8), dpi=110)
        for label, points in series:
            xs = [p["batch"] for p in points if getter(p) is not None]
            ys = [getter(p) for p in points if getter(p) is not None]
            if xs:
                ax.plot(xs, ys, marker="o", label=label)
        if key == "speedup":
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log", base=2)
        batches = sorted({p["batch"] for _, points in series for p in points})
        if batches:
            ax.set_xticks(batches, [str(b) for b in batches])
            ax.minorticks_off()
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.tight_layout()
        path = out_dir / PLOTS[key]
        fig.savefig(path)
        plt.close(fig)
        written[key] = str(path)
    return written
