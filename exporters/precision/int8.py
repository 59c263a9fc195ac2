"""INT8 steps from one calibration: explicit Q/DQ graphs, and what a Q/DQ graph holds.

* ``Int8FromOnnx``: for TensorRT: signed int8 with zero point 0 for activations (per tensor) and
  weights (per output channel), only on the inputs of MatMul/Gemm/Conv (layer norm, softmax, GELU
  and residual adds stay float), biases left float (TensorRT has no int32 DequantizeLinear).
* ``Int8CpuFromOnnx``: the form ONNX Runtime runs fastest on x86 CPUs: the same placement with
  *unsigned* asymmetric activations (U8S8 uses the VNNI/AVX2 u8*s8 kernels; S8S8 falls back to slow
  paths). Static ranges, unlike ``quantize_dynamic``, keep an image's embedding independent of the
  other images in its batch.
"""

from __future__ import annotations

import collections
import gc
import inspect
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import BackendUnavailable, InputError
from ijepa_deploy.exporters.precision import onnx_files
from ijepa_deploy.exporters.precision.calibration import (
    QUANTIZED_OPS,
    Calibration,
    ImageCalibrationReader,
    _method,
    calibrate,
)
from ijepa_deploy.exporters.precision.fp16 import Fp16FromOnnx
from ijepa_deploy.exporters.precision.onnx_files import _onnx, clear_graph, graph_bytes, quiet_ort_logs, written


def _require_cache_support():
    from onnxruntime.quantization import quantize_static

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        import onnxruntime

        raise BackendUnavailable(
            "INT8 export",
            f"onnxruntime {onnxruntime.__version__}'s quantize_static has no calibration_cache_path",
            "onnxruntime >= 1.24 (pip install -U onnxruntime)",
        )


def _quantize(
    calib: Calibration,
    out: Path,
    *,
    activation_type,
    symmetric_activations: bool,
    quantize_bias: bool,
    quantize_outputs: bool = False,
    exclude: tuple[str, ...] = (),
    external: bool | None = None,
    reduce_range: bool = False,
) -> list[Path]:
    """quantize_static from the calibration's range cache; ``exclude``: GEMM nodes kept in float.
    ``external`` None: external data only for graphs too big for one protobuf."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    _require_cache_support()
    out = Path(out)
    clear_graph(out)
    if external is None:  # int8 weights are a quarter of fp32: external data only for graphs > ~7 GB fp32
        external = graph_bytes(calib.prepared) / 4 > onnx_files.EXTERNAL_DATA_THRESHOLD
    extra = {"WeightSymmetric": True, "ActivationSymmetric": symmetric_activations, "QuantizeBias": quantize_bias}
    if not quantize_outputs:
        # ORT would also put Q/DQ on the *outputs* of MatMul/Conv (they are calibrated tensors), so the
        # residual stream and bias Adds would see int8-rounded values; keep Q/DQ on the inputs only.
        extra["OpTypesToExcludeOutputQuantization"] = list(QUANTIZED_OPS)
    with quiet_ort_logs():
        quantize_static(
            str(calib.prepared),
            str(out),
            None,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=activation_type,
            weight_type=QuantType.QInt8,
            use_external_data_format=external,
            calibrate_method=_method(calib.method),
            extra_options=extra,
            calibration_cache_path=str(calib.cache),
            nodes_to_exclude=list(exclude),
        )
    gc.collect()
    return written(out)


def quantize_s8s8(
    calib: Calibration, out: Path, exclude: tuple[str, ...] = (), external: bool | None = None
) -> list[Path]:
    """The TensorRT placement on an fp32 base: signed symmetric activations, float biases."""
    from onnxruntime.quantization import QuantType

    return _quantize(
        calib,
        out,
        activation_type=QuantType.QInt8,
        symmetric_activations=True,
        quantize_bias=False,
        exclude=exclude,
        external=external,
    )


@dataclass
class Int8FromOnnx:
    """Loader: explicit-Q/DQ INT8 graph for TensorRT (and ONNX Runtime, OpenVINO). Signed int8, zero
    point 0, per-channel weights, per-tensor activations, only MatMul/Gemm/Conv inputs, float biases;
    the GEMMs in ``exclude`` stay in higher precision. With ``fp16_base`` everything that is not
    INT8 (softmax, GELU, residual adds, biases, kept GEMMs) is fp16 and LayerNormalization fp32, the
    form NVIDIA's Model Optimizer emits: TensorRT's strongly typed build would otherwise run those
    parts in fp32 and the INT8 engine would be no faster than the fp16 one. Calibrates unless given
    a ``calibration`` from an earlier call (then reuses its ranges)."""

    source: Path
    output_dir: Path
    reader: ImageCalibrationReader | None = None
    method: str = "minmax"
    name: str = "model_int8.onnx"
    workdir: Path | None = None
    calibration: Calibration | None = None
    progress: object = None
    exclude: tuple[str, ...] = ()
    fp16_base: bool = False

    @property
    def settings(self) -> dict:
        return {
            "tool": "onnxruntime.quantization quantize_static (QuantFormat.QDQ)",
            "activation_type": "QInt8",
            "weight_type": "QInt8",
            "activations": "per-tensor symmetric",
            "weights": "per-channel symmetric",
            "zero_point": 0,
            "op_types_to_quantize": list(QUANTIZED_OPS),
            "quantize_bias": False,
            "pre_process": "value_info cleared, onnx.shape_inference.infer_shapes_path",
            "kept_in_higher_precision": len(self.exclude),
            "base": "fp16 (LayerNormalization fp32; onnxruntime.transformers float16)" if self.fp16_base else "fp32",
        }

    def __call__(self) -> list[Path]:
        if self.calibration is None:
            if self.reader is None:
                raise InputError("INT8 export", "no calibration data", "a calibration reader")
            workdir = Path(self.workdir or tempfile.mkdtemp(prefix="ijepa-calib-"))
            self.calibration = calibrate(self.source, self.reader, self.method, workdir, self.progress)
        out = Path(self.output_dir) / self.name
        if not self.fp16_base:
            return quantize_s8s8(self.calibration, out, self.exclude)
        fp32_base = Path(self.calibration.cache).parent / f"fp32-base-{self.name}"
        quantize_s8s8(self.calibration, fp32_base, self.exclude)
        try:
            return Fp16FromOnnx(fp32_base, self.output_dir, self.name)()
        finally:
            clear_graph(fp32_base)


def quantize_u8s8(
    calib: Calibration, out: Path, exclude: tuple[str, ...] = (), external: bool | None = None
) -> list[Path]:
    """The ONNX Runtime CPU form: unsigned asymmetric activations, 7-bit symmetric weights, int32 biases.

    7-bit weights (``reduce_range``): on x86 CPUs without VNNI/AMX the u8 x s8 kernels add pairs of
    products in saturating 16-bit registers (255 x 127 x 2 > 32767), so 8-bit weights give other
    numbers there than on the export host; with 7 bits no pair saturates and every x86 host computes
    what the export verified (measured on an AVX2 EPYC, ViT-S with smoothed outliers: cosine 0.9976
    with 8-bit weights, 0.9991 with 7-bit; the S8S8 graph 0.9993)."""
    from onnxruntime.quantization import QuantType

    return _quantize(
        calib,
        out,
        activation_type=QuantType.QUInt8,
        symmetric_activations=False,
        quantize_bias=True,
        exclude=exclude,
        external=external,
        reduce_range=True,
    )


@dataclass
class Int8CpuFromOnnx:
    """Loader: the INT8 graph ONNX Runtime runs fastest on CPU: static Q/DQ, unsigned asymmetric
    activations, signed 7-bit per-channel weights (U8S8, see :func:`quantize_u8s8`), from an existing
    ``calibration``; the GEMMs in ``exclude`` stay fp32."""

    calibration: Calibration
    output_dir: Path
    name: str = "model_int8_cpu.onnx"
    exclude: tuple[str, ...] = ()

    @property
    def settings(self) -> dict:
        return {
            "tool": "onnxruntime.quantization quantize_static (QuantFormat.QDQ)",
            "activation_type": "QUInt8",
            "weight_type": "QInt8",
            "activations": "per-tensor asymmetric",
            "weights": "per-channel symmetric, 7-bit (reduce_range)",
            "op_types_to_quantize": list(QUANTIZED_OPS),
            "reduce_range": True,
            "quantize_bias": True,
            "kept_in_higher_precision": len(self.exclude),
            "why": "U8S8 Q/DQ uses ORT's fast x86 integer kernels (S8S8 does not); 7-bit weights never "
            "saturate the 16-bit pair sums of CPUs without VNNI, so every x86 host computes what the "
            "export verified; static ranges keep an image's output independent of its batch",
        }

    def __call__(self) -> list[Path]:
        return quantize_u8s8(self.calibration, Path(self.output_dir) / self.name, self.exclude)


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
    return {
        "quantize_linear": ops.get("QuantizeLinear", 0),
        "dequantize_linear": ops.get("DequantizeLinear", 0),
        "zero_point_types": dict(zp_types),
        "nonzero_zero_points": nonzero,
        "per_channel_weight_dq": per_channel,
        "dq_consumers": dict(dq_feeds),
    }
