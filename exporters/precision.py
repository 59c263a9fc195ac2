"""fp16 and INT8 graphs derived from the artifact's fp32 ONNX graph.

TensorRT 11 builds strongly typed networks only (no FP16/INT8 builder flags, no calibrators), so
an engine's precision is whatever the ONNX graph says. This module writes those graphs:

* ``Fp16FromOnnx``: mixed precision with ONNX Runtime's float16 tool (``onnxconverter_common``
  fails on these exports). Inputs/outputs stay float32; ``LayerNormalization`` stays float32
  (its mean/variance reduction over 1280-1408 channels is where fp16 loses accuracy first;
  TensorRT also keeps normalization in fp32 when the graph says so). Softmax is converted: on
  the presets it made no measurable difference and an fp32 Softmax would put Casts inside the
  attention pattern TensorRT fuses into its fp16 MHA kernel.
* ``Int8FromOnnx``: explicit Q/DQ for TensorRT: signed int8 with zero point 0 for activations
  (per tensor) and weights (per output channel), only on the inputs of MatMul/Gemm/Conv (layer
  norm, softmax, GELU and residual adds stay float), biases left float (TensorRT has no int32
  DequantizeLinear). Calibrated on real images streamed in small batches.
* ``Int8CpuFromOnnx``: the form ONNX Runtime runs fastest on x86 CPUs: the same static Q/DQ
  placement with *unsigned* asymmetric activations (U8S8 uses the VNNI/AVX2 u8*s8 kernels; S8S8
  falls back to slow paths) from the same calibration ranges. Measured on random:vitb16 it is as
  fast as ``quantize_dynamic`` (both ~2x fp32), and unlike dynamic quantization an image's
  embedding does not depend on the other images in its batch (dynamic: max abs 1e-2 between bs1
  and bs8 for the same image; static: 1e-6).

Calibration runs once per export (``calibrate``) and both INT8 graphs are quantized from its
ranges through ONNX Runtime's calibration cache, so the expensive part is never repeated.

Each loader is a small callable returning the written paths: the ``.onnx`` first, then its one
external data file when the weights exceed ``EXTERNAL_DATA_THRESHOLD``.
"""

from __future__ import annotations

import collections
import gc
import inspect
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.exporters.onnx_export import EXTERNAL_DATA_THRESHOLD
from ijepa_deploy.progress import peak_rss_gib

QUANTIZED_OPS = ("MatMul", "Gemm", "Conv")
FP16_FP32_OPS = ("LayerNormalization",)
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


def _onnx():
    import onnx

    return onnx


def graph_bytes(path: Path) -> int:
    """Size of a graph plus the external data files it references (or ``<name>.data`` beside it)."""
    path = Path(path)
    total = path.stat().st_size
    data = {path.with_name(path.name + ".data")}
    try:
        onnx = _onnx()
        model = onnx.load(str(path), load_external_data=False)
        data |= {path.parent / e.value for i in model.graph.initializer
                 if i.data_location == onnx.TensorProto.EXTERNAL for e in i.external_data if e.key == "location"}
    except Exception:  # unreadable graph: the size on disk is all we know
        pass
    return total + sum(p.stat().st_size for p in data if p.is_file())


def _written(path: Path) -> list[Path]:
    data = path.with_name(path.name + ".data")
    return [path, data] if data.is_file() else [path]


def _clear(path: Path) -> None:
    """Remove a graph and its data file first: onnx *appends* to an existing external data file."""
    for p in (path, path.with_name(path.name + ".data")):
        p.unlink(missing_ok=True)


def save_graph(model, path: Path, external: bool) -> list[Path]:
    """Save ``model`` to ``path``; with ``external``, all weights go to ONE ``<name>.data`` beside it."""
    onnx = _onnx()
    path = Path(path)
    _clear(path)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data", size_threshold=1024, convert_attribute=False)
    else:
        onnx.save_model(model, str(path))
    return _written(path)


def _quiet_ort_logs():
    """The quantization tools print per-tensor lines and 'consider pre-processing' warnings."""
    import contextlib
    import io

    @contextlib.contextmanager
    def quiet():
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        finally:
            root.setLevel(level)

    return quiet()


# -- fp16 -------------------------------------------------------------------------------------------


def _unshare_initializers(model, op_types: set[str]) -> int:
    """Give nodes of ``op_types`` private copies of initializers they share with other nodes.

    The dynamo exporter deduplicates identical constants (all-ones LayerNorm weights, zero biases
    of a freshly initialised model), and ORT's float16 tool then emits one identically named Cast
    per use: an invalid graph ("two nodes with same node name"). Copies are small (norm params)."""
    onnx = _onnx()
    inits = {i.name: i for i in model.graph.initializer}
    users = collections.defaultdict(list)
    for node in model.graph.node:
        for k, name in enumerate(node.input):
            if name in inits:
                users[name].append((node, k))
    copies = 0
    for name, uses in users.items():
        if len(uses) < 2 or not any(n.op_type in op_types for n, _ in uses):
            continue
        for node, k in uses:
            if node.op_type in op_types:
                clone = onnx.TensorProto()
                clone.CopyFrom(inits[name])
                clone.name = f"{name}__{node.name or node.output[0]}"
                model.graph.initializer.append(clone)
                node.input[k] = clone.name
                copies += 1
        if all(n.op_type in op_types for n, _ in uses):
            model.graph.initializer.remove(inits[name])  # every user has its own copy now
    return copies


def _types_known(model) -> bool:
    """Whether every node output has a declared element type (the dynamo exporter writes
    value_info for all intermediate tensors), so fp16 conversion needs no shape inference."""
    known = {v.name for v in (*model.graph.value_info, *model.graph.output)
             if v.type.tensor_type.elem_type}
    return all(o in known for n in model.graph.node for o in n.output if o)


@dataclass
class Fp16FromOnnx:
    """Loader: fp32 graph -> mixed fp16 graph ``<output_dir>/<name>`` (fp32 I/O and ``keep_fp32``
    ops). Returns the written paths."""

    source: Path
    output_dir: Path
    name: str = "model_fp16.onnx"
    keep_fp32: tuple[str, ...] = FP16_FP32_OPS
    path_taken: str = ""

    @property
    def settings(self) -> dict:
        return {"tool": "onnxruntime.transformers float16 conversion",
                "function": self.path_taken, "keep_io_types": True, "op_block_list": list(self.keep_fp32),
                "note": "op_block_list is added to ORT's DEFAULT_OP_BLOCK_LIST (non-numeric ONNX-ML ops)"}

    def __call__(self) -> list[Path]:
        onnx = _onnx()
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
        from onnxruntime.transformers.onnx_model import OnnxModel

        source = Path(self.source)
        model = onnx.load(str(source))  # loads external data too; >2 GB protos are fine in memory
        _unshare_initializers(model, set(self.keep_fp32))
        block = list(DEFAULT_OP_BLOCK_LIST) + list(self.keep_fp32)
        with _quiet_ort_logs():
            if _types_known(model):
                # Same graph as OnnxModel.convert_float_to_float16 (which runs symbolic shape
                # inference on a deep copy first): measured on vitb16 identical nodes and outputs,
                # peak RSS +0.2 GB over the loaded model instead of +0.7 GB, 3.5x faster.
                self.path_taken = "float16.convert_float_to_float16(disable_shape_infer=True)"
                fp16 = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True,
                                                op_block_list=block)
            else:
                self.path_taken = "OnnxModel.convert_float_to_float16 (symbolic shape inference)"
                wrapped = OnnxModel(model)
                wrapped.convert_float_to_float16(keep_io_types=True, op_block_list=block)
                fp16 = wrapped.model
            OnnxModel(fp16).topological_sort()  # the converter appends the input Casts at the end
        del model
        weights = sum(len(i.raw_data) for i in fp16.graph.initializer)
        out = Path(self.output_dir) / self.name
        return save_graph(fp16, out, external=weights > EXTERNAL_DATA_THRESHOLD)


# -- calibration data -------------------------------------------------------------------------------


@dataclass
class CalibrationImages:
    """Which images calibrate INT8: files from ``--calib-dir`` (a seeded sample of ``count`` when
    there are more, so a class-per-folder tree is not cut at the first classes), or without one
    the bundled photos and their deterministic variants. Holds paths only, never pixels."""

    directory: Path | None = None
    count: int = DEFAULT_CALIB_COUNT
    seed: int = 0

    def __post_init__(self):
        if int(self.count) < 1:
            raise IJepaDeployError("--calib-count", f"{self.count}", "a positive number of images, e.g. 64")
        self.count = int(self.count)

    @property
    def fallback(self) -> bool:
        return self.directory is None

    def paths(self) -> list[Path]:
        from ijepa_deploy.exporters.parity import bundled_images, images_in

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
            return {"source": FALLBACK_SOURCE, "files": [p.name for p in files], "count": self.count,
                    "representative": False}
        return {"source": str(Path(self.directory).resolve()), "count": min(self.count, len(files)),
                "files_sampled": len(files), "representative": True}

    def warning(self) -> str | None:
        if not self.fallback:
            return None
        return FALLBACK_WARNING.format(n=len(self.paths()), count=self.count)


class ImageCalibrationReader:
    """An ONNX Runtime ``CalibrationDataReader`` that decodes and preprocesses images only when a
    batch is asked for: at most one batch of pixels exists at a time, whatever ``count`` is.

    ``batches_served``/``images_served``/``max_batch_bytes`` record what was streamed."""

    def __init__(self, images: CalibrationImages, preprocess, batch_size: int = DEFAULT_CALIB_BATCH,
                 input_name: str = "pixel_values"):
        if int(batch_size) < 1:
            raise IJepaDeployError("calibration batch size", f"{batch_size}", "a positive integer")
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
        from ijepa_deploy.exporters.parity import photo_variant
        from ijepa_deploy.runtime.preprocess import open_image

        if self.images.fallback:
            return photo_variant(self._paths, i)
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

    table = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
             "percentile": CalibrationMethod.Percentile}
    if name not in table:
        raise IJepaDeployError("--calib-method", f"unknown method {name!r}", f"one of {', '.join(CALIB_METHODS)}")
    return table[name]


@dataclass
class Calibration:
    """The result of one calibration pass: ONNX Runtime's range cache plus what it cost."""

    prepared: Path  # prepare_for_quantization output the ranges belong to
    cache: Path  # JSON written by onnxruntime.quantization.save_tensors_data
    method: str
    record: dict = field(default_factory=dict)


def _prepared_name(workdir: Path) -> str:
    return f".{Path(workdir).name.lstrip('.')}.prepared.onnx"


def prepare_for_quantization(source: Path, workdir: Path) -> Path:
    """The fp32 graph with fresh types/shapes for the quantizer.

    The dynamo export's ``value_info`` can be stale (the classifier Gemm's weight shape), which
    breaks ONNX shape inference inside the quantizer; ``quant_pre_process`` fixes that but costs
    ~5x the model in RAM (measured: 1.9 GiB for the 0.34 GB vitb16; ~20 GiB for ViT-g) because
    symbolic shape inference copies the loaded model. Here: drop ``value_info`` and run ONNX shape
    inference file-to-file, so memory does not scale with the weights. A graph with external data
    is written *beside* its source (hidden name, removed by :func:`cleanup`) so its relative
    ``model.onnx.data`` location still resolves: onnx refuses hard-linked data files and paths
    outside the model's directory, and copying would duplicate 2.5-4 GB."""
    onnx = _onnx()
    source, workdir = Path(source), Path(workdir)
    model = onnx.load(str(source), load_external_data=False)
    external = any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer)
    out = source.parent / _prepared_name(workdir) if external else workdir / "prepared.onnx"
    _clear(out)
    del model.graph.value_info[:]
    onnx.save_model(model, str(out))
    del model
    onnx.shape_inference.infer_shapes_path(str(out), str(out))
    return out


def calibrate(source: Path, reader: ImageCalibrationReader, method: str, workdir: Path,
              progress=None) -> Calibration:
    """Run the fp32 graph over ``reader`` once and store activation ranges for every input/output of
    MatMul/Gemm/Conv (ranges are stored asymmetric; each INT8 form symmetrises as it needs)."""
    from onnxruntime.quantization import create_calibrator, save_tensors_data

    workdir = Path(workdir)
    start = time.perf_counter()
    prepared = prepare_for_quantization(source, workdir)
    large = graph_bytes(prepared) > EXTERNAL_DATA_THRESHOLD
    # No CalibMaxIntermediateOutputs: in ORT 1.31 reaching that limit *drops* the collected outputs
    # instead of merging them. One collect_data call per batch bounds memory the same way: MinMax
    # merges its ranges and histogram calibrators merge their histograms at the end of each call.
    extra = {}
    with _quiet_ort_logs():
        calibrator = create_calibrator(prepared, list(QUANTIZED_OPS),
                                       augmented_model_path=str(workdir / "augmented.onnx"),
                                       calibrate_method=_method(method), use_external_data_format=large,
                                       extra_options=extra)
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
    for p in workdir.iterdir():  # the augmented graph and its data file (a full weight copy)
        if p not in (cache, prepared, prepared.with_name(prepared.name + ".data")) and p.is_file():
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


# -- process isolation -------------------------------------------------------------------------------

ISOLATE_ABOVE_BYTES = 256_000_000
INPROCESS_ENV = "IJEPA_EXPORT_INPROCESS"


def should_isolate(source: Path) -> bool:
    """Big graphs get each precision step in a fresh process: protobuf and ORT leave freed memory
    in the heap, so in one process the steps' peaks add up (measured on vith14: 11.3 GiB after the
    fp16 step, 19.6 GiB during calibration), while separate processes peak at the largest step.
    ``IJEPA_EXPORT_INPROCESS=1`` keeps everything in-process (debugging)."""
    import os

    if os.environ.get(INPROCESS_ENV, "") not in ("", "0"):
        return False
    return graph_bytes(source) > ISOLATE_ABOVE_BYTES


def own_peak_rss_gib() -> float:
    """This process's own peak RSS. In a spawned child ``ru_maxrss`` starts at the parent's RSS at
    fork time (Linux keeps it across exec); ``VmHWM`` belongs to the child's own address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024 ** 2, 2)
    except OSError:
        pass
    return round(peak_rss_gib(), 2)


def _call_in_child(job):
    try:
        result = job()
    except IJepaDeployError as exc:  # its __init__ signature does not survive pickling as-is
        return {"error": (exc.subject, exc.problem, exc.expected)}
    return {"result": result, "job": job, "peak_rss_gib": own_peak_rss_gib()}


def run_step(job, isolate: bool):
    """``job()`` in a fresh spawned process (``isolate``) or here. Returns ``(result, job after the
    call, peak RSS GiB of the process that ran it)``; IJepaDeployError propagates either way."""
    if not isolate:
        result = job()
        return result, job, round(peak_rss_gib(), 2)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            out = pool.submit(_call_in_child, job).result()
    except BrokenProcessPool:
        raise IJepaDeployError(type(job).__name__, "its worker process died (killed by the OS: most "
                               "likely out of memory)", "free RAM for the step, or fewer concurrent "
                               "jobs; the fp32 graph and manifest are kept") from None
    if "error" in out:
        raise IJepaDeployError(*out["error"])
    return out["result"], out["job"], out["peak_rss_gib"]


def release_memory() -> None:
    """Give freed heap pages back to the OS (glibc keeps them otherwise)."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _require_cache_support():
    from onnxruntime.quantization import quantize_static

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        import onnxruntime

        raise IJepaDeployError("INT8 export", f"onnxruntime {onnxruntime.__version__}'s quantize_static "
                               "has no calibration_cache_path", "onnxruntime >= 1.24 (pip install -U onnxruntime)")


def _quantize(calib: Calibration, out: Path, *, activation_type, symmetric_activations: bool,
              quantize_bias: bool, quantize_outputs: bool = False) -> list[Path]:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    _require_cache_support()
    out = Path(out)
    _clear(out)
    # int8 weights are a quarter of fp32: external data only for graphs > ~7 GB fp32
    external = graph_bytes(calib.prepared) / 4 > EXTERNAL_DATA_THRESHOLD
    extra = {"WeightSymmetric": True, "ActivationSymmetric": symmetric_activations,
             "QuantizeBias": quantize_bias}
    if not quantize_outputs:
        # ORT would also put Q/DQ on the *outputs* of MatMul/Conv (they are calibrated tensors), so the
        # residual stream and bias Adds would see int8-rounded values; keep Q/DQ on the inputs only.
        extra["OpTypesToExcludeOutputQuantization"] = list(QUANTIZED_OPS)
    with _quiet_ort_logs():
        quantize_static(str(calib.prepared), str(out), None, quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(QUANTIZED_OPS), per_channel=True, reduce_range=False,
                        activation_type=activation_type, weight_type=QuantType.QInt8,
                        use_external_data_format=external, calibrate_method=_method(calib.method),
                        extra_options=extra, calibration_cache_path=str(calib.cache))
    gc.collect()
    return _written(out)


@dataclass
class Int8FromOnnx:
    """Loader: explicit-Q/DQ INT8 graph for TensorRT (and ONNX Runtime). Signed int8, zero point 0,
    per-channel weights, per-tensor activations, only MatMul/Gemm/Conv inputs, float biases.
    Calibrates unless given a ``calibration`` from an earlier call (then reuses its ranges)."""

    source: Path
    output_dir: Path
    reader: ImageCalibrationReader | None = None
    method: str = "minmax"
    name: str = "model_int8.onnx"
    workdir: Path | None = None
    calibration: Calibration | None = None
    progress: object = None

    @property
    def settings(self) -> dict:
        return {"tool": "onnxruntime.quantization quantize_static (QuantFormat.QDQ)",
                "activation_type": "QInt8", "weight_type": "QInt8", "activations": "per-tensor symmetric",
                "weights": "per-channel symmetric", "zero_point": 0, "op_types_to_quantize": list(QUANTIZED_OPS),
                "quantize_bias": False, "pre_process": "value_info cleared, onnx.shape_inference.infer_shapes_path"}

    def __call__(self) -> list[Path]:
        from onnxruntime.quantization import QuantType

        if self.calibration is None:
            if self.reader is None:
                raise IJepaDeployError("INT8 export", "no calibration data", "a calibration reader")
            workdir = Path(self.workdir or tempfile.mkdtemp(prefix="ijepa-calib-"))
            self.calibration = calibrate(self.source, self.reader, self.method, workdir, self.progress)
        return _quantize(self.calibration, Path(self.output_dir) / self.name, activation_type=QuantType.QInt8,
                         symmetric_activations=True, quantize_bias=False)


@dataclass
class Int8CpuFromOnnx:
    """Loader: the INT8 graph ONNX Runtime runs fastest on CPU: static Q/DQ, unsigned asymmetric
    activations, signed per-channel weights (U8S8), from an existing ``calibration``."""

    calibration: Calibration
    output_dir: Path
    name: str = "model_int8_cpu.onnx"

    @property
    def settings(self) -> dict:
        return {"tool": "onnxruntime.quantization quantize_static (QuantFormat.QDQ)",
                "activation_type": "QUInt8", "weight_type": "QInt8", "activations": "per-tensor asymmetric",
                "weights": "per-channel symmetric", "op_types_to_quantize": list(QUANTIZED_OPS),
                "reduce_range": False, "quantize_bias": True,
                "why": "U8S8 Q/DQ uses ORT's fast x86 integer kernels (S8S8 does not); static ranges keep an "
                       "image's output independent of its batch, unlike quantize_dynamic"}

    def __call__(self) -> list[Path]:
        from onnxruntime.quantization import QuantType

        return _quantize(self.calibration, Path(self.output_dir) / self.name, activation_type=QuantType.QUInt8,
                         symmetric_activations=False, quantize_bias=True)


def quantization_summary(path: Path) -> dict:
    """What the Q/DQ graph holds: counts, zero-point types/values, which ops consume DQ outputs."""
    onnx = _onnx()
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consumers = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node.op_type)
    zp_types, nonzero, per_channel = collections.Counter(), 0, 0
    dq_feeds = collections.Counter()
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if len(node.input) > 2 and node.input[2] in inits:
            zp = inits[node.input[2]]
            zp_types[onnx.TensorProto.DataType.Name(zp.data_type)] += 1
            if zp.data_location != onnx.TensorProto.EXTERNAL and np.any(numpy_helper.to_array(zp) != 0):
                nonzero += 1
        if node.op_type == "DequantizeLinear":
            scale = inits.get(node.input[1])
            if scale is not None and len(scale.dims) == 1 and scale.dims[0] > 1:
                per_channel += 1
            for op in consumers[node.output[0]]:
                dq_feeds[op] += 1
    ops = collections.Counter(n.op_type for n in graph.node)
    return {"quantize_linear": ops.get("QuantizeLinear", 0), "dequantize_linear": ops.get("DequantizeLinear", 0),
            "zero_point_types": dict(zp_types), "nonzero_zero_points": nonzero,
            "per_channel_weight_dq": per_channel, "dq_consumers": dict(dq_feeds)}


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
    """Remove a calibration ``workdir`` and the prepared graph written beside ``source``."""
    if workdir is None:
        return
    workdir = Path(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    if source is not None:
        for leftover in Path(source).parent.glob(_prepared_name(workdir).replace(".onnx", "*")):
            leftover.unlink(missing_ok=True)
