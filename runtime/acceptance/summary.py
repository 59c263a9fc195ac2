"""The readable summary ``ijepa-export`` and ``ijepa-build`` print: every parity row (graphs and
engines, per backend), the neighbour check, the graphs, calibration and engine verdicts."""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.manifest import Manifest
from ijepa_deploy.spec import primary_output


def summary_table(manifest: Manifest, directory: Path) -> str:
    """The readable summary printed at the end of an export."""
    lines = [
        f"artifact  {directory}  status: {manifest.status.upper()}",
        f"model     {manifest.model.source}  ({manifest.model.weights})",
        f"task      {manifest.task}  input {manifest.io.inputs[0].shape}  batch "
        f"{manifest.batch.min}..{manifest.batch.max}",
    ]
    lines += _parity_rows(manifest)
    lines += _parity_legend(manifest)
    lines += _artifact_contents(manifest)
    return "\n".join(lines)


def _parity_rows(manifest: Manifest) -> list[str]:
    """The parity table: one row per checked output (the task's primary output first), and a FAIL
    row for a failed neighbour check."""
    lines: list[str] = []
    header = (
        f"{'graph':<9} {'backend':<16} {'output':<18} {'min cosine':>11} {'max abs':>9} "
        f"{'thresholds':>18} {'overlap@k':>10}  result"
    )
    lines += ["", header, "-" * len(header)]
    primary = primary_output(manifest.task)
    for result in manifest.parity:
        neighbours = result.retrieval
        for name, o in sorted(result.outputs.items(), key=lambda kv: kv[0] != primary):
            limit = f">={o.cosine_threshold} / " + (f"<={o.max_abs_threshold:g}" if o.max_abs_threshold else "-")
            overlap = ""
            if neighbours and name == neighbours.output:
                overlap = f"{neighbours.mean_overlap:.3f}@{neighbours.k}"
            graph = result.graph if result.precision in result.graph else f"{result.graph}@{result.precision}"
            lines.append(
                f"{graph:<9} {result.backend:<16} {name:<18} {o.min_cosine:>11.7f} "
                f"{o.max_abs:>9.2e} {limit:>18} {overlap:>10}  {'ok' if o.passed else 'FAIL'}"
            )
        if neighbours and not neighbours.passed:
            lines.append(
                f"{result.graph:<9} neighbour overlap {neighbours.mean_overlap:.3f} below {neighbours.threshold}  FAIL"
            )
    return lines


def _parity_legend(manifest: Manifest) -> list[str]:
    """What the table was measured on, and what overlap@k means."""
    lines: list[str] = []
    first = manifest.parity[0] if manifest.parity else None
    lines.append(
        f"\nbatch sizes {first.batch_sizes if first else []}; images: {', '.join(first.images) if first else '-'}"
    )
    neighbours = next((r.retrieval for r in manifest.parity if r.retrieval), None)
    if neighbours:
        lines.append(
            f"overlap@k: mean share of each image's {neighbours.k} nearest neighbours (cosine, "
            f"{neighbours.output}) that match eager fp32's, over {neighbours.images} images"
        )
    return lines


def _artifact_contents(manifest: Manifest) -> list[str]:
    """The graphs, the int8 calibration, each engine's parity verdict and the notes worth repeating."""
    lines: list[str] = []
    graphs = [
        f"{v}: {g.file} ({', '.join(g.targets)})" + (f", OpenVINO runs {g.openvino_ir.file}" if g.openvino_ir else "")
        for v, g in manifest.graphs.items()
    ]
    lines.append("graphs    " + "; ".join(graphs))
    calibration = next((g.calibration for g in manifest.graphs.values() if g.calibration), None)
    if calibration:
        lines.append(
            f"int8 calibration: {calibration['method']} on {calibration['images']} images from "
            f"{calibration['source']}, {calibration['seconds']} s, peak RSS "
            f"{calibration.get('peak_rss_gib')} GiB"
        )
    for variant, engine in manifest.engines.items():
        checked = next((r for r in manifest.parity if r.engine == engine.file), None)
        sizes = f" at batch sizes {checked.batch_sizes}" if checked else ""
        lines.append(
            f"engine    {variant}: {engine.file} (TensorRT {engine.tensorrt_version}, {engine.gpu_name})"
            f"  parity {(engine.status or 'never checked').upper()}{sizes}"
        )
    for note in manifest.notes:
        if note.startswith(("TensorRT engine", "INT8 calibration", "ONNX Runtime GPU")):
            lines.append(note)
    return lines
