"""The manifest's inner records as dataclasses; reading (``from_dict``) and writing (``to_dict``)
are derived from their fields, as timm's ``PretrainedCfg`` does, with field metadata for what
differs: a JSON key that is not the field's name (``"class"``, ``"for"``), a null kept in the JSON,
or the value a null parity statistic stands for.

``from_dict`` trusts its input: :func:`ijepa_deploy.manifest_schema.check_manifest` has already
checked it against ``schema/manifest.schema.json`` (keys, types, enums, ranges). Optional keys
(fields that default to None) are left out of the JSON when unset, so the files keep the shape
exporters have always written. Non-finite parity statistics (a candidate that produced NaN/inf) are
written as ``null``: strict JSON that the C++ runtime's parser accepts, read back as NaN / inf.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

GRAPH_VARIANTS = ("fp32", "fp16", "int8", "int8-cpu")
PRECISIONS = ("fp32", "fp16", "int8")
REFERENCE_ROLE = "reference-outputs"  # eager fp32's saved outputs (runtime.acceptance.reference)
IR_ROLES = ("openvino-ir", "openvino-ir-weights")  # OpenVINO IR: the .xml and its .bin of weights
FILE_ROLES = ("onnx-graph", "onnx-external-data", *IR_ROLES, "tensorrt-engine", REFERENCE_ROLE)
MODEL_KINDS = ("preset", "local", "hub")
HARDWARE_COMPATIBILITY = ("ampere_plus", "same_compute_capability")
# An engine's or a graph's parity verdict; "unverified": written, its check not run yet (or
# interrupted). The runtimes serve only "passed" graphs and engines.
ENGINE_STATUSES = ("passed", "failed", "unverified")
GRAPH_STATUSES = ENGINE_STATUSES


# Field metadata: a JSON key that is not the field's name; a null kept in the JSON; the value a
# null statistic stands for (written as null when not finite).
KEEP_NULL = {"keep_null": True}
NULL_IS_NAN = {"null": math.nan}
NULL_IS_INF = {"null": math.inf}


class Record:
    """Base of the records: ``to_dict`` / ``from_dict`` from the dataclass fields."""

    def to_dict(self) -> JSON:
        data: JSON = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.default is None and not f.metadata.get("keep_null"):
                continue  # optional and unset: absent, not null
            if "null" in f.metadata and not math.isfinite(value):
                value = None
            data[f.metadata.get("json", f.name)] = _encode(value)
        return data

    @classmethod
    def from_dict(cls, data: JSON):
        hints = _hints(cls)
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            name = f.metadata.get("json", f.name)
            if name not in data:
                continue  # the field's default
            value = data[name]
            if value is None and "null" in f.metadata:
                values[f.name] = f.metadata["null"]
            else:
                values[f.name] = _decode(hints[f.name], value)
        return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, value: Any) -> Any:
    """``value`` from JSON as the type ``hint`` names (records, lists and dicts of them, numbers)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return None if value is None else _decode(next(a for a in args if a is not type(None)), value)
    if origin is list:
        return [_decode(args[0], v) for v in value]
    if origin is dict:
        return {k: _decode(args[1], v) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value)
    if hint in (int, float, bool):
        return hint(value)
    return value


@dataclass(frozen=True)
class BatchRange(Record):
    """Batch sizes every graph of the artifact accepts (the dynamic axis' range)."""

    min: int
    max: int


@dataclass
class ModelInfo(Record):
    """Where the weights came from and the architecture they have (``manifest["model"]``)."""

    source: str
    kind: str  # one of MODEL_KINDS
    revision: str | None
    weights: str
    weights_random: bool
    model_type: str
    class_name: str = field(metadata={"json": "class"})
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    patch_size: int
    image_size: int
    layer_norm_eps: float
    parameters: int
    export_image_size: int
    position_embeddings: str
    preset: str | None = None
    mirrors: list[str] | None = None
    seed: int | None = None
    architectures: list[str] | None = None
    export_peak_rss_gib: float | None = None
    export_seconds: dict[str, float] | None = None


@dataclass(frozen=True)
class FileRecord(Record):
    """One file of the artifact (``manifest["files"][relpath]``)."""

    sha256: str
    bytes: int
    role: str  # one of FILE_ROLES


@dataclass(frozen=True)
class OpenVinoIR(Record):
    """A graph converted to OpenVINO IR at export (``graphs[variant].openvino_ir``): OpenVINO runs
    it instead of the ONNX file because it maps the ``.bin`` weights from disk (clean pages, shared
    between processes) where reading ONNX copies them onto the heap. Its parity rows are the
    graph's OpenVINO rows."""

    file: str  # the .xml
    weights: str  # the .bin
    converter: str  # the OpenVINO that wrote it, e.g. "openvino 2026.4.1"


@dataclass
class GraphRecord(Record):
    """An ONNX graph of the artifact (``manifest["graphs"][variant]``). ``tool``, ``calibration``
    and ``quantization`` are provenance written by the precision steps, kept as they come."""

    file: str
    precision: str  # one of PRECISIONS
    targets: list[str] = field(metadata={"json": "for"})  # the backends the graph is meant for
    opset: int
    nodes: int
    ops: dict[str, int]
    data_files: list[str] = field(default_factory=list)
    tool: JSON | None = None
    calibration: JSON | None = None
    quantization: JSON | None = None
    smoothing: JSON | None = None  # INT8: the SmoothQuant transform (alpha per LayerNorm)
    int8_target: JSON | None = None  # INT8: target cosine, per-GEMM sensitivity, GEMMs kept, FLOP share
    seconds: float | None = None
    peak_rss_gib: float | None = None
    separate_process: bool | None = None
    openvino_ir: OpenVinoIR | None = None
    # one of GRAPH_STATUSES: every parity row of this graph at its own precision passed (bf16 mode rows
    # and engines have their own verdicts). None: exported before per-graph verdicts; the artifact's
    # status stands for it.
    status: str | None = None

    @property
    def files(self) -> list[str]:
        """The graph file, then its external data files: everything a session needs."""
        return [self.file, *self.data_files]

    @property
    def openvino_files(self) -> list[str]:
        """What OpenVINO opens: the IR (its .xml, then .bin) when the export wrote one, else the ONNX files."""
        return [self.openvino_ir.file, self.openvino_ir.weights] if self.openvino_ir else self.files


@dataclass(frozen=True)
class EngineProfile(Record):
    """The engine's optimization profile on the batch axis."""

    min: int
    opt: int
    max: int


@dataclass
class EngineRecord(Record):
    """A TensorRT engine of the artifact (``manifest["engines"][variant]``) and the host it needs."""

    file: str
    source_graph: str
    source_sha256: str
    precision: str  # one of PRECISIONS
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    profile: EngineProfile
    # None (written as null) or one of HARDWARE_COMPATIBILITY
    hardware_compatibility: str | None = field(default=None, metadata=KEEP_NULL)
    version_compatible: bool = False
    build_seconds: float | None = None
    status: str | None = None  # one of ENGINE_STATUSES; None: built before engines were parity-checked


@dataclass(frozen=True)
class BatchStats(Record):
    """Agreement of one output at one batch size (``parity.per_batch[batch][output]``)."""

    min_cosine: float = field(metadata=NULL_IS_NAN)
    max_abs: float = field(metadata=NULL_IS_INF)


@dataclass(frozen=True)
class OutputParity(Record):
    """Worst agreement of one output over every batch size, with its thresholds and verdict."""

    min_cosine: float = field(metadata=NULL_IS_NAN)
    max_abs: float = field(metadata=NULL_IS_INF)
    mean_abs: float = field(metadata=NULL_IS_INF)
    cosine_threshold: float
    max_abs_threshold: float | None  # None: reported, not gated
    passed: bool


@dataclass(frozen=True)
class RetrievalResult(Record):
    """Nearest-neighbour agreement with eager fp32 (``parity[i]["retrieval"]``)."""

    k: int
    images: int
    mean_overlap: float
    min_overlap: float
    top1_agreement: float
    output: str
    threshold: float
    passed: bool
    image_names: list[str]


@dataclass
class ParityResult(Record):
    """One candidate (graph or engine on a backend) checked against the eager reference. ``engine``
    names the TensorRT engine file checked (None for a graph): that verdict is the engine's
    ``status``, not the artifact's."""

    graph: str
    precision: str  # one of PRECISIONS, or "bf16" (the fp32 graph in OpenVINO's bf16 mode)
    backend: str
    reference: str
    images: list[str]
    batch_sizes: list[int]
    outputs: dict[str, OutputParity]
    per_batch: dict[str, dict[str, BatchStats]]
    passed: bool
    retrieval: RetrievalResult | None = None
    engine: str | None = None

    def add_retrieval(self, retrieval: RetrievalResult) -> None:
        """The neighbour check gates the result as much as the per-output thresholds do."""
        self.retrieval = retrieval
        self.passed = bool(self.passed and retrieval.passed)
