"""``ijepa-export``'s one function: load -> export ONNX -> validate -> parity -> manifest.

Every step records into the artifact's manifest; the manifest is written after each step so a
crash or a failed check leaves the files on disk, marked ``exporting`` or ``failed``, never
``passed``.
"""

from __future__ import annotations

import datetime as _dt
import platform
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ijepa_deploy import __version__
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.manifest import (MANIFEST_NAME, STATUS_EXPORTING, STATUS_FAILED, STATUS_PASSED, Manifest)
from ijepa_deploy.models import load_model, parse_model_source
from ijepa_deploy.progress import Progress, peak_rss_gib
from ijepa_deploy.spec import TASKS, primary_output


@dataclass
class ExportOptions:
    model: str
    task: str = "feature-extraction"
    output: Path | None = None
    opset: int = 20
    image_size: int | None = None
    batch_sizes: tuple[int, ...] = (1, 2, 5)
    max_batch: int = 64
    revision: str | None = None
    seed: int = 0
    parity_images: Path | None = None
    overwrite: bool = False
    threads: int | None = None
    extra: dict = field(default_factory=dict)

    def resolved_output(self) -> Path:
        if self.output is not None:
            return Path(self.output)
        stem = self.model.replace("random:", "random-").rstrip("/").split("/")[-1]
        suffix = "" if self.task == "feature-extraction" else "-cls"
        size = f"-{self.image_size}px" if self.image_size else ""
        return Path("artifacts") / f"{stem}{suffix}{size}"


def versions() -> dict:
    found = {"python": platform.python_version(), "ijepa_deploy": __version__}
    for dist in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime", "numpy", "pillow"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def _prepare_output(directory: Path, overwrite: bool) -> None:
    if directory.exists() and any(directory.iterdir()):
        if not overwrite:
            raise IJepaDeployError(str(directory), "output directory is not empty",
                                   "an empty or new directory, or --overwrite to replace it")
        if not (directory / MANIFEST_NAME).is_file():
            raise IJepaDeployError(str(directory), "refusing to overwrite a directory that holds no "
                                   f"{MANIFEST_NAME}", "an artifact directory or a new path")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)


def validate_options(opts: ExportOptions) -> None:
    if opts.task not in TASKS:
        raise IJepaDeployError("--task", f"unknown task {opts.task!r}", f"one of {', '.join(TASKS)}")
    if not opts.batch_sizes or min(opts.batch_sizes) < 1:
        raise IJepaDeployError("--batch-sizes", f"{list(opts.batch_sizes)}", "positive integers, e.g. 1 2 5")
    if max(opts.batch_sizes) > opts.max_batch:
        raise IJepaDeployError("--batch-sizes", f"{max(opts.batch_sizes)} exceeds --max-batch {opts.max_batch}",
                               "parity batch sizes within the artifact's batch range")
    if opts.image_size is not None and opts.image_size < 14:
        raise IJepaDeployError("--image-size", f"{opts.image_size}", "a resolution of at least one patch")


def export_artifact(opts: ExportOptions, progress: Progress | None = None) -> Manifest:
    """Export, validate and check parity. Returns the manifest (status passed or failed);
    raises IJepaDeployError for user errors."""
    from ijepa_deploy.exporters.onnx_export import OnnxFromModel, spec_for
    from ijepa_deploy.exporters.parity import ParityCheck, images_in, photo_batch
    from ijepa_deploy.exporters.reference import TorchRunner
    from ijepa_deploy.exporters.validate import check_graph
    from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from ijepa_deploy.runtime.preprocess import Preprocessor

    progress = progress or Progress()
    validate_options(opts)
    source = parse_model_source(opts.model, opts.revision)
    parity_paths = images_in(opts.parity_images) if opts.parity_images else None
    out = opts.resolved_output()
    _prepare_output(out, opts.overwrite)
    if opts.threads:
        import torch

        torch.set_num_threads(opts.threads)

    with progress.step("load", f"{opts.model} ({opts.task})"):
        loaded = load_model(source, opts.task, seed=opts.seed)
    spec = spec_for(loaded, opts.image_size)
    preprocess = loaded.preprocess
    if opts.image_size and opts.image_size != preprocess.height:
        preprocess = preprocess.with_size(opts.image_size, opts.image_size)
    model_info = dict(loaded.info)
    model_info["export_image_size"] = spec.inputs[0].shape[2]
    model_info["position_embeddings"] = (
        "native" if model_info["export_image_size"] == loaded.info["image_size"]
        else f"bicubic-interpolated at export from {loaded.info['image_size']} px")
    manifest = Manifest(
        model=model_info, task=opts.task, io=spec, preprocessing=preprocess,
        batch={"min": 1, "max": opts.max_batch}, id2label=loaded.id2label, versions=versions(),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), status=STATUS_EXPORTING,
    )
    if loaded.info["weights_random"]:
        manifest.notes.append("Weights are seeded random values from a preset, not a trained checkpoint.")
    manifest.write(out)

    with progress.step("export", f"ONNX opset {opts.opset}, dynamic batch 1..{opts.max_batch} -> {out}"):
        files = OnnxFromModel(loaded, out, spec, opset=opts.opset, image_size=opts.image_size,
                              max_batch=opts.max_batch)()
    with progress.step("validate", "graph against the export spec, checksums"):
        summary = check_graph(files[0], spec)
        for f in files:
            manifest.record_file(out, f.name, role="onnx-graph" if f.suffix == ".onnx" else "onnx-external-data")
        manifest.graphs["fp32"] = {
            "file": files[0].name, "data_files": [f.name for f in files[1:]], "precision": "fp32",
            "for": ["onnxruntime", "tensorrt"], **summary,
        }
        manifest.versions["opset"] = summary["opset"]
        manifest.write(out)

    with progress.step("parity", f"eager PyTorch vs ONNX Runtime at batch sizes {list(opts.batch_sizes)}"):
        pixels, names = photo_batch(Preprocessor(preprocess), max(opts.batch_sizes), parity_paths)
        reference = TorchRunner(loaded, spec, 1, opts.max_batch)
        with OnnxRuntimeRunner(files[0], spec, 1, opts.max_batch, intra_op_threads=opts.threads) as candidate:
            check = ParityCheck(reference, candidate, "fp32", tuple(opts.batch_sizes))
            result = check(pixels, names, "fp32", progress=lambda s: progress.say(f"[parity] {s}"))
        manifest.parity.append(result)
    manifest.status = STATUS_PASSED if all(r["passed"] for r in manifest.parity) else STATUS_FAILED
    manifest.model["export_peak_rss_gib"] = round(peak_rss_gib(), 2)
    manifest.model["export_seconds"] = progress.timings
    manifest.write(out)
    return manifest


def summary_table(manifest: Manifest, directory: Path) -> str:
    """The readable summary printed at the end of an export."""
    lines = [f"artifact  {directory}  status: {manifest.status.upper()}",
             f"model     {manifest.model['source']}  ({manifest.model['weights']})",
             f"task      {manifest.task}  input {manifest.io.inputs[0].shape}  batch "
             f"{manifest.batch['min']}..{manifest.batch['max']}"]
    header = f"{'graph':<6} {'backend':<18} {'output':<18} {'min cosine':>12} {'max abs':>10} {'thresholds':>20}  result"
    lines += ["", header, "-" * len(header)]
    primary = primary_output(manifest.task)
    for result in manifest.parity:
        for name, o in sorted(result["outputs"].items(), key=lambda kv: kv[0] != primary):
            limit = f">={o['cosine_threshold']} / " + (f"<={o['max_abs_threshold']:g}" if o["max_abs_threshold"] else "-")
            lines.append(f"{result['graph']:<6} {result['backend']:<18} {name:<18} {o['min_cosine']:>12.7f} "
                         f"{o['max_abs']:>10.2e} {limit:>20}  {'ok' if o['passed'] else 'FAIL'}")
    lines.append(f"\nbatch sizes {manifest.parity[0]['batch_sizes'] if manifest.parity else []}; "
                 f"images: {', '.join(manifest.parity[0]['images']) if manifest.parity else '-'}")
    return "\n".join(lines)
