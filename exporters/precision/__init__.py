"""fp16 and INT8 graphs derived from the artifact's fp32 ONNX graph, one module per step.

TensorRT 11 builds strongly typed networks only (no FP16/INT8 builder flags, no calibrators), so
an engine's precision is whatever the ONNX graph says. These loaders write those graphs:
:mod:`.fp16` (``Fp16FromOnnx``), :mod:`.calibration` (images, streamed reader, ``calibrate``),
:mod:`.smoothing` (``SmoothedFromOnnx``: outlier channels folded into the weights),
:mod:`.int8_target` (``Int8Search``: per-GEMM sensitivity (:mod:`.sensitivity`) and the GEMMs kept
in higher precision to meet a cosine target) and :mod:`.int8` (``Int8FromOnnx`` for TensorRT and
OpenVINO, ``Int8CpuFromOnnx`` for ONNX Runtime on CPUs, Q/DQ inspection); :mod:`.gemms` names the
graph's GEMMs, :mod:`.onnx_files` holds the file I/O they share and :mod:`.isolation` which steps run
in a child process (:func:`ijepa_deploy.child_process.run_step`).

Each graph loader is a small callable returning the written paths: the ``.onnx`` first, then its
one external data file when the weights exceed ``onnx_files.EXTERNAL_DATA_THRESHOLD``.
"""

from ijepa_deploy.child_process import run_step
from ijepa_deploy.exporters.precision.calibration import (
    CALIB_METHODS,
    DEFAULT_CALIB_BATCH,
    DEFAULT_CALIB_COUNT,
    QUANTIZED_OPS,
    Calibrate,
    Calibration,
    CalibrationImages,
    ImageCalibrationReader,
    calibrate,
    cleanup,
    prepare_for_quantization,
    warn_fallback,
)
from ijepa_deploy.exporters.precision.fp16 import FP16_FP32_OPS, Fp16FromOnnx
from ijepa_deploy.exporters.precision.int8 import Int8CpuFromOnnx, Int8FromOnnx, quantization_summary
from ijepa_deploy.exporters.precision.int8_target import Int8Plan, Int8Search
from ijepa_deploy.exporters.precision.isolation import should_isolate
from ijepa_deploy.exporters.precision.onnx_files import graph_bytes, save_graph
from ijepa_deploy.exporters.precision.smoothing import SmoothedFromOnnx, Smoothing
from ijepa_deploy.memory import release_memory

__all__ = [
    "CALIB_METHODS",
    "DEFAULT_CALIB_BATCH",
    "DEFAULT_CALIB_COUNT",
    "FP16_FP32_OPS",
    "QUANTIZED_OPS",
    "Calibrate",
    "Calibration",
    "CalibrationImages",
    "Fp16FromOnnx",
    "ImageCalibrationReader",
    "Int8CpuFromOnnx",
    "Int8FromOnnx",
    "Int8Plan",
    "Int8Search",
    "SmoothedFromOnnx",
    "Smoothing",
    "calibrate",
    "cleanup",
    "graph_bytes",
    "prepare_for_quantization",
    "quantization_summary",
    "release_memory",
    "run_step",
    "save_graph",
    "should_isolate",
    "warn_fallback",
]
