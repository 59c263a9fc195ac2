"""Calibration step: which images (``CalibrationImages``), streamed in small batches
(``ImageCalibrationReader``), and one pass of the fp32 graph over them (``calibrate``) whose
activation ranges both INT8 graphs are quantized from, so the expensive part is never repeated."""

from __future__ import annotations

import gc
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import InputError
from ijepa_deploy.exporters.precision import onnx_files
from ijepa_deploy.exporters.precision.onnx_files import _onnx, clear_graph, graph_bytes, quiet_ort_logs
from ijepa_deploy.memory import peak_rss_gib
from ijepa_deploy.runtime.photos import bundled_images, images_in, photo_variant
from ijepa_deploy.runtime.preprocess import open_image

QUANTIZED_OPS = ("MatMul", "Gemm", "Conv")
CALIB_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_CALIB_COUNT = 64
DEFAULT_CALIB_BATCH = 4
FALLBACK_SOURCE = "bundled sample photos + deterministic mirrored/rotated/cropped variants (no --calib-dir)"
FALLBACK_WARNING = (
    "WARNING: no --calib-dir given: INT8 is calibrated on the {n} bundled sample photos and their "
    "mirrored/rotated/cropped variants ({count} images). These are NOT representative of your data; "
    "activation ranges (and so INT8 accuracy) may be off on real inputs. Pass --calib-dir DIR with a few "
    "hundred images from your domain for a deployable INT8 graph."
)


@dataclass
class CalibrationImages:
    """Which images calibrate INT8: files from ``--calib-dir`` (a seeded sample of ``count`` when
    there are more, so a class-per-folder tree is not cut at the first classes), or without one
    the bundled photos and their deterministic variants. Holds paths only, never pixels."""

    directory: Path | None = None
    count: int = DEFAULT_CALIB_COUNT
    seed: int = 0
    # Without a directory: where in the bundled photo sequence calibration starts. The export's
    # reference photos are the start of the same sequence, so calibration skips them and the INT8
    # target is measured on photos calibration never saw.
    offset: int = 0

    def __post_init__(self):
        if int(self.count) < 1:
            raise InputError("--calib-count", f"{self.count}", "a positive number of images, e.g. 64")
        self.count = int(self.count)

    @property
    def fallback(self) -> bool:
        return self.directory is None

    def paths(self) -> list[Path]:
        if self.fallback:
            return bundled_images()
        found = images_in(Path(self.directory))
        if len(found) > self.count:
            rng = np.random.default_rng(self.seed)
            picked = sorted(rng.choice(len(found), size=self.count, replace=False))
            found = [found[i] for i in picked]
        return found

    def describe(self) -> dict:
        files = self.paths()
        if self.fallback:
            return {
                "source": FALLBACK_SOURCE,
                "files": [p.name for p in files],
                "count": self.count,
                "representative": False,
            }
        return {
            "source": str(Path(self.directory).resolve()),
            "count": min(self.count, len(files)),
            "files_sampled": len(files),
            "representative": True,
        }

    def warning(self) -> str | None:
        if not self.fallback:
            return None
        return FALLBACK_WARNING.format(n=len(self.paths()), count=self.count)


class ImageCalibrationReader:
    """An ONNX Runtime ``CalibrationDataReader`` that decodes and preprocesses images only when a
    batch is asked for: at most one batch of pixels exists at a time, whatever ``count`` is.

    ``batches_served``/``images_served``/``max_batch_bytes`` record what was streamed."""

    def __init__(
        self,
        images: CalibrationImages,
        preprocess,
        batch_size: int = DEFAULT_CALIB_BATCH,
        input_name: str = "pixel_values",
    ):
        if int(batch_size) < 1:
            raise InputError("calibration batch size", f"{batch_size}", "a positive integer")
        self.images = images
        self.preprocess = preprocess
        self.batch_size = int(batch_size)
        self.input_name = input_name
        self._paths = images.paths()
        self.count = images.count if images.fallback else min(images.count, len(self._paths))
        self.rewind()

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def rewind(self) -> None:
        self._next = 0
        self.batches_served = 0
        self.images_served = 0
        self.max_batch_bytes = 0
        self.names: list[str] = []

    def _image(self, i: int):
        if self.images.fallback:
            return photo_variant(self._paths, i + self.images.offset)
        path = self._paths[i]
        return open_image(path), path.name

    def get_next(self) -> dict | None:
        if self._next >= self.count:
            return None
        stop = min(self._next + self.batch_size, self.count)
        images, names = zip(*(self._image(i) for i in range(self._next, stop)))
        pixels = self.preprocess(list(images))
        self._next = stop
        self.batches_served += 1
        self.images_served += len(pixels)
        self.max_batch_bytes = max(self.max_batch_bytes, pixels.nbytes)
        self.names.extend(names)
        return {self.input_name: pixels}

    def __iter__(self):
        return self

    def __next__(self):
        batch = self.get_next()
        if batch is None:
            raise StopIteration
        return batch


class _OneBatch:
    """Feeds a single batch to ``calibrator.collect_data`` (so histogram calibrators, which keep
    every output of one collect_data call, hold one batch of activations at a time)."""

    def __init__(self, batch: dict):
        self.batch = batch

    def get_next(self):
        batch, self.batch = self.batch, None
        return batch


def _method(name: str):
    from onnxruntime.quantization import CalibrationMethod

    table = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if name not in table:
        raise InputError("--calib-method", f"unknown method {name!r}", f"one of {', '.join(CALIB_METHODS)}")
    return table[name]


@dataclass
class Calibration:
    """The result of one calibration pass: ONNX Runtime's range cache plus what it cost."""

    prepared: Path  # prepare_for_quantization output the ranges belong to
    cache: Path  # JSON written by onnxruntime.quantization.save_tensors_data
    method: str
    record: dict = field(default_factory=dict)


def _scratch_prefix(workdir: Path) -> str:
    return f".{Path(workdir).name.lstrip('.')}."


def scratch_path(source: Path, workdir: Path, name: str) -> Path:
    """Where a temporary graph derived from ``source`` is written: beside ``source`` (hidden, named
    after ``workdir`` so :func:`cleanup` finds it) when ``source`` keeps its weights in external
    data, whose relative location must still resolve (onnx refuses hard-linked data files and paths
    outside the model's directory, and copying would duplicate the weights); else in ``workdir``."""
    onnx = _onnx()
    source, workdir = Path(source), Path(workdir)
    model = onnx.load(str(source), load_external_data=False)
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        return source.parent / f"{_scratch_prefix(workdir)}{name}"
    return workdir / name


def prepare_for_quantization(source: Path, workdir: Path) -> Path:
    """The fp32 graph with fresh types/shapes for the quantizer.

    The dynamo export's ``value_info`` can be stale (the classifier Gemm's weight shape), which
    breaks ONNX shape inference inside the quantizer; ``quant_pre_process`` fixes that but costs
    several times the model in RAM because symbolic shape inference copies the loaded model. Here:
    drop ``value_info`` and run ONNX shape inference file-to-file, so memory does not scale with the
    weights. A graph with external data is written *beside* its source (hidden name, removed by
    :func:`cleanup`) so its relative ``model.onnx.data`` location still resolves: onnx refuses
    hard-linked data files and paths outside the model's directory, and copying would duplicate the
    weights."""
    onnx = _onnx()
    out = scratch_path(source, workdir, "prepared.onnx")
    model = onnx.load(str(source), load_external_data=False)
    clear_graph(out)
    del model.graph.value_info[:]
    onnx.save_model(model, str(out))
    del model
    onnx.shape_inference.infer_shapes_path(str(out), str(out))
    return out


def calibrate(source: Path, reader: ImageCalibrationReader, method: str, workdir: Path, progress=None) -> Calibration:
    """Run the fp32 graph over ``reader`` once and store activation ranges for every input/output of
    MatMul/Gemm/Conv (ranges are stored asymmetric; each INT8 form symmetrises as it needs)."""
    from onnxruntime.quantization import create_calibrator, save_tensors_data

    workdir = Path(workdir)
    start = time.perf_counter()
    prepared = prepare_for_quantization(source, workdir)
    large = graph_bytes(prepared) > onnx_files.EXTERNAL_DATA_THRESHOLD
    # No CalibMaxIntermediateOutputs: in ORT 1.31 reaching that limit *drops* the collected outputs
    # instead of merging them. One collect_data call per batch bounds memory the same way: MinMax
    # merges its ranges and histogram calibrators merge their histograms at the end of each call.
    extra = {}
    with quiet_ort_logs():
        calibrator = create_calibrator(
            prepared,
            list(QUANTIZED_OPS),
            augmented_model_path=str(workdir / "augmented.onnx"),
            calibrate_method=_method(method),
            use_external_data_format=large,
            extra_options=extra,
        )
        # The calibrator keeps the loaded graph (weights included) next to the session that also
        # holds them; only the graph structure is used from here on.
        for init in calibrator.model.graph.initializer:
            init.ClearField("raw_data")
        gc.collect()
        reader.rewind()
        total = len(reader)
        for i, batch in enumerate(reader, 1):
            calibrator.collect_data(_OneBatch(batch))
            if progress and (i == total or i % 8 == 0):
                progress(f"{method} {reader.images_served}/{reader.count} images")
        ranges = calibrator.compute_data()
    del calibrator
    gc.collect()
    cache = workdir / "calibration.json"
    save_tensors_data(ranges, cache)
    for p in workdir.glob("augmented.onnx*"):  # the augmented graph and its data file (a full weight copy)
        p.unlink()
    record = {
        "method": method,
        "images": reader.images_served,
        "batches": reader.batches_served,
        "batch_size": reader.batch_size,
        "max_batch_bytes": reader.max_batch_bytes,
        "tensors": len(ranges.data) if hasattr(ranges, "data") else None,
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_gib": round(peak_rss_gib(), 2),
        **reader.images.describe(),
    }
    return Calibration(prepared=prepared, cache=cache, method=method, record=record)


@dataclass
class Calibrate:
    """Loader-style callable around :func:`calibrate` (so it can run in a child process)."""

    source: Path
    reader: ImageCalibrationReader
    method: str
    workdir: Path
    verbose: bool = False

    def __call__(self) -> Calibration:
        import sys

        say = (lambda s: print(f"[calibrate] {s}", file=sys.stderr, flush=True)) if self.verbose else None
        return calibrate(self.source, self.reader, self.method, self.workdir, say)


def warn_fallback(images: CalibrationImages, say=None, quiet: bool = False) -> str | None:
    """The loud no-calibration-data message: a banner through ``say`` (stderr), or a UserWarning
    when progress output is ``quiet`` (library use). Returns the text, None with a --calib-dir."""
    text = images.warning()
    if text:
        if quiet or say is None:
            warnings.warn(text, UserWarning, stacklevel=2)
        else:
            banner = "!" * 100
            say(f"{banner}\n{text}\n{banner}")
    return text


def cleanup(workdir: Path | None, source: Path | None = None) -> None:
    """Remove a calibration ``workdir`` and the scratch graphs written beside ``source``."""
    if workdir is None:
        return
    workdir = Path(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    if source is not None:
        for leftover in Path(source).parent.glob(f"{_scratch_prefix(workdir)}*"):
            leftover.unlink(missing_ok=True)
