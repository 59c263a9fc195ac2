"""report.md memory section: load time and RSS per backend."""

from __future__ import annotations

from ijepa_deploy.benchmarks.markdown_cells import fmt, row_name


def memory_section(report: dict) -> list[str]:
    """Load time and peak RSS per backend."""
    lines: list[str] = []
    lines += [
        "",
        "## Load time and memory",
        "",
        "| backend | graph | load s (in run) | compile s | load s (fresh process) | RSS before load GiB | "
        "peak RSS GiB (load + batch-1 run) | after the run: anonymous / file-backed GiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        if r["status"] != "ok":
            continue
        m = r.get("memory") or {}
        lines.append(
            f"| {row_name(r)} | {r['variant']} | {fmt(r.get('load_seconds'), '.2f')} | "
            f"{fmt(r.get('compile_seconds'), '.1f')} | {fmt(m.get('load_seconds'), '.2f')} | "
            f"{fmt(m.get('baseline_rss_gib'), '.2f')} | "
            f"{fmt(m.get('peak_rss_gib'), '.2f') if 'error' not in m else m['error']} | "
            f"{fmt(m.get('anon_rss_gib'), '.2f')} / {fmt(m.get('file_rss_gib'), '.2f')} |"
        )
    mem = report.get("memory") or {}
    lines += [
        "",
        "Anonymous memory is the process's own; file-backed pages (a memory-mapped OpenVINO IR) are "
        "shared by every process that maps the same file and can be reclaimed by the kernel.",
        "",
        f"{mem.get('note', '')}. Benchmark process peak RSS: {fmt(mem.get('process_peak_rss_gib'), '.2f')} GiB.",
        "",
    ]
    return lines
