"""Each graph of the artifact as it is written: validated against the export spec, its files
recorded with their checksums (:func:`record_graph`), and the precision graphs made one after the
other (:func:`precision_steps`), each yielded for its parity check before the next is made."""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.manifest import Manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import GraphRecord

# int8 is OpenVINO's int8 graph too: it runs the S8S8 graph faster than int8-cpu (benchmarks/README.md).
GRAPH_TARGETS = {"fp32": ["onnxruntime", "openvino", "tensorrt"], "fp16": ["tensorrt", "onnxruntime-cuda"],
                 "int8": ["tensorrt", "onnxruntime", "openvino"], "int8-cpu": ["onnxruntime-cpu"]}


def record_graph(out: Path, manifest: Manifest, spec, variant: str, files: list[Path], precision: str,
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


def precision_steps(opts, out: Path, spec, manifest: Manifest, progress: Progress):
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
            record_graph(out, manifest, spec, "fp16", files, "fp16", tool=loader.settings,
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
                    record_graph(out, manifest, spec, variant, files, "int8", tool=loader.settings,
                                  calibration=calibration.record,
                                  quantization=prec.quantization_summary(files[0]),
                                  seconds=round(time.perf_counter() - start, 2), peak_rss_gib=peak,
                                  separate_process=isolate)
                if variant == "int8-cpu":
                    prec.cleanup(workdir, source)  # before the last parity: nothing else needs the ranges
                yield variant, "int8"
        finally:
            prec.cleanup(workdir, source)
