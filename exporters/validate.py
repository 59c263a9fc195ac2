"""Check a produced graph against the export spec it was declared with.

Missing or extra inputs/outputs, wrong element types, a fixed dimension that differs, a dynamic
axis the spec does not declare (or a declared one that came out fixed): each is an error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ijepa_deploy.errors import ArtifactError, first_line
from ijepa_deploy.spec import ExportSpec, TensorSpec

_ELEM = {1: "float32", 10: "float16", 11: "float64", 6: "int32", 7: "int64", 3: "int8", 2: "uint8", 9: "bool"}


def _dims(value_info) -> list:
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def _check_tensor(where: str, value_info, tspec: TensorSpec) -> None:
    elem = _ELEM.get(value_info.type.tensor_type.elem_type, str(value_info.type.tensor_type.elem_type))
    if elem != tspec.dtype:
        raise ArtifactError(where, f"{tspec.name} has element type {elem}", tspec.dtype)
    dims = _dims(value_info)
    if len(dims) != len(tspec.shape):
        raise ArtifactError(where, f"{tspec.name} has shape {dims}", f"{list(tspec.shape)}")
    for axis, (got, want) in enumerate(zip(dims, tspec.shape)):
        if isinstance(want, str):
            if not isinstance(got, str) and got is not None:
                raise ArtifactError(where, f"{tspec.name} axis {axis} is fixed at {got}", f"the dynamic axis '{want}'")
        elif got != want:
            what = "dynamic" if isinstance(got, str) or got is None else f"{got}"
            raise ArtifactError(where, f"{tspec.name} axis {axis} is {what} (undeclared)", f"fixed {want}")


def check_graph(path: Path, spec: ExportSpec, *, full_check: bool = True) -> dict:
    """Validate ``path`` (with its external data) and return a summary for the manifest."""
    import onnx

    path = Path(path)
    where = str(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ArtifactError(where, f"not a readable ONNX file ({exc})", "an ONNX model") from None
    if full_check:
        try:
            onnx.checker.check_model(str(path))
        except onnx.checker.ValidationError as exc:
            raise ArtifactError(where, f"ONNX checker failed: {first_line(exc)}", "a valid ONNX model") from None
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = {i.name: i for i in graph.input if i.name not in initializers}
    outputs = {o.name: o for o in graph.output}
    for kind, got, want in (("inputs", inputs, spec.inputs), ("outputs", outputs, spec.outputs)):
        names = [t.name for t in want]
        if sorted(got) != sorted(names):
            raise ArtifactError(where, f"graph {kind} are {sorted(got)}", f"exactly {names}")
        for tspec in want:
            _check_tensor(where, got[tspec.name], tspec)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    ops = Counter(n.op_type for n in graph.node)
    return {"opset": opset, "nodes": len(graph.node), "ops": dict(sorted(ops.items()))}
