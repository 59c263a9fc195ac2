"""The manifest's inner records as dataclasses, each with one reader (``from_dict``) and one writer
(``to_dict``).

``from_dict`` trusts its input: :func:`ijepa_deploy.manifest_schema.check_manifest` has already
checked it against ``schema/manifest.schema.json`` (keys, types, enums, ranges). Optional keys are
left out of the JSON when unset, so the files keep the shape exporters have always written.
Non-finite parity statistics (a candidate that produced NaN/inf) are written as ``null``: strict
JSON that the C++ runtime's parser accepts, read back as NaN / inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

GRAPH_VARIANTS = ("fp32", "fp16", "int8", "int8-cpu")
PRECISIONS = ("fp32", "fp16", "int8")
REFERENCE_ROLE = "reference-outputs"  # eager fp32's saved outputs (runtime.acceptance.reference)
FILE_ROLES = ("onnx-graph", "onnx-external-data", "tensorrt-engine", REFERENCE_ROLE)
MODEL_KINDS = ("preset", "local", "hub")
HARDWARE_COMPATIBILITY = ("ampere_plus", "same_compute_capability")
# An engine's or a graph's parity verdict; "unverified": written, its check not run yet (or
# interrupted). The runtimes serve only "passed" graphs and engines.
ENGINE_STATUSES = ("passed", "failed", "unverified")
GRAPH_STATUSES = ENGINE_STATUSES


def _optional(data: JSON, **values: Any) -> JSON:
    """``data`` plus the ``values`` that are set (optional keys are absent, not null)."""
    data.update({k: v for k, v in values.items() if v is not None})
    return data


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _float_or(value: float | None, missing: float) -> float:
    return missing if value is None else float(value)


@dataclass(frozen=True)
class BatchRange:
    """Batch sizes every graph of the artifact accepts (the dynamic axis' range)."""

    min: int
    max: int

    def to_dict(self) -> JSON:
        return {"min": self.min, "max": self.max}

    @classmethod
    def from_dict(cls, data: JSON) -> BatchRange:
        return cls(min=int(data["min"]), max=int(data["max"]))


@dataclass
class ModelInfo:
    """Where the weights came from and the architecture they have (``manifest["model"]``)."""

    source: str
    kind: str  # one of MODEL_KINDS
    revision: str | None
    weights: str
    weights_random: bool
    model_type: str
    class_name: str  # "class" in JSON
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

    def to_dict(self) -> JSON:
        data: JSON = {"source": self.source, "kind": self.kind}
        _optional(data, preset=self.preset, mirrors=self.mirrors)
        data.update(revision=self.revision, weights=self.weights, weights_random=self.weights_random)
        _optional(data, seed=self.seed, architectures=self.architectures)
        data.update({
            "model_type": self.model_type, "class": self.class_name, "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers, "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size, "patch_size": self.patch_size,
            "image_size": self.image_size, "layer_norm_eps": self.layer_norm_eps, "parameters": self.parameters,
            "export_image_size": self.export_image_size, "position_embeddings": self.position_embeddings,
        })
        return _optional(data, export_peak_rss_gib=self.export_peak_rss_gib, export_seconds=self.export_seconds)

    @classmethod
    def from_dict(cls, data: JSON) -> ModelInfo:
        fields = dict(data)
        fields["class_name"] = fields.pop("class")
        return cls(**fields)


@dataclass(frozen=True)
class FileRecord:
    """One file of the artifact (``manifest["files"][relpath]``)."""

    sha256: str
    bytes: int
    role: str  # one of FILE_ROLES

    def to_dict(self) -> JSON:
        return {"sha256": self.sha256, "bytes": self.bytes, "role": self.role}

    @classmethod
    def from_dict(cls, data: JSON) -> FileRecord:
        return cls(sha256=data["sha256"], bytes=int(data["bytes"]), role=data["role"])


@dataclass
class GraphRecord:
    """An ONNX graph of the artifact (``manifest["graphs"][variant]``). ``tool``, ``calibration``
    and ``quantization`` are provenance written by the precision steps, kept as they come."""

    file: str
    precision: str  # one of PRECISIONS
    targets: list[str]  # "for" in JSON: the backends the graph is meant for
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
    # one of GRAPH_STATUSES: every parity row of this graph at its own precision passed (bf16 mode rows
    # and engines have their own verdicts). None: exported before per-graph verdicts; the artifact's
    # status stands for it.
    status: str | None = None

    @property
    def files(self) -> list[str]:
        """The graph file, then its external data files: everything a session needs."""
        return [self.file, *self.data_files]

    def to_dict(self) -> JSON:
        data: JSON = {"file": self.file, "data_files": list(self.data_files), "precision": self.precision,
                      "for": list(self.targets)}
        _optional(data, tool=self.tool, calibration=self.calibration, quantization=self.quantization,
                  smoothing=self.smoothing, int8_target=self.int8_target, seconds=self.seconds,
                  peak_rss_gib=self.peak_rss_gib, separate_process=self.separate_process, status=self.status)
        data.update(opset=self.opset, nodes=self.nodes, ops=dict(self.ops))
        return data

    @classmethod
    def from_dict(cls, data: JSON) -> GraphRecord:
        fields = dict(data)
        fields["targets"] = list(fields.pop("for"))
        fields["data_files"] = list(fields.get("data_files", []))
        return cls(**fields)


@dataclass(frozen=True)
class EngineProfile:
    """The engine's optimization profile on the batch axis."""

    min: int
    opt: int
    max: int

    def to_dict(self) -> JSON:
        return {"min": self.min, "opt": self.opt, "max": self.max}

    @classmethod
    def from_dict(cls, data: JSON) -> EngineProfile:
        return cls(min=int(data["min"]), opt=int(data["opt"]), max=int(data["max"]))


@dataclass
class EngineRecord:
    """A TensorRT engine of the artifact (``manifest["engines"][variant]``) and the host it needs."""

    file: str
    source_graph: str
    source_sha256: str
    precision: str  # one of PRECISIONS
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    profile: EngineProfile
    hardware_compatibility: str | None = None  # None or one of HARDWARE_COMPATIBILITY
    version_compatible: bool = False
    build_seconds: float | None = None
    status: str | None = None  # one of ENGINE_STATUSES; None: built before engines were parity-checked

    def to_dict(self) -> JSON:
        data: JSON = {
            "file": self.file, "source_graph": self.source_graph, "source_sha256": self.source_sha256,
            "precision": self.precision, "tensorrt_version": self.tensorrt_version, "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability, "profile": self.profile.to_dict(),
            "hardware_compatibility": self.hardware_compatibility, "version_compatible": self.version_compatible,
        }
        return _optional(data, build_seconds=self.build_seconds, status=self.status)

    @classmethod
    def from_dict(cls, data: JSON) -> EngineRecord:
        fields = dict(data)
        fields["profile"] = EngineProfile.from_dict(fields["profile"])
        return cls(**fields)


@dataclass(frozen=True)
class BatchStats:
    """Agreement of one output at one batch size (``parity.per_batch[batch][output]``)."""

    min_cosine: float
    max_abs: float

    def to_dict(self) -> JSON:
        return {"min_cosine": _finite_or_none(self.min_cosine), "max_abs": _finite_or_none(self.max_abs)}

    @classmethod
    def from_dict(cls, data: JSON) -> BatchStats:
        return cls(min_cosine=_float_or(data["min_cosine"], math.nan),
                   max_abs=_float_or(data["max_abs"], math.inf))


@dataclass(frozen=True)
class OutputParity:
    """Worst agreement of one output over every batch size, with its thresholds and verdict."""

    min_cosine: float
    max_abs: float
    mean_abs: float
    cosine_threshold: float
    max_abs_threshold: float | None  # None: reported, not gated
    passed: bool

    def to_dict(self) -> JSON:
        return {"min_cosine": _finite_or_none(self.min_cosine), "max_abs": _finite_or_none(self.max_abs),
                "mean_abs": _finite_or_none(self.mean_abs), "cosine_threshold": self.cosine_threshold,
                "max_abs_threshold": self.max_abs_threshold, "passed": self.passed}

    @classmethod
    def from_dict(cls, data: JSON) -> OutputParity:
        threshold = data["max_abs_threshold"]
        return cls(min_cosine=_float_or(data["min_cosine"], math.nan), max_abs=_float_or(data["max_abs"], math.inf),
                   mean_abs=_float_or(data["mean_abs"], math.inf), cosine_threshold=float(data["cosine_threshold"]),
                   max_abs_threshold=None if threshold is None else float(threshold), passed=bool(data["passed"]))


@dataclass(frozen=True)
class RetrievalResult:
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

    def to_dict(self) -> JSON:
        return {"k": self.k, "images": self.images, "mean_overlap": self.mean_overlap,
                "min_overlap": self.min_overlap, "top1_agreement": self.top1_agreement, "output": self.output,
                "threshold": self.threshold, "passed": self.passed, "image_names": list(self.image_names)}

    @classmethod
    def from_dict(cls, data: JSON) -> RetrievalResult:
        return cls(**{**data, "image_names": list(data["image_names"])})


@dataclass
class ParityResult:
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

    def to_dict(self) -> JSON:
        data: JSON = {
            "graph": self.graph, "precision": self.precision, "backend": self.backend, "reference": self.reference,
            "images": list(self.images), "batch_sizes": list(self.batch_sizes),
            "outputs": {name: o.to_dict() for name, o in self.outputs.items()},
            "per_batch": {b: {name: s.to_dict() for name, s in stats.items()} for b, stats in self.per_batch.items()},
            "passed": self.passed,
        }
        return _optional(data, retrieval=self.retrieval.to_dict() if self.retrieval else None, engine=self.engine)

    @classmethod
    def from_dict(cls, data: JSON) -> ParityResult:
        retrieval = data.get("retrieval")
        return cls(
            graph=data["graph"], precision=data["precision"], backend=data["backend"], reference=data["reference"],
            images=list(data["images"]), batch_sizes=[int(b) for b in data["batch_sizes"]],
            outputs={name: OutputParity.from_dict(o) for name, o in data["outputs"].items()},
            per_batch={b: {name: BatchStats.from_dict(s) for name, s in stats.items()}
                       for b, stats in data["per_batch"].items()},
            passed=bool(data["passed"]),
            retrieval=RetrievalResult.from_dict(retrieval) if retrieval is not None else None,
            engine=data.get("engine"),
        )
