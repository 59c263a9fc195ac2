"""``ijepa-export``'s one function: load -> export ONNX -> validate -> parity -> [fp16 / INT8 graphs,
each validated and checked against eager fp32 plus a neighbour-overlap check] -> [TensorRT engines
when TensorRT and a GPU are present] -> manifest.

Every step records into the artifact's manifest; the manifest is written after each step so a
crash or a failed check leaves the files on disk, marked ``exporting`` or ``failed``, never
``passed``.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ijepa_deploy import __version__, interrupts
from ijepa_deploy.errors import IJepaDeployError, InputError
from ijepa_deploy.exporters.engine_parity import onnxruntime_gpu_step
from ijepa_deploy.exporters.engine_step import engine_step
from ijepa_deploy.exporters.export_checks import check_checkpoint_files, check_image_size, check_opset, peek_config
from ijepa_deploy.exporters.export_run import ExportRun
from ijepa_deploy.exporters.graph_parity import GraphParity
from ijepa_deploy.exporters.graph_steps import precision_steps, record_graph
from ijepa_deploy.exporters.models import load_model, parse_model_source
from ijepa_deploy.exporters.onnx_export import DEFAULT_OPSET, OnnxFromModel, spec_for
from ijepa_deploy.exporters.output_slot import OutputSlot, stale_work_dirs
from ijepa_deploy.exporters.precision import CALIB_METHODS, DEFAULT_CALIB_COUNT
from ijepa_deploy.exporters.precision.int8_target import DEFAULT_SENSITIVITY_IMAGES, DEFAULT_TARGET_COSINE
from ijepa_deploy.exporters.reference import ReferenceFromModel
from ijepa_deploy.manifest import STATUS_EXPORTING, STATUS_PASSED, Manifest
from ijepa_deploy.memory import peak_rss_with_children_gib, release_memory
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import REFERENCE_ROLE, BatchRange, ModelInfo
from ijepa_deploy.runtime.acceptance.parity import DEFAULT_BATCH_SIZES, ReferenceParity
from ijepa_deploy.runtime.acceptance.reference import REFERENCE_FILE
from ijepa_deploy.runtime.acceptance.retrieval import DEFAULT_IMAGES, DEFAULT_K
from ijepa_deploy.runtime.onnxruntime_runner import gpu_execution_providers
from ijepa_deploy.runtime.photos import images_in
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.spec import check_task


@dataclass
class ExportOptions:
    model: str
    task: str = "feature-extraction"
    output: Path | None = None
    opset: int = DEFAULT_OPSET
    image_size: int | None = None
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    max_batch: int = 64
    revision: str | None = None
    seed: int = 0
    parity_images: Path | None = None
    overwrite: bool = False
    threads: int | None = None
    fp16: bool = False
    int8: bool = False
    calib_dir: Path | None = None
    calib_count: int = DEFAULT_CALIB_COUNT
    calib_method: str = CALIB_METHODS[0]
    calib_batch: int | None = None  # None: 4, or 1 for graphs over 1 GB (see graph_steps.precision_steps)
    int8_target_cosine: float = DEFAULT_TARGET_COSINE
    int8_sensitivity_images: int = DEFAULT_SENSITIVITY_IMAGES
    retrieval_images: int = DEFAULT_IMAGES
    retrieval_k: int = DEFAULT_K
    engines: bool = True

    def resolved_output(self) -> Path:
        if self.output is not None:
            return Path(self.output)
        stem = self.model.replace("random:", "random-").rstrip("/").split("/")[-1]
        suffix = "" if self.task == "feature-extraction" else "-cls"
        size = f"-{self.image_size}px" if self.image_size else ""
        return Path("artifacts") / f"{stem}{suffix}{size}"


def versions() -> dict:
    found = {"python": platform.python_version(), "ijepa_deploy": __version__}
    for dist in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime", "openvino", "numpy", "pillow"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def validate_options(opts: ExportOptions) -> None:
    check_task(opts.task)
    if not opts.batch_sizes or min(opts.batch_sizes) < 1:
        raise InputError("--batch-sizes", f"{list(opts.batch_sizes)}", "positive integers, e.g. 1 2 5")
    if max(opts.batch_sizes) > opts.max_batch:
        raise InputError(
            "--batch-sizes",
            f"{max(opts.batch_sizes)} exceeds --max-batch {opts.max_batch}",
            "parity batch sizes within the artifact's batch range",
        )
    check_opset(opts.opset)
    if not opts.int8:
        defaults = ExportOptions(model=opts.model)
        for flag, name in (
            ("--calib-dir", "calib_dir"),
            ("--calib-count", "calib_count"),
            ("--calib-method", "calib_method"),
            ("--int8-target-cosine", "int8_target_cosine"),
            ("--int8-sensitivity-images", "int8_sensitivity_images"),
        ):
            if getattr(opts, name) != getattr(defaults, name):
                raise InputError(flag, "given without --int8", "--int8 (calibration only applies to INT8)")
    if opts.calib_method not in CALIB_METHODS:
        raise InputError(
            "--calib-method", f"unknown method {opts.calib_method!r}", f"one of {', '.join(CALIB_METHODS)}"
        )
    if opts.calib_count < 1:
        raise InputError(
            "--calib-count", f"{opts.calib_count}", f"a positive number of images, e.g. {DEFAULT_CALIB_COUNT}"
        )
    if not 0 < opts.int8_target_cosine < 1:
        raise InputError(
            "--int8-target-cosine",
            f"{opts.int8_target_cosine}",
            f"a cosine between 0 and 1, e.g. {DEFAULT_TARGET_COSINE}",
        )
    if not 1 <= opts.int8_sensitivity_images <= max(opts.batch_sizes):
        raise InputError(
            "--int8-sensitivity-images",
            f"{opts.int8_sensitivity_images}",
            f"1..{max(opts.batch_sizes)} (held-out parity photos: the largest --batch-sizes)",
        )
    if opts.calib_batch is not None and not 1 <= opts.calib_batch <= opts.max_batch:
        raise InputError("calibration batch", f"{opts.calib_batch}", f"1..--max-batch ({opts.max_batch})")
    if opts.retrieval_images <= opts.retrieval_k:
        raise InputError(
            "neighbour check", f"{opts.retrieval_images} images for k={opts.retrieval_k}", "more images than k"
        )


@dataclass
class ExportResult:
    manifest: Manifest
    directory: Path  # where the artifact is: the target, or where a failed replacement was kept
    replaced: bool = False  # an existing artifact was replaced


def export_artifact(opts: ExportOptions, progress: Progress | None = None) -> Manifest:
    """Export, validate and check parity. Returns the manifest (status passed or failed);
    raises IJepaDeployError for user errors."""
    return run_export(opts, progress).manifest


def run_export(opts: ExportOptions, progress: Progress | None = None) -> ExportResult:
    """:func:`export_artifact`, also saying where the artifact ended up. With ``overwrite`` the
    old artifact is replaced only by an export that passed (see output_slot). SIGINT/SIGTERM raise
    :class:`~ijepa_deploy.interrupts.Interrupted` whose message says what was left where."""
    with interrupts.handling():
        return _run_export(opts, progress or Progress())


def _run_export(opts: ExportOptions, progress: Progress) -> ExportResult:
    validate_options(opts)
    source = parse_model_source(opts.model, opts.revision)
    check_image_size(opts.image_size, peek_config(source), max(opts.batch_sizes))
    check_checkpoint_files(source)
    parity_paths = images_in(opts.parity_images) if opts.parity_images else None
    if opts.int8 and opts.calib_dir is not None:
        images_in(opts.calib_dir)  # fail before minutes of export, not after
    slot = OutputSlot.open(opts.resolved_output(), opts.overwrite)
    for stale in stale_work_dirs(slot.target):
        progress.say(f"note: {stale} is an unfinished export whose process was killed; remove it if unneeded")
    try:
        slot.create()
        manifest = _export_into(opts, source, parity_paths, slot.work, slot.target, progress)
        if manifest.status != STATUS_PASSED and slot.replacing:
            return ExportResult(manifest, slot.keep_failed() or slot.work)
        interrupts.check()  # a signal that library code swallowed still stops the export
        slot.publish()  # checks again with signals held, then swaps
    except BaseException as exc:
        where = slot.set_aside()
        if isinstance(exc, KeyboardInterrupt):
            signum = getattr(exc, "signum", None) or interrupts.received()
            raise interrupts.Interrupted(
                signum, f"export interrupted by {interrupts.signal_name(signum)}: {where}"
            ) from None
        if slot.replacing and isinstance(exc, IJepaDeployError):
            raise exc.restated(exc.subject, f"{exc.problem} ({where})") from None
        if slot.replacing and isinstance(exc, Exception):
            exc.add_note(f"ijepa-export: {where}")
        raise
    signum = interrupts.received()
    if signum:  # it came during the swap, which was let finish: the new artifact is in place
        raise interrupts.Interrupted(
            signum,
            f"export interrupted by {interrupts.signal_name(signum)} as it "
            f"finished: {slot.target} holds the new export, which passed every check",
        )
    return ExportResult(manifest, slot.target, replaced=slot.replacing)


def _export_into(opts: ExportOptions, source, parity_paths, out: Path, target: Path, progress: Progress) -> Manifest:
    """The export itself, writing into ``out`` (``target`` is where it will live). Eager PyTorch runs
    once, for the saved reference outputs, and is freed before any graph is checked; every check
    after that compares with the saved outputs and holds one engine at a time."""
    if opts.threads:
        import torch

        torch.set_num_threads(opts.threads)

    with progress.step("load", f"{opts.model} ({opts.task})"):
        loaded = load_model(source, opts.task, seed=opts.seed)
    check_image_size(opts.image_size, loaded.info, max(opts.batch_sizes))  # hub checkpoints: known only now
    spec = spec_for(loaded, opts.image_size)
    preprocess = loaded.preprocess
    if opts.image_size and opts.image_size != preprocess.height:
        preprocess = preprocess.with_size(opts.image_size, opts.image_size)
    manifest = _new_manifest(opts, loaded, spec, preprocess)
    manifest.write(out)
    run = ExportRun(opts, out, target, spec, manifest, progress)

    with progress.step("export", f"ONNX opset {opts.opset}, dynamic batch 1..{opts.max_batch} -> {out}"):
        files = OnnxFromModel(
            loaded, out, spec, opset=opts.opset, image_size=opts.image_size, max_batch=opts.max_batch
        )()
    with progress.step("validate", "graph against the export spec, checksums"):
        graph = record_graph(out, manifest, spec, "fp32", files, "fp32")
        manifest.versions["opset"] = graph.opset
        manifest.write(out)
    count = max(opts.retrieval_images, max(opts.batch_sizes))
    with progress.step("reference", f"eager PyTorch fp32 on {count} photos, saved as {REFERENCE_FILE}"):
        reference = ReferenceFromModel(loaded, spec, preprocess, count, max(opts.batch_sizes), parity_paths)()
        reference.save(out / REFERENCE_FILE)
        manifest.record_file(out, REFERENCE_FILE, role=REFERENCE_ROLE)
        manifest.write(out)
    loaded.model = None  # the reference is saved: free eager (4 GB for ViT-g) before any engine loads
    release_memory()

    pixels = reference.pixels(Preprocessor(preprocess))
    parity = GraphParity(run, ReferenceParity(reference, pixels, opts.retrieval_k))
    parity.all_backends("fp32", "fp32")
    for variant, precision in precision_steps(run, reference, pixels, parity):
        parity.all_backends(variant, precision)
        release_memory()
    if gpu_execution_providers():
        onnxruntime_gpu_step(run, parity.check)
    manifest.settle_status()
    _record_costs(manifest, progress, out)
    if opts.engines and (opts.fp16 or opts.int8):
        engine_step(run, parity.check)
        _record_costs(manifest, progress, out)
    return manifest


def _record_costs(manifest: Manifest, progress: Progress, out: Path) -> None:
    manifest.model.export_peak_rss_gib = _peak_rss_with_children()
    manifest.model.export_seconds = dict(progress.timings)
    manifest.write(out)


def _new_manifest(opts: ExportOptions, loaded, spec, preprocess) -> Manifest:
    """The artifact's manifest before any graph exists (status ``exporting``)."""
    export_size = spec.inputs[0].shape[2]
    model_info = ModelInfo.from_dict(
        {
            **loaded.info,
            "export_image_size": export_size,
            "position_embeddings": "native"
            if export_size == loaded.info["image_size"]
            else f"bicubic-interpolated at export from {loaded.info['image_size']} px",
        }
    )
    manifest = Manifest(
        model=model_info,
        task=opts.task,
        io=spec,
        preprocessing=preprocess,
        batch=BatchRange(min=1, max=opts.max_batch),
        id2label=loaded.id2label,
        versions=versions(),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        status=STATUS_EXPORTING,
    )
    if loaded.info["weights_random"]:
        manifest.notes.append("Weights are seeded random values from a preset, not a trained checkpoint.")
    return manifest


def _peak_rss_with_children() -> float:
    """Peak RSS of this process or of any precision step it ran in a child process."""
    return round(peak_rss_with_children_gib(), 2)
