"""The friendly serve-time API::

    from ijepa_deploy.runtime import load
    model = load("artifacts/ijepa_vith14")          # verifies checksums, picks a backend
    vectors = model.embed(["cat.jpg", pil_image])    # float32 [B, D]
    top5 = model.classify(images, top_k=5)           # classification artifacts

Images may be paths, encoded bytes, PIL images or uint8 arrays; they are preprocessed with the
artifact's contract and run in chunks of at most the artifact's max batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ijepa_deploy.errors import BackendUnavailable, IJepaDeployError, InputError, ParityError
from ijepa_deploy.manifest import STATUS_FAILED, STATUS_PARTIAL, STATUS_PASSED, Manifest, read_manifest
from ijepa_deploy.records import EngineRecord
from ijepa_deploy.runtime import tensorrt_host
from ijepa_deploy.runtime.onnxruntime_runner import (
    OnnxRuntimeRunner,
    onnxruntime_variant,  # noqa: F401  # re-exported: callers import it from runtime.model
)
from ijepa_deploy.runtime.openvino_runner import (
    RUNTIME_PRECISIONS,
    OpenVinoRunner,
    openvino_int8_problem,
    openvino_status,
    openvino_variant,
)
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.runtime.runner import Runner, RunnerOptions
from ijepa_deploy.runtime.tensorrt_runner import TensorRTRunner

# The runner of each backend; each knows which file of an artifact it opens and how (from_artifact).
RUNNERS: dict[str, type[Runner]] = {cls.name: cls for cls in (OnnxRuntimeRunner, OpenVinoRunner, TensorRTRunner)}
BACKENDS = ("auto", *RUNNERS)


def choose_backend(manifest: Manifest, precision: str) -> tuple[str, str]:
    """``backend="auto"``: ``(backend, why)`` for the fastest backend this host can run for
    ``precision`` with a graph or engine that passed its parity check: the artifact's TensorRT engine
    on a GPU host, else OpenVINO (CPU) when it is installed, else ONNX Runtime."""
    reasons = []
    if precision in manifest.engines and manifest.engines[precision].status != STATUS_PASSED:
        reasons.append(f"the {precision} TensorRT engine did not pass its parity check")
    elif precision in manifest.engines:
        available, reason = tensorrt_host.tensorrt_status()
        if available:
            return "tensorrt", f"{precision} TensorRT engine and {reason}"
        reasons.append(f"TensorRT: {reason}")
    else:
        reasons.append(f"no {precision} TensorRT engine in the artifact")
    available, reason = openvino_status()
    variant = openvino_variant(manifest, precision)[0]
    cpu_problem = openvino_int8_problem(manifest, variant)
    if available and variant in manifest.graphs and graph_status(manifest, variant) != STATUS_PASSED:
        reasons.append(f"OpenVINO: the {variant} graph did not pass its parity check")
    elif available and cpu_problem:
        reasons.append("OpenVINO: this CPU has no int8 dot products (VNNI / AMX)")
    elif available:
        return "openvino", "; ".join([*reasons, f"{reason} on CPU"])
    else:
        reasons.append(f"OpenVINO: {reason}")
    if precision in RUNTIME_PRECISIONS:
        raise BackendUnavailable(
            f"precision {precision}",
            f"needs OpenVINO ({'; '.join(reasons[-1:])})",
            "pip install 'ijepa-deploy[openvino]', or precision fp32 / int8",
        )
    return "onnxruntime", "; ".join(reasons)


def graph_variant(manifest: Manifest, backend: str, precision: str, providers: list | None = None) -> str:
    """The graph ``backend`` ("onnxruntime" or "openvino") runs for ``precision``."""
    return RUNNERS[backend].variant_for(manifest, precision, RunnerOptions(providers=providers))


def parity_passed(manifest: Manifest, graph: str, precision: str, backend_prefix: str) -> bool:
    """Whether the export recorded a passed parity row for this graph, precision and backend."""
    return any(
        r.graph == graph and r.precision == precision and r.passed and r.backend.startswith(backend_prefix)
        for r in manifest.parity
    )


def open_runner(
    directory: Path,
    manifest: Manifest,
    backend: str = "onnxruntime",
    precision: str = "fp32",
    verify: bool = True,
    *,
    variant: str | None = None,
    allow_unverified: bool = False,
    options: RunnerOptions | None = None,
) -> Runner:
    """Build the runner for one graph (or engine) of an artifact, after its gates
    (:func:`check_verified`) and its files' checksums. ``backend="auto"`` picks one with
    :func:`choose_backend`; the runner's ``choice`` says why. ``variant`` names the graph (TensorRT:
    the engine) to run instead of the one ``backend`` runs for ``precision`` (e.g. the S8S8 "int8"
    graph on ONNX Runtime on a CPU host, where precision int8 means the int8-cpu graph)."""
    directory = Path(directory)
    options = options if options is not None else RunnerOptions()
    if backend not in BACKENDS:
        raise InputError("backend", f"unknown backend {backend!r}", f"one of {BACKENDS}")
    if variant is not None and backend == "auto":
        raise InputError(
            f"variant {variant}",
            "names a graph of one backend, and backend auto picks the backend",
            f"a backend of {tuple(RUNNERS)} with a variant",
        )
    choice = f"{backend} (requested)"
    if backend == "auto":
        backend, why = choose_backend(manifest, precision)
        choice = f"{backend} (auto: {why})"
    if precision in RUNTIME_PRECISIONS and backend != "openvino":
        raise InputError(
            f"precision {precision}",
            f"is an OpenVINO inference mode; {backend} has no bf16",
            "backend openvino (or auto) for bf16",
        )
    runner_class = RUNNERS[backend]
    variant = variant or runner_class.variant_for(manifest, precision, options)
    check_verified(directory, manifest, backend, precision, variant=variant, allow_unverified=allow_unverified)
    runner = runner_class.from_artifact(
        directory, manifest, variant, options, precision=precision, verify=verify, allow_unverified=allow_unverified
    )
    runner.choice = choice
    return runner


class DeployedModel:
    def __init__(self, directory: Path, manifest: Manifest, runner: Runner):
        self.directory = Path(directory)
        self.manifest = manifest
        self.runner = runner
        self.preprocess = Preprocessor(manifest.preprocessing)

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def backend(self) -> str:
        """The backend that runs, e.g. ``openvino-cpu``, ``onnxruntime-cpu``, ``tensorrt``."""
        return self.runner.backend

    @property
    def choice(self) -> str:
        """How the backend was chosen: requested, or ``auto`` with the reason."""
        return getattr(self.runner, "choice", self.runner.backend)

    @property
    def max_batch(self) -> int:
        return self.runner.max_batch

    def run(self, pixel_values: np.ndarray) -> dict[str, np.ndarray]:
        """Run preprocessed pixels of any batch size, in chunks the engine accepts."""
        if not isinstance(pixel_values, np.ndarray) or pixel_values.ndim != 4 or len(pixel_values) == 0:
            return self.runner.run(pixel_values)  # the runner's check gives the precise error
        chunks = [
            self.runner.run(pixel_values[i : i + self.max_batch]) for i in range(0, len(pixel_values), self.max_batch)
        ]
        return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}

    def embed(self, images) -> np.ndarray:
        """Pooled embeddings (mean over tokens of the last hidden state), float32 [B, D]."""
        if self.task != "feature-extraction":
            raise InputError(
                str(self.directory),
                f"artifact task is {self.task}",
                "a feature-extraction artifact for embed() (use classify())",
            )
        return self.run(self.preprocess(images))["embedding"]

    def classify(self, images, top_k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-k (label, probability) per image."""
        if self.task != "image-classification":
            raise InputError(
                str(self.directory),
                f"artifact task is {self.task}",
                "an image-classification artifact for classify() (use embed())",
            )
        logits = self.run(self.preprocess(images))["logits"].astype(np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        k = max(1, min(int(top_k), probs.shape[1]))
        order = np.argsort(-probs, axis=1)[:, :k]
        labels = self.manifest.id2label or {}
        return [[(labels.get(str(i), str(i)), float(p[i])) for i in row] for p, row in zip(probs, order)]

    def close(self) -> None:
        self.runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load(
    directory,
    backend: str = "onnxruntime",
    precision: str = "fp32",
    *,
    verify: bool = True,
    allow_unverified: bool = False,
    options: RunnerOptions | None = None,
    **keywords,
) -> DeployedModel:
    """Open an artifact directory. Refuses, unless ``allow_unverified`` (for debugging), an artifact
    whose fp32 graph did not pass its parity check, a graph or TensorRT engine that did not pass its
    own (the others of a ``partial`` artifact stay usable), and, unless ``allow_engine_host_code``,
    version-compatible TensorRT engines (they run host code from the engine file). ``backend`` is
    one of ``BACKENDS``; ``"auto"`` picks the fastest verified one this host has (see
    :func:`choose_backend`); the library default stays ``onnxruntime`` so installing an optional
    engine never changes a caller's numerics. How it runs is ``options``, or the same as keywords
    (``threads=4``, ``providers=[...]``, ``performance_hint="THROUGHPUT"``, ``max_concurrency=4``: the
    fields of :class:`RunnerOptions`; keywords override ``options``' fields; an unknown one, or one
    the backend that runs does not read, is refused with :class:`InputError`)."""
    directory = Path(directory)
    options = RunnerOptions.from_keywords(options, **keywords)  # the public API's keywords, checked once
    manifest = read_manifest(directory)
    runner = open_runner(
        directory, manifest, backend, precision, verify, allow_unverified=allow_unverified, options=options
    )
    return DeployedModel(directory, manifest, runner)


# -- the parity gates: one home for load(), ijepa-triton-repo and ijepa-bench ------------------------
ALLOW_UNVERIFIED = "allow_unverified=True"


def artifact_problem(
    directory: Path, manifest: Manifest, how_to_allow: str = ALLOW_UNVERIFIED
) -> IJepaDeployError | None:
    """Why nothing of the artifact may be served (its fp32 graph did not pass, or the export never
    finished), or None. A ``partial`` artifact serves the graphs and engines that passed."""
    if manifest.status in (STATUS_PASSED, STATUS_PARTIAL):
        return None
    return ParityError(
        str(directory),
        f"artifact status is {manifest.status!r}: its parity check did not pass",
        f"an artifact with status 'passed' (see the manifest's parity section; {how_to_allow} to inspect it anyway)",
    )


def graph_status(manifest: Manifest, variant: str) -> str:
    """A graph's parity verdict; artifacts from before per-graph verdicts: the artifact's."""
    status = manifest.graphs[variant].status
    if status is not None:
        return status
    return STATUS_PASSED if manifest.status == STATUS_PASSED else STATUS_FAILED


def usable_graphs(manifest: Manifest) -> list[str]:
    """The graphs a runtime may open without ``allow_unverified``."""
    if manifest.status not in (STATUS_PASSED, STATUS_PARTIAL):
        return []
    return [v for v in manifest.graphs if graph_status(manifest, v) == STATUS_PASSED]


def graph_problem(
    directory: Path, manifest: Manifest, variant: str, how_to_allow: str = ALLOW_UNVERIFIED
) -> IJepaDeployError | None:
    """Why one graph may not be served (it did not pass its own parity check), or None."""
    if variant not in manifest.graphs or graph_status(manifest, variant) == STATUS_PASSED:
        return None  # a missing graph is reported by whoever opens it
    status, graph = graph_status(manifest, variant), manifest.graphs[variant]
    what = (
        "FAILED its parity check against eager PyTorch"
        if status == STATUS_FAILED
        else f"was never checked against eager PyTorch (status {status!r})"
    )
    usable = ", ".join(usable_graphs(manifest)) or "none"
    return ParityError(
        str(directory),
        f"graph {graph.file} ({variant}) {what}",
        f"a graph that passed (usable in this artifact: {usable}; see the manifest's parity "
        f"section; {how_to_allow} to inspect it anyway)",
    )


def engine_problem(
    directory: Path, record: EngineRecord, precision: str, how_to_allow: str = ALLOW_UNVERIFIED
) -> IJepaDeployError | None:
    """Engines are checked against eager PyTorch when ijepa-build builds them; serve only those
    that passed (an engine from an older ijepa-build has no status: it was never checked)."""
    status = record.status
    if status == STATUS_PASSED:
        return None
    what = (
        "FAILED its parity check against eager PyTorch"
        if status == STATUS_FAILED
        else f"was never checked against eager PyTorch (status {status!r})"
    )
    return ParityError(
        str(directory),
        f"TensorRT engine {record.file} {what}",
        "an engine with status 'passed' (see the manifest's parity section; rebuild and "
        f"check it with: ijepa-build {directory} --variant {precision}; "
        f"{how_to_allow} to inspect it anyway)",
    )


def bf16_problem(directory: Path, manifest: Manifest, how_to_allow: str = ALLOW_UNVERIFIED) -> IJepaDeployError | None:
    """bf16 is OpenVINO's inference mode of the fp32 graph: served only with a passed bf16 row."""
    if parity_passed(manifest, RUNTIME_PRECISIONS["bf16"], "bf16", "openvino"):
        return None
    return ParityError(
        str(directory),
        "bf16 was not verified at export (no passed OpenVINO bf16 parity row in the manifest)",
        f"an artifact exported with openvino installed on a CPU with bf16 ({how_to_allow} to run it anyway)",
    )


def check_verified(
    directory: Path,
    manifest: Manifest,
    backend: str,
    precision: str,
    *,
    variant: str | None = None,
    providers: list | None = None,
    allow_unverified: bool = False,
    how_to_allow: str = ALLOW_UNVERIFIED,
) -> list[str]:
    """The gates every runtime entry point applies before opening anything: the artifact is
    servable (fp32 passed), and so is what ``backend`` would run for ``precision``: its graph or
    TensorRT engine (or the given ``variant``: that graph or engine), or the bf16 mode. Raises the first failure unless
    ``allow_unverified``; then returns every failure's text (empty: verified) for the caller to say
    loudly what it runs."""
    if backend == "auto":
        backend = choose_backend(manifest, precision)[0]
    problems = [artifact_problem(directory, manifest, how_to_allow)]
    engine = variant or precision  # TensorRT: the engine key
    if backend == "tensorrt" and engine in manifest.engines:
        problems.append(engine_problem(directory, manifest.engines[engine], engine, how_to_allow))
    elif backend in ("onnxruntime", "openvino"):
        graph = variant or graph_variant(manifest, backend, precision, providers)
        problems.append(graph_problem(directory, manifest, graph, how_to_allow))
        if backend == "openvino" and precision in RUNTIME_PRECISIONS:
            problems.append(bf16_problem(directory, manifest, how_to_allow))
    found = [p for p in problems if p is not None]
    if found and not allow_unverified:
        raise found[0]
    return [p.problem for p in found]
