"""fp16 step: mixed precision with ONNX Runtime's float16 tool (``onnxconverter_common`` fails on
these exports). Inputs/outputs stay float32 and ``LayerNormalization`` stays float32: its
mean/variance reduction over 1280-1408 channels is where fp16 loses accuracy first, and TensorRT
keeps normalization in fp32 when the graph says so. Softmax is converted: an fp32 Softmax would put
Casts inside the attention pattern TensorRT fuses into its fp16 MHA kernel."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

from ijepa_deploy.exporters.precision import onnx_files
from ijepa_deploy.exporters.precision.onnx_files import _onnx, quiet_ort_logs, save_graph

FP16_FP32_OPS = ("LayerNormalization",)


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
    known = {v.name for v in (*model.graph.value_info, *model.graph.output) if v.type.tensor_type.elem_type}
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
        return {
            "tool": "onnxruntime.transformers float16 conversion",
            "function": self.path_taken,
            "keep_io_types": True,
            "op_block_list": list(self.keep_fp32),
            "note": "op_block_list is added to ORT's DEFAULT_OP_BLOCK_LIST (non-numeric ONNX-ML ops)",
        }

    def __call__(self) -> list[Path]:
        onnx = _onnx()
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
        from onnxruntime.transformers.onnx_model import OnnxModel

        source = Path(self.source)
        model = onnx.load(str(source))  # loads external data too; >2 GB protos are fine in memory
        _unshare_initializers(model, set(self.keep_fp32))
        block = list(DEFAULT_OP_BLOCK_LIST) + list(self.keep_fp32)
        with quiet_ort_logs():
            if _types_known(model):
                # Same graph as OnnxModel.convert_float_to_float16, without the symbolic shape
                # inference on a deep copy of the model it runs first (see benchmarks/README.md).
                self.path_taken = "float16.convert_float_to_float16(disable_shape_infer=True)"
                fp16 = convert_float_to_float16(
                    model, keep_io_types=True, disable_shape_infer=True, op_block_list=block
                )
            else:
                self.path_taken = "OnnxModel.convert_float_to_float16 (symbolic shape inference)"
                wrapped = OnnxModel(model)
                wrapped.convert_float_to_float16(keep_io_types=True, op_block_list=block)
                fp16 = wrapped.model
            OnnxModel(fp16).topological_sort()  # the converter appends the input Casts at the end
        del model
        weights = sum(len(i.raw_data) for i in fp16.graph.initializer)
        out = Path(self.output_dir) / self.name
        return save_graph(fp16, out, external=weights > onnx_files.EXTERNAL_DATA_THRESHOLD)
