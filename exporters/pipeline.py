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
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ijepa_deploy import __version__
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.exporters.graph_parity import GraphParity
from ijepa_deploy.exporters.models import load_model, parse_model_source
from ijepa_deploy.exporters.onnx_export import DEFAULT_OPSET
from ijepa_deploy.exporters.precision import CALIB_METHODS, DEFAULT_CALIB_COUNT
from ijepa_deploy.manifest import STATUS_EXPORTING, STATUS_FAILED, STATUS_PARTIAL, STATUS_PASSED, Manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import BatchRange, GraphRecord, ModelInfo
from ijepa_deploy.runtime.acceptance.parity import DEFAULT_BATCH_SIZES
from ijepa_deploy.runtime.acceptance.retrieval import DEFAULT_IMAGES, DEFAULT_K
from ijepa_deploy.spec import check_task, primary_output


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
    calib_batch: int | None = None  # None: 4, or 1 for graphs over 1 GB (see _precision_steps)
    retrieval_images: int = DEFAULT_IMAGES
    retrieval_k: int = DEFAULT_K
    engines: bool = True
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
    for dist in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime", "openvino", "numpy", "pillow"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def validate_options(opts: ExportOptions) -> None:
    check_task(opts.task)
    if not opts.batch_sizes or min(opts.batch_sizes) < 1:
        raise IJepaDeployError("--batch-sizes", f"{list(opts.batch_sizes)}", "positive integers, e.g. 1 2 5")
    if max(opts.batch_sizes) > opts.max_batch:
        raise IJepaDeployError("--batch-sizes", f"{max(opts.batch_sizes)} exceeds --max-batch {opts.max_batch}",
                               "parity batch sizes within the artifact's batch range")
    if opts.image_size is not None and opts.image_size < 14:  # the rest: export_checks.check_image_size
        raise IJepaDeployError("--image-size", f"{opts.image_size}", "a resolution of at least one patch")
    from ijepa_deploy.exporters.export_checks import check_opset

    check_opset(opts.opset)
    if not opts.int8:
        defaults = ExportOptions(model=opts.model)
        for flag, name in (("--calib-dir", "calib_dir"), ("--calib-count", "calib_count"),
                           ("--calib-method", "calib_method")):
            if getattr(opts, name) != getattr(defaults, name):
                raise IJepaDeployError(flag, "given without --int8", "--int8 (calibration only applies to INT8)")
    if opts.calib_method not in CALIB_METHODS:
        raise IJepaDeployError("--calib-method", f"unknown method {opts.calib_method!r}",
                               f"one of {', '.join(CALIB_METHODS)}")
    if opts.calib_count < 1:
        raise IJepaDeployError("--calib-count", f"{opts.calib_count}",
                               f"a positive number of images, e.g. {DEFAULT_CALIB_COUNT}")
    if opts.calib_batch is not None and not 1 <= opts.calib_batch <= opts.max_batch:
        raise IJepaDeployError("calibration batch", f"{opts.calib_batch}", f"1..--max-batch ({opts.max_batch})")
    if opts.retrieval_images <= opts.retrieval_k:
        raise IJepaDeployError("neighbour check", f"{opts.retrieval_images} images for k={opts.retrieval_k}",
                               "more images than k")


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
    from ijepa_deploy import interrupts

    with interrupts.handling():
        return _run_export(opts, progress or Progress())


def _run_export(opts: ExportOptions, progress: Progress) -> ExportResult:
    from ijepa_deploy import interrupts
    from ijepa_deploy.exporters.export_checks import check_checkpoint_files, check_image_size, peek_config
    from ijepa_deploy.exporters.output_slot import OutputSlot, stale_work_dirs
    from ijepa_deploy.runtime.photos import images_in

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
            raise interrupts.Interrupted(signum, f"export interrupted by {interrupts.signal_name(signum)}: "
                                         f"{where}") from None
        if slot.replacing and isinstance(exc, IJepaDeployError):
            raise IJepaDeployError(exc.subject, f"{exc.problem} ({where})", exc.expected) from None
        if slot.replacing and isinstance(exc, Exception):
            exc.add_note(f"ijepa-export: {where}")
        raise
    signum = interrupts.received()
    if signum:  # it came during the swap, which was let finish: the new artifact is in place
        raise interrupts.Interrupted(signum, f"export interrupted by {interrupts.signal_name(signum)} as it "
                                     f"finished: {slot.target} holds the new export, which passed every check")
    return ExportResult(manifest, slot.target, replaced=slot.replacing)


def _export_into(opts: ExportOptions, source, parity_paths, out: Path, target: Path,
                 progress: Progress) -> Manifest:
    """The export itself, writing into ``out`` (``target`` is where it will live)."""
    from ijepa_deploy.exporters.engine_parity import gpu_parity_reference, onnxruntime_gpu_step
    from ijepa_deploy.exporters.export_checks import check_image_size
    from ijepa_deploy.exporters.onnx_export import OnnxFromModel, spec_for
    from ijepa_deploy.exporters.reference import TorchRunner
    from ijepa_deploy.runtime.photos import photo_batch
    from ijepa_deploy.runtime.preprocess import Preprocessor

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

    with progress.step("export", f"ONNX opset {opts.opset}, dynamic batch 1..{opts.max_batch} -> {out}"):
        files = OnnxFromModel(loaded, out, spec, opset=opts.opset, image_size=opts.image_size,
                              max_batch=opts.max_batch)()
    with progress.step("validate", "graph against the export spec, checksums"):
        graph = _record_graph(out, manifest, spec, "fp32", files, "fp32")
        manifest.versions["opset"] = graph.opset
        manifest.write(out)

    precision_graphs = opts.fp16 or opts.int8
    with progress.step("parity", f"eager PyTorch vs ONNX Runtime at batch sizes {list(opts.batch_sizes)}"):
        pixels, names = photo_batch(Preprocessor(preprocess), max(opts.batch_sizes), parity_paths)
        reference = TorchRunner(loaded, spec, 1, opts.max_batch)
        retrieval = None
        if precision_graphs:
            from ijepa_deploy.runtime.acceptance.retrieval import RetrievalCheck

            r_pixels, r_names = photo_batch(Preprocessor(preprocess), opts.retrieval_images, parity_paths)
            retrieval = RetrievalCheck(reference, r_pixels, r_names, primary_output(opts.task), opts.retrieval_k)
        parity = GraphParity(out, spec, manifest, reference, pixels, names, retrieval, progress,
                             tuple(opts.batch_sizes), opts.max_batch, opts.threads)
        reference_outputs = parity.onnxruntime("fp32", "fp32").reference_outputs
    parity.openvino("fp32", "fp32", reference_outputs)

    gpu_parity = gpu_parity_reference(manifest, reference, parity_paths, tuple(opts.batch_sizes),
                                      opts.retrieval_images, opts.retrieval_k, progress)
    if precision_graphs:
        # Every reference output is computed now; free the eager model (4 GB for ViT-g) before
        # the precision tools load their own copies of the graph.
        loaded.model = None
        from ijepa_deploy.exporters.precision import release_memory

        release_memory()
        for variant, parity_precision in _precision_steps(opts, out, spec, manifest, progress):
            graph = manifest.graphs[variant]
            with progress.step(f"parity {variant}", f"eager PyTorch vs ONNX Runtime ({graph.file})"):
                parity.onnxruntime(variant, parity_precision, reference_outputs)
            parity.openvino(variant, parity_precision, reference_outputs)
            release_memory()

    if gpu_parity is not None:
        onnxruntime_gpu_step(out, manifest, gpu_parity, tuple(opts.batch_sizes), progress)
    manifest.settle_status()
    manifest.model.export_peak_rss_gib = _peak_rss_with_children()
    manifest.model.export_seconds = dict(progress.timings)
    manifest.write(out)
    if opts.engines and precision_graphs:
        _engine_step(opts, out, manifest, progress, target)
        manifest.model.export_peak_rss_gib = _peak_rss_with_children()
        manifest.model.export_seconds = dict(progress.timings)
        manifest.write(out)
    return manifest



def _new_manifest(opts: ExportOptions, loaded, spec, preprocess) -> Manifest:
    """The artifact's manifest before any graph exists (status ``exporting``)."""
    export_size = spec.inputs[0].shape[2]
    model_info = ModelInfo.from_dict({
        **loaded.info, "export_image_size": export_size,
        "position_embeddings": "native" if export_size == loaded.info["image_size"]
        else f"bicubic-interpolated at export from {loaded.info['image_size']} px"})
    manifest = Manifest(
        model=model_info, task=opts.task, io=spec, preprocessing=preprocess,
        batch=BatchRange(min=1, max=opts.max_batch), id2label=loaded.id2label, versions=versions(),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), status=STATUS_EXPORTING,
    )
    if loaded.info["weights_random"]:
        manifest.notes.append("Weights are seeded random values from a preset, not a trained checkpoint.")
    return manifest

def _peak_rss_with_children() -> float:
    """Peak RSS of this process or of any precision step it ran in a child process."""
    from ijepa_deploy.memory import peak_rss_with_children_gib

    return round(peak_rss_with_children_gib(), 2)


# int8 is OpenVINO's int8 graph too: it runs the S8S8 graph faster than int8-cpu (benchmarks/README.md).
GRAPH_TARGETS = {"fp32": ["onnxruntime", "openvino", "tensorrt"], "fp16": ["tensorrt", "onnxruntime-cuda"],
                 "int8": ["tensorrt", "onnxruntime", "openvino"], "int8-cpu": ["onnxruntime-cpu"]}


def _record_graph(out: Path, manifest: Manifest, spec, variant: str, files: list[Path], precision: str,
                  **provenance) -> GraphRecord:
    """Validate a written graph against the spec, record its files and its GraphRecord, write."""
    from ijepa_deploy.exporters.validate import check_graph

    summary = check_graph(files[0], spec)
    for f in files:
        manifest.record_file(out, f.name, role="onnx-graph" if f.suffix == ".onnx" else "onnx-external-data")
    graph = GraphRecord(file=files[0].name, data_files=[f.name for f in files[1:]], precision=precision,
                        targets=GRAPH_TARGETS[variant], opset=summary["opset"], nodes=summary["nodes"],
                        ops=summary["ops"], **provenance)
    manifest.graphs[variant] = graph
    manifest.write(out)
    return graph


def _precision_steps(opts: ExportOptions, out: Path, spec, manifest: Manifest, progress: Progress):
    """Write, validate and record each requested precision graph; yields (variant, parity precision)
    after each so its parity runs before the next graph is made. For big graphs every tool runs in
    its own process (see precision.should_isolate), so memory peaks do not add up."""
    import tempfile
    import time

    from ijepa_deploy.exporters import precision as prec
    from ijepa_deploy.runtime.preprocess import Preprocessor

    source = out / manifest.graphs["fp32"].file
    isolate = prec.should_isolate(source)
    if opts.fp16:
        with progress.step("fp16", "mixed precision: fp32 I/O, LayerNormalization in fp32"):
            start = time.perf_counter()
            files, loader, peak = prec.run_step(prec.Fp16FromOnnx(source, out), isolate)
            _record_graph(out, manifest, spec, "fp16", files, "fp16", tool=loader.settings,
                          seconds=round(time.perf_counter() - start, 2), peak_rss_gib=peak,
                          separate_process=isolate)
        yield "fp16", "fp16"
    if opts.int8:
        images = prec.CalibrationImages(opts.calib_dir, opts.calib_count, seed=opts.seed)
        warning = prec.warn_fallback(images, say=progress.say, quiet=progress.quiet)
        if warning:
            manifest.notes.append(warning.replace("WARNING: ", "INT8 calibration: "))
        workdir = Path(tempfile.mkdtemp(prefix=".calib-", dir=out))
        try:
            # ORT's calibration session keeps every activation of a batch alive (measured on vitb16:
            # peak 1.1 / 2.3 / 3.9 GiB at batch 1 / 4 / 8), so checkpoint-sized graphs go one image
            # at a time; CPU throughput is about the same.
            batch = opts.calib_batch or (1 if prec.graph_bytes(source) > 1_000_000_000 else 4)
            reader = prec.ImageCalibrationReader(images, Preprocessor(manifest.preprocessing),
                                                 min(batch, opts.max_batch), spec.input_names[0])
            with progress.step("calibrate", f"{opts.calib_method} over {reader.count} images in batches of "
                               f"{reader.batch_size} ({images.describe()['source']})"):
                job = prec.Calibrate(source, reader, opts.calib_method, workdir, verbose=not progress.quiet)
                calibration, _, peak = prec.run_step(job, isolate)
                calibration.record.update(peak_rss_gib=peak, separate_process=isolate)
            for variant, loader, detail in (
                ("int8", prec.Int8FromOnnx(source, out, calibration=calibration),
                 "Q/DQ for TensorRT: S8 symmetric, MatMul/Gemm/Conv inputs"),
                ("int8-cpu", prec.Int8CpuFromOnnx(calibration, out),
                 "Q/DQ for ONNX Runtime CPU: U8 activations, S8 weights"),
            ):
                with progress.step(variant, detail):
                    start = time.perf_counter()
                    files, loader, peak = prec.run_step(loader, isolate)
                    _record_graph(out, manifest, spec, variant, files, "int8", tool=loader.settings,
                                  calibration=calibration.record,
                                  quantization=prec.quantization_summary(files[0]),
                                  seconds=round(time.perf_counter() - start, 2), peak_rss_gib=peak,
                                  separate_process=isolate)
                if variant == "int8-cpu":
                    prec.cleanup(workdir, source)  # before the last parity: nothing else needs the ranges
                yield variant, "int8"
        finally:
            prec.cleanup(workdir, source)


def engine_variants(manifest: Manifest) -> list[str]:
    """Graphs a TensorRT engine is built from: the precision graphs meant for TensorRT."""
    return [v for v in ("fp16", "int8") if v in manifest.graphs] or ["fp32"]


def _engine_step(opts: ExportOptions, out: Path, manifest: Manifest, progress: Progress,
                 target: Path | None = None) -> None:
    from ijepa_deploy.runtime.photos import images_in

    variants = [v for v in engine_variants(manifest) if manifest.graphs[v].status == STATUS_PASSED]
    try:
        from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines, tensorrt_status
    except ImportError as exc:  # the module is part of the package; a broken install lands here
        available, reason = False, f"the TensorRT build module cannot be imported ({exc})"
    else:
        available, reason = tensorrt_status()
    command = f"ijepa-build {target or out} " + " ".join(f"--variant {v}" for v in variants)
    if not available:
        message = f"TensorRT engine step skipped: {reason}; build on the GPU host with: {command}"
        progress.say(message)
        manifest.notes.append(message)
        return
    if not variants or manifest.status == STATUS_FAILED:
        message = f"TensorRT engine step skipped: a parity check failed; fix it, re-export, then: {command}"
        progress.say(message)
        manifest.notes.append(message)
        return
    parity_paths = images_in(opts.parity_images) if opts.parity_images else None
    try:
        records = build_engines(out, manifest, EngineOptions(variants=tuple(variants), max_batch=opts.max_batch),
                                progress, parity_paths=parity_paths)
    except IJepaDeployError as exc:
        manifest.notes.append(f"TensorRT engine build failed: {exc.format()}")
        manifest.status = STATUS_PARTIAL if manifest.status != STATUS_FAILED else STATUS_FAILED
        progress.say(f"[tensorrt] FAILED: {exc.format()}")
        return
    failed = [r.file for r in records if r.status != STATUS_PASSED]
    if failed:  # an engine that ships unchecked or wrong fails the export, like a graph would
        manifest.notes.append(f"TensorRT engine parity check failed: {', '.join(failed)}")
    manifest.settle_status()
    manifest.write(out)
