"""The Markdown report people paste into PRs: its sections in order, each rendered by its own module."""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.benchmarks.markdown_end_to_end import end_to_end_section
from ijepa_deploy.benchmarks.markdown_latency import latency_section
from ijepa_deploy.benchmarks.markdown_memory import memory_section
from ijepa_deploy.benchmarks.markdown_opt_in import cpp_section, serving_section
from ijepa_deploy.benchmarks.markdown_profiles import profiles_section
from ijepa_deploy.benchmarks.markdown_setup import header_section, settings_section
from ijepa_deploy.benchmarks.markdown_targets import paired_section, targets_section


def markdown(report: dict, plots: dict | None = None) -> str:
    lines: list[str] = []
    for section in (
        header_section,
        settings_section,
        latency_section,
        targets_section,
        paired_section,
        memory_section,
        end_to_end_section,
        cpp_section,
        serving_section,
        profiles_section,
    ):
        lines += section(report)
    if plots:
        lines += ["", "## Plots", ""]
        for key, path in plots.items():
            lines.append(f"![{key}]({Path(path).name})")
    return "\n".join(lines).rstrip() + "\n"
