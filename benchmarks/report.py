"""Writing a run's report: report.json (validated), the plots and report.md, into one directory."""

from __future__ import annotations

import json
from pathlib import Path

from ijepa_deploy.benchmarks.markdown import markdown
from ijepa_deploy.benchmarks.plots import write_plots
from ijepa_deploy.benchmarks.report_schema import finalize, validate_report


def write_report(report: dict, out_dir: Path) -> dict:
    """Write report.json, report.md and the plots into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = finalize(report)
    validate_report(report)
    plots = write_plots(report, out_dir)
    report["plots"] = {k: Path(v).name for k, v in plots.items()}
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path = out_dir / "report.md"
    md_path.write_text(markdown(report, plots))
    return {"json": json_path, "markdown": md_path, **{k: Path(v) for k, v in plots.items()}, "report": report}
