"""The manifest's inner records as dataclasses, and the vocabularies their string fields take.
Their JSON form is derived from the fields (:mod:`ijepa_deploy.record_codec`); the JSON Schema
(``schema/manifest.schema.json``) is the contract both languages check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ijepa_deploy.record_codec import JSON, KEEP_NULL, NULL_IS_INF, NULL_IS_NAN, Record

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
