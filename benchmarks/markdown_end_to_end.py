"""report.md preprocessing and end-to-end section, with torch.compile's first calls."""

from __future__ import annotations

from ijepa_deploy.benchmarks.markdown_cells import fmt_ms


def end_to_end_section(report: dict) -> list[str]:
    """Preprocessing, end to end, torch.compile first calls."""
    lines: list[str] = []
    pre = report.get("preprocessing") or {}
    if pre:
        lines += [
            "## Preprocessing and end-to-end",
            "",
            f"Preprocessing: {pre['what']}.",
            "",
            "| input | p50 ms | p90 ms | img/s |",
            "|---|---|---|---|",
        ]
        for name, st in pre.get("per_file", {}).items():
            lines.append(
                f"| {name} ({st['source_size'][0]}x{st['source_size'][1]}) | {fmt_ms(st['p50_ms'])} | "
                f"{fmt_ms(st['p90_ms'])} | {st['throughput_img_s']:.1f} |"
            )
        for n, st in pre.get("per_batch", {}).items():
            lines.append(
                f"| batch of {n} files | {fmt_ms(st['p50_ms'])} | {fmt_ms(st['p90_ms'])} | "
                f"{st['throughput_img_s']:.1f} |"
            )
    e2e = report.get("end_to_end") or {}
    if e2e.get("per_batch"):
        lines += [
            "",
            f"End-to-end: {e2e['what']}; graph {e2e['graph']}; `load()` took {e2e['load_seconds']:.2f} s.",
            "",
            "| batch | iters | p50 ms | p90 ms | img/s |",
            "|---|---|---|---|---|",
        ]
        for n, st in e2e["per_batch"].items():
            lines.append(
                f"| {n} | {st['iterations']} | {fmt_ms(st['p50_ms'])} | {fmt_ms(st['p90_ms'])} | "
                f"{st['throughput_img_s']:.2f} |"
            )
    elif e2e.get("error"):
        lines += ["", f"End-to-end: failed ({e2e['error']})"]
    compile_row = next((r for r in report["rows"] if r["backend"] == "torch-compile" and r["status"] == "ok"), None)
    if compile_row and compile_row.get("first_call_seconds"):
        firsts = ", ".join(f"batch {b}: {v:.1f} s" for b, v in compile_row["first_call_seconds"].items())
        lines += ["", f"torch.compile first calls (compile + run): {firsts}."]
    return lines
