"""report.md latency section: the latency, roofline and parity table and its CPU-stall notes."""

from __future__ import annotations

from ijepa_deploy.benchmarks.machine import STALL_LIMIT, stalled
from ijepa_deploy.benchmarks.markdown_cells import fmt, fmt_cos, fmt_ms, row_name


def latency_section(report: dict) -> list[str]:
    """One line per (row, batch): latency, roofline, parity; then rows that did not run."""
    primary = report["settings"]["primary_output"]
    lines: list[str] = []
    lines += [
        f"## Latency, throughput, roofline and parity (p50 over the iterations; parity of `{primary}` "
        "vs eager on the same inputs)",
        "",
    ]
    header = (
        "| backend | graph | batch | iters | p50 ms | p90 ms | p99 ms | img/s | GFLOP/s | % GEMM peak "
        "| latency / eager | cosine vs eager | max abs vs eager | CPU stall |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for row in report["rows"]:
        if row["status"] != "ok":
            continue
        for p in row["points"]:
            par = p["parity"].get(primary, {})
            lines.append(
                f"| {row_name(row)} | {row['variant']} | {p['batch']} | {p['iterations']} | {fmt_ms(p['p50_ms'])} | "
                f"{fmt_ms(p['p90_ms'])} | {fmt_ms(p['p99_ms'])} | {p['throughput_img_s']:.2f} | {p['gflop_s']:.1f} | "
                f"{fmt(p['peak_fraction'] and 100 * p['peak_fraction'], '.0f')}% | "
                f"{fmt(p['latency_vs_eager'], '.3f')} | {fmt_cos(par.get('min_cosine'))} | "
                f"{fmt(par.get('max_abs'), '.2e')} | {fmt(p.get('cpu_stall_fraction'), '.0%')} |"
            )
        if row.get("skipped_batches"):
            lines.append(
                f"| {row_name(row)} | {row['variant']} | {', '.join(map(str, row['skipped_batches']))} | "
                f"skipped: {row['skip_reason']} |" + " |" * 10
            )
    lines += [
        "",
        "CPU stall = Linux PSI `/proc/pressure/cpu` 'some' time during the point / its wall time: "
        "the share of time runnable work waited for a core (other processes on these cores). "
        "Points with a high stall are slowed by the machine, not by the backend.",
    ]
    lines += stall_notes(report)
    others = [r for r in report["rows"] if r["status"] != "ok"]
    if others:
        lines += ["", "Rows that did not run here:", "", "| backend | graph | status | reason |", "|---|---|---|---|"]
        for r in others:
            lines.append(f"| {row_name(r)} | {r['variant']} | {r['status']} | {r['reason']} |")
    return lines


def stall_notes(report: dict) -> list[str]:
    """Which points ran above the stall limit (hollow in the plots) and which were measured twice."""
    marked, again = [], []
    for row in (r for r in report["rows"] if r["status"] == "ok"):
        for p in row["points"]:
            name = f"{row['backend']} {row['variant']} batch {p['batch']}"
            if stalled(p):
                marked.append(f"{name} ({p['cpu_stall_fraction']:.0%})")
            if p.get("attempts"):
                tries = "; ".join(
                    f"p50 {fmt_ms(a['p50_ms'])} ms at {fmt(a['cpu_stall_fraction'], '.0%')} stall"
                    + (" (kept)" if a["kept"] else "")
                    for a in p["attempts"]
                )
                again.append(f"{name}: {tries}")
    lines = [
        "",
        f"Points with CPU stall > {STALL_LIMIT:.0%} (drawn hollow in the latency and throughput plots): "
        + (", ".join(marked) if marked else "none")
        + ".",
    ]
    if again:
        lines += [
            "",
            "Measured twice because the first attempt's stall was over the limit (the attempt with "
            "the lower stall is the table's point):",
            "",
        ] + [f"- {a}" for a in again]
    return lines
