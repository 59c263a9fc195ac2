"""report.md targets section: MET / MISSED per target and the paired A/B rounds behind its ratios."""

from __future__ import annotations

import numpy as np

from ijepa_deploy.benchmarks.markdown_cells import fmt, fmt_ms
from ijepa_deploy.benchmarks.targets import ORT_FP32, versus_rounds


def targets_section(report: dict) -> list[str]:
    """MET / MISSED / N/A per target."""
    lines: list[str] = []
    lines += [
        "",
        "## Targets (ratios measured in this run)",
        "",
        "| target | backend | batch | measured | limit | result |",
        "|---|---|---|---|---|---|",
    ]
    for t in report["targets"]:
        val, limit = _target_value(t, t["value"]), _target_value(t, t["limit"], limit=True)
        result = f"**{t['result']}**" + (f" ({t['detail']})" if t.get("detail") else "")
        lines.append(
            f"| {t['description']} | {t['backend']} | {t['batch']} | {val} | {t['comparison']} {limit} | {result} |"
        )
    return lines


def _target_value(target: dict, value, limit: bool = False) -> str:
    """A target's value or limit in its measure's unit (see targets.TargetSpec.measure)."""
    if value is None:
        return "–"
    measure = target.get("measure") or (
        "cosine" if "cosine" in target["id"] else "peak" if target["id"].endswith("gemm-peak") else ""
    )
    if measure == "peak":
        return f"{value:.0%}" if limit else f"{value:.1%}"
    if limit:
        return f"{value:g}" + ("x" if measure == "faster-than" else "")
    if measure == "cosine":
        return f"{value:.6f}" if value < 1 - 5e-7 else "1.000000"
    if measure == "faster-than":
        return f"{value:.2f}x"
    return f"{value:.3f}"


def paired_section(report: dict) -> list[str]:
    """The paired A/B rounds behind the target ratios and the speed-up plot; each backend also
    against ONNX Runtime fp32 of the same rounds."""
    lines: list[str] = []
    pr = report.get("paired") or {}
    if pr.get("ratios"):
        ort = pr["ratios"].get(ORT_FP32, {})
        lines += [
            "",
            f"Paired A/B ({pr['method']}; {pr['rounds']} rounds; x ORT fp32 = median over rounds of "
            f"the backend's ratio / {ORT_FP32}'s ratio of the same round):",
            "",
            "| backend | batch | ratio (median) | per-round ratios | x ORT fp32 | eager ms per round "
            "| backend ms per round |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, per in pr["ratios"].items():
            for b, r in per.items():
                vs_ort = versus_rounds(r, ort.get(b))
                x_ort = fmt(float(np.median(vs_ort)), ".3f") if vs_ort else "–"
                lines.append(
                    f"| {key} | {b} | {r['ratio']:.3f} | {', '.join(f'{x:.3f}' for x in r['round_ratios'])} | "
                    f"{x_ort} | {', '.join(fmt_ms(x) for x in r['eager_ms'])} | "
                    f"{', '.join(fmt_ms(x) for x in r['candidate_ms'])} |"
                )
        if len(pr.get("groups", [])) > 1:
            lines += [
                "",
                "Candidates shared rounds in memory groups (all at once would not fit): "
                + "; ".join(", ".join(group) for group in pr["groups"])
                + ".",
            ]
    elif pr.get("error"):
        lines += ["", f"Paired A/B failed: {pr['error']}"]
    return lines
