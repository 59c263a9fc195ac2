"""report.md ONNX Runtime profile section: kernel time per op type and matmul shape."""

from __future__ import annotations

from ijepa_deploy.benchmarks.markdown_cells import fmt, fmt_ms


def profiles_section(report: dict) -> list[str]:
    """ONNX Runtime profiles per op type and matmul shape."""
    lines: list[str] = []
    if report.get("profiles"):
        lines += ["", "## ONNX Runtime profile (per op type, kernel time per run)", ""]
        for name, prof in report["profiles"].items():
            if "error" in prof:
                lines.append(f"- {name}: profiling failed ({prof['error']})")
                continue
            for batch, summary in prof.items():
                lines += [
                    f"**{name}, batch {batch}**: model_run {fmt_ms(summary['model_run_ms'])} ms, kernels "
                    f"{fmt_ms(summary['kernel_ms_per_run'])} ms per run ({summary['runs']} runs).",
                    "",
                    "| op type | ms/run | share | nodes/run | GFLOP/s (matmuls) | provider |",
                    "|---|---|---|---|---|---|",
                ]
                for op in summary["op_types"][:12]:
                    lines.append(
                        f"| {op['op_type']} | {fmt_ms(op['ms_per_run'])} | {op['share']:.1%} | "
                        f"{op['nodes_per_run']:.0f} | {fmt(op['gflop_s'], '.1f')} | "
                        f"{', '.join(op['providers'])} |"
                    )
                if summary.get("matmul_shapes"):
                    lines += [
                        "",
                        "| matmul op | input shapes | ms/run | share | nodes/run | GFLOP/s |",
                        "|---|---|---|---|---|---|",
                    ]
                    for m in summary["matmul_shapes"][:8]:
                        lines.append(
                            f"| {m['op_type']} | {m['shapes']} | {fmt_ms(m['ms_per_run'])} | {m['share']:.1%} | "
                            f"{m['nodes_per_run']:.0f} | {fmt(m['gflop_s'], '.1f')} |"
                        )
                lines.append("")
    return lines
