"""Each graph of the artifact as it is written: validated against the export spec, its files
recorded with their checksums (:func:`record_graph`), and the precision graphs made one after the
other (:func:`precision_steps`), each yielded for its parity check before the next is made."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ijepa_deploy.exporters import precision as prec
from ijepa_deploy.exporters.export_run import ExportRun
from ijepa_deploy.exporters.graph_parity import GraphParity
from ijepa_deploy.exporters.validate import check_graph
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.records import GraphRecord
from ijepa_deploy.runtime.acceptance.reference import ReferenceOutputs
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.spec import primary_output

FP16_QDQ_MIN_OPSET = 19  # QuantizeLinear / DequantizeLinear take float16 from opset 19

# int8 is OpenVINO's int8 graph too: it runs the S8S8 graph faster than int8-cpu (benchmarks/README.md).
GRAPH_TARGETS = {
    "fp32": ["onnxruntime", "openvino", "tensorrt"],
    "fp16": ["tensorrt", "onnxruntime-cuda"],
    "int8": ["tensorrt", "onnxruntime", "openvino"],
    "int8-cpu": ["onnxruntime-cpu"],
}


def record_graph(
    out: Path, manifest: Manifest, spec, variant: str, files: list[Path], precision: str, **provenance
) -> GraphRecord:
    """Validate a written graph against the spec, record its files and its GraphRecord, write."""
    summary = check_graph(files[0], spec)
    for f in files:
        manifest.record_file(out, f.name, role="onnx-graph" if f.suffix == ".onnx" else "onnx-external-data")
    graph = GraphRecord(
        file=files[0].name,
        data_files=[f.name for f in files[1:]],
        precision=precision,
        targets=GRAPH_TARGETS[variant],
        opset=summary["opset"],
        nodes=summary["nodes"],
        ops=summary["ops"],
        **provenance,
    )
    manifest.graphs[variant] = graph
    manifest.write(out)
    return graph


def precision_steps(run: ExportRun, reference: ReferenceOutputs, pixels: np.ndarray, parity: GraphParity):
    """Write, validate and record each requested precision graph; yields (variant, parity precision)
    after each so its parity runs before the next graph is made. For big graphs every tool runs in
    its own process (see precision.should_isolate), so memory peaks do not add up."""
    opts, out, spec, manifest, progress = run.opts, run.out, run.spec, run.manifest, run.progress
    source = out / manifest.graphs["fp32"].file
    isolate = prec.should_isolate(source)
    if opts.fp16:
        with progress.step("fp16", "mixed precision: fp32 I/O, LayerNormalization in fp32"):
            start = time.perf_counter()
            files, loader, peak = prec.run_step(prec.Fp16FromOnnx(source, out), isolate)
            record_graph(
                out,
                manifest,
                spec,
                "fp16",
                files,
                "fp16",
                tool=loader.settings,
                seconds=round(time.perf_counter() - start, 2),
                peak_rss_gib=peak,
                separate_process=isolate,
            )
        yield "fp16", "fp16"
    if opts.int8:
        yield from _int8_steps(run, reference, pixels, parity, isolate)


def _int8_steps(run: ExportRun, reference: ReferenceOutputs, pixels: np.ndarray, parity: GraphParity, isolate: bool):
    """Smooth outlier channels into the weights, calibrate, find the INT8 placement that meets
    ``--int8-target-cosine`` on the held-out parity photos, then write both INT8 graphs with it."""
    opts, out, manifest, progress = run.opts, run.out, run.manifest, run.progress
    source = out / manifest.graphs["fp32"].file
    images = prec.CalibrationImages(opts.calib_dir, opts.calib_count, seed=opts.seed, offset=len(reference.names))
    warning = prec.warn_fallback(images, say=progress.say, quiet=progress.quiet)
    if warning:
        manifest.notes.append(warning.replace("WARNING: ", "INT8 calibration: "))
    workdir = Path(tempfile.mkdtemp(prefix=".calib-", dir=out))
    verbose, tokens = not progress.quiet, (manifest.model.export_image_size // manifest.model.patch_size) ** 2
    try:
        smoothing, calibration = _smooth_and_calibrate(run, images, source, tokens, workdir, isolate, verbose)
        plan = _int8_plan(run, reference, pixels, smoothing.graph, calibration, tokens, isolate, verbose)
        parity.thresholds["int8"] = {primary_output(manifest.task): (opts.int8_target_cosine, None)}
        for variant, loader, detail in _int8_loaders(run, smoothing.graph, calibration, plan.kept):
            _write_int8_graph(run, variant, loader, detail, smoothing, calibration, plan, isolate)
            if variant == "int8-cpu":
                prec.cleanup(workdir, source)  # before the last parity: nothing else needs the ranges
            yield variant, "int8"
    finally:
        prec.cleanup(workdir, source)


def _smooth_and_calibrate(
    run: ExportRun, images, source: Path, tokens: int, workdir: Path, isolate: bool, verbose: bool
):
    """SmoothQuant the fp32 graph on the calibration images, then calibrate the smoothed graph's ranges."""
    opts, spec, manifest, progress = run.opts, run.spec, run.manifest, run.progress
    # ORT's calibration session keeps every activation of a batch alive (measured on vitb16:
    # peak 1.1 / 2.3 / 3.9 GiB at batch 1 / 4 / 8), so checkpoint-sized graphs go one image
    # at a time; CPU throughput is about the same.
    batch = opts.calib_batch or (1 if prec.graph_bytes(source) > 1_000_000_000 else 4)
    reader = prec.ImageCalibrationReader(
        images, Preprocessor(manifest.preprocessing), min(batch, opts.max_batch), spec.input_names[0]
    )
    with progress.step(
        "smooth",
        f"outlier channels of each block LayerNorm folded into the next weights "
        f"(SmoothQuant), alpha chosen on {reader.count} calibration images",
    ):
        job = prec.SmoothedFromOnnx(source, reader, tokens, workdir, opts.seed, opts.threads, verbose)
        smoothing, _, peak = prec.run_step(job, isolate)
    with progress.step(
        "calibrate",
        f"{opts.calib_method} over {reader.count} images in batches of "
        f"{reader.batch_size} ({images.describe()['source']})",
    ):
        job = prec.Calibrate(smoothing.graph, reader, opts.calib_method, workdir, verbose=verbose)
        calibration, _, peak = prec.run_step(job, isolate)
        calibration.record.update(peak_rss_gib=peak, separate_process=isolate)
    return smoothing, calibration


def _int8_loaders(run: ExportRun, smoothed: Path, calibration, kept) -> tuple:
    """(variant, loader, step detail) of the two INT8 graphs, both leaving ``kept`` nodes unquantized."""
    opts, out, manifest = run.opts, run.out, run.manifest
    fp16_base = manifest.versions.get("opset", opts.opset) >= FP16_QDQ_MIN_OPSET
    return (
        (
            "int8",
            prec.Int8FromOnnx(smoothed, out, calibration=calibration, exclude=kept, fp16_base=fp16_base),
            "Q/DQ for TensorRT and OpenVINO: S8 symmetric on MatMul/Gemm/Conv inputs, "
            + ("the rest fp16 (LayerNorm fp32)" if fp16_base else "the rest fp32 (opset < 19)"),
        ),
        (
            "int8-cpu",
            prec.Int8CpuFromOnnx(calibration, out, exclude=kept),
            "Q/DQ for ONNX Runtime CPU: U8 activations, 7-bit S8 weights",
        ),
    )


def _write_int8_graph(
    run: ExportRun, variant: str, loader, detail: str, smoothing, calibration, plan, isolate: bool
) -> None:
    """Write one INT8 graph and record it in the manifest with how it was calibrated and placed."""
    out, spec, manifest, progress = run.out, run.spec, run.manifest, run.progress
    with progress.step(variant, detail):
        start = time.perf_counter()
        files, loader, peak = prec.run_step(loader, isolate)
        record_graph(
            out,
            manifest,
            spec,
            variant,
            files,
            "int8",
            tool=loader.settings,
            calibration=calibration.record,
            quantization=prec.quantization_summary(files[0]),
            smoothing=smoothing.record,
            int8_target=plan.record,
            seconds=round(time.perf_counter() - start, 2),
            peak_rss_gib=peak,
            separate_process=isolate,
        )


def _int8_plan(
    run: ExportRun,
    reference: ReferenceOutputs,
    pixels: np.ndarray,
    graph: Path,
    calibration,
    tokens: int,
    isolate: bool,
    verbose: bool,
):
    """The search of :mod:`.precision.int8_target` on the held-out parity photos; prints its verdict."""
    opts, manifest, progress = run.opts, run.manifest, run.progress
    held_out = reference.parity_images
    output = primary_output(manifest.task)
    with progress.step(
        "int8 target",
        f"per-GEMM sensitivity on {min(opts.int8_sensitivity_images, held_out)} "
        f"held-out photos, then the fewest GEMMs kept in higher precision for min {output} cosine "
        f">= {opts.int8_target_cosine} on {held_out}",
    ):
        job = prec.Int8Search(
            graph,
            calibration,
            pixels[:held_out],
            reference.names[:held_out],
            reference.outputs[output][:held_out],
            output,
            tokens,
            opts.int8_target_cosine,
            opts.int8_sensitivity_images,
            opts.threads,
            verbose,
        )
        plan, _, peak = prec.run_step(job, isolate)
        plan.record.update(peak_rss_gib=peak, separate_process=isolate)
    record = plan.record
    progress.say(
        f"[int8 target] most sensitive GEMMs (min {output} cosine with only that GEMM in INT8):\n  "
        + "\n  ".join(plan.worst)
    )
    kept = ", ".join(record["kept"]) or "none"
    progress.say(
        f"[int8 target] kept in higher precision: {kept}; {record['int8_gemms']} of {record['gemms']} "
        f"GEMMs and {100 * record['int8_flop_share']:.1f} % of GEMM FLOPs in INT8"
    )
    return plan
