"""Accept an artifact on the host that serves it (``ijepa-check``), without torch: every graph and
engine this host can run is checked against the export's saved reference outputs with the
export's own thresholds and batch sizes (engines: their profile's), plus the neighbour check for
reduced precisions, exactly as ``ijepa-export`` and ``ijepa-build`` checked them.

What runs where: ONNX Runtime's CPU provider every graph; OpenVINO (when installed) every graph,
its int8 graphs only on CPUs with int8 dot products, and the fp32 graph's bf16 mode on CPUs with
native bf16; ONNX Runtime's CUDA / TensorRT providers (onnxruntime-gpu) every graph not meant for
CPUs only; TensorRT every engine (TensorRT and a GPU present). What this host cannot run is listed
with the reason, so a short table is never mistaken for a complete one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ijepa_deploy.errors import ArtifactError, BackendUnavailable, IJepaDeployError, InputError
from ijepa_deploy.manifest import STATUS_FAILED, STATUS_PASSED, Manifest, read_manifest, verify_files
from ijepa_deploy.manifest_schema import resolve_inside
from ijepa_deploy.records import ParityResult
from ijepa_deploy.runtime.acceptance.parity import (
    DEFAULT_BATCH_SIZES,
    ReferenceParity,
    export_thresholds,
    profile_batch_sizes,
)
from ijepa_deploy.runtime.acceptance.reference import REFERENCE_FILE, ReferenceOutputs
from ijepa_deploy.runtime.cpu_features import int8_dot_product
from ijepa_deploy.runtime.model import open_runner
from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner, gpu_execution_providers, provider_entry
from ijepa_deploy.runtime.openvino_runner import OpenVinoRunner, cpu_supports_bf16, openvino_status
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.runtime.runner import Runner, RunnerOptions
from ijepa_deploy.runtime.tensorrt_host import tensorrt_status

BACKENDS = ("onnxruntime", "openvino", "tensorrt")


@dataclass(frozen=True)
class Candidate:
    """One thing to check: a graph on a backend (``precision`` bf16: OpenVINO's bf16 mode of the
    fp32 graph) or a TensorRT engine (``engine``: its variant)."""

    backend: str  # onnxruntime-cpu, onnxruntime-cuda, onnxruntime-tensorrt, openvino-cpu, tensorrt
    graph: str
    precision: str
    engine: str | None = None

    def label(self, manifest: Manifest) -> str:
        """e.g. ``int8 graph (model_int8.onnx) on onnxruntime-cpu``."""
        if self.engine:
            what = f"{self.engine} engine ({manifest.engines[self.engine].file})"
        else:
            what = f"{self.graph} graph ({manifest.graphs[self.graph].file})"
        mode = f" in {self.precision} mode" if self.precision == "bf16" else ""
        return f"{what}{mode} on {self.backend}"

    def family(self) -> str:
        return self.backend.split("-")[0]


@dataclass
class HostCheck:
    """What :func:`check_artifact` found: one parity row per candidate, and what was not run."""

    directory: Path
    manifest: Manifest  # the artifact's, with ``parity`` replaced by this host's rows
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failed and bool(self.manifest.parity)


def _openvino_host() -> tuple[bool, str, bool]:
    available, reason = openvino_status()
    return available, reason, available and cpu_supports_bf16()


def _tensorrt_host() -> tuple[bool, str]:
    return tensorrt_status()


def candidates(manifest: Manifest) -> tuple[list[Candidate], list[str]]:
    """Everything this host can check, and a line for each kind it cannot (with the reason)."""
    found: list[Candidate] = []
    skipped: list[str] = []
    openvino, why_not_ov, bf16 = _openvino_host()
    gpu = gpu_execution_providers()
    for variant, graph in manifest.graphs.items():
        found.append(Candidate("onnxruntime-cpu", variant, graph.precision))
        if openvino and (graph.precision != "int8" or int8_dot_product()):
            found.append(Candidate("openvino-cpu", variant, graph.precision))
        if openvino and variant == "fp32" and bf16:
            found.append(Candidate("openvino-cpu", variant, "bf16"))
        if "onnxruntime-cpu" not in graph.targets:
            found += [Candidate(f"onnxruntime-{_provider_name(p)}", variant, graph.precision) for p in gpu]
    if not openvino:
        skipped.append(f"OpenVINO rows: {why_not_ov} (pip install 'ijepa-deploy[openvino]')")
    else:
        if any(g.precision == "int8" for g in manifest.graphs.values()) and not int8_dot_product():
            skipped.append(
                "OpenVINO int8 rows: this CPU has no int8 dot products (VNNI / AMX); the runtime "
                "refuses OpenVINO int8 here"
            )
        if "fp32" in manifest.graphs and not bf16:
            skipped.append("OpenVINO bf16 mode: this CPU has no native bf16")
    if not gpu:
        skipped.append("ONNX Runtime GPU providers: this onnxruntime has none (onnxruntime-gpu on a CUDA host)")
    if manifest.engines:
        available, why = _tensorrt_host()
        if available:
            found += [Candidate("tensorrt", e.source_graph, e.precision, engine=v) for v, e in manifest.engines.items()]
        else:
            skipped.append(f"TensorRT engines ({', '.join(e.file for e in manifest.engines.values())}): {why}")
    return found, skipped


def _provider_name(provider: str) -> str:
    return provider.replace("ExecutionProvider", "").lower()


def open_candidate(
    directory: Path,
    manifest: Manifest,
    candidate: Candidate,
    threads: int | None = None,
    allow_engine_host_code: bool = False,
) -> Runner:
    """The runner the export checked the graph with (same classes, providers and settings), or the
    runtime's TensorRT runner for an engine. Acceptance opens what failed too: it re-measures."""
    if candidate.engine is not None:
        return open_runner(
            directory,
            manifest,
            "tensorrt",
            candidate.engine,
            verify=False,
            allow_unverified=True,
            options=RunnerOptions(allow_engine_host_code=allow_engine_host_code),
        )

    def graph(runner_class: type[Runner], options: RunnerOptions) -> Runner:
        # past the gates (allow_unverified) and checksums: acceptance re-measures what the graph does;
        # precision bf16 is OpenVINO's bf16 mode of the graph
        return runner_class.from_artifact(
            directory,
            manifest,
            candidate.graph,
            options,
            precision=candidate.precision,
            verify=False,
            allow_unverified=True,
        )

    if candidate.backend == "openvino-cpu":
        return graph(OpenVinoRunner, RunnerOptions(threads=threads))
    if candidate.backend == "onnxruntime-cpu":
        return graph(OnnxRuntimeRunner, RunnerOptions(intra_op_threads=threads, providers=["CPUExecutionProvider"]))
    provider = next(p for p in gpu_execution_providers() if candidate.backend.endswith(_provider_name(p)))
    runner = graph(OnnxRuntimeRunner, RunnerOptions(providers=[provider_entry(provider, None), "CPUExecutionProvider"]))
    if runner.backend != candidate.backend:
        raise BackendUnavailable(
            f"ONNX Runtime {provider}",
            f"session fell back to {runner.backend}",
            "a working onnxruntime-gpu install (CUDA / cuDNN / TensorRT libraries)",
        )
    return runner


def saved_reference(directory: Path, manifest: Manifest) -> ReferenceParity:
    """The artifact's saved reference outputs, checksum-verified, with this host's pixels."""
    if REFERENCE_FILE not in manifest.files:
        raise ArtifactError(
            str(directory),
            f"no {REFERENCE_FILE} in the manifest (exported before saved reference outputs)",
            "an artifact exported by this version of ijepa-export (re-export), or "
            "ijepa-build --parity-images DIR on a host with torch",
        )
    verify_files(directory, manifest, [REFERENCE_FILE])
    reference = ReferenceOutputs.load(resolve_inside(directory, REFERENCE_FILE))
    return ReferenceParity(reference, reference.pixels(Preprocessor(manifest.preprocessing)))


def _batch_sizes(manifest: Manifest, candidate: Candidate) -> tuple[int, ...]:
    if candidate.engine is not None:
        return profile_batch_sizes(manifest.engines[candidate.engine].profile)
    row = next((r for r in manifest.parity if r.graph == candidate.graph and r.engine is None), None)
    return tuple(row.batch_sizes) if row else DEFAULT_BATCH_SIZES


def check_artifact(
    directory: Path,
    backends: tuple[str, ...] = BACKENDS,
    precisions: tuple[str, ...] = (),
    threads: int | None = None,
    allow_engine_host_code: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> HostCheck:
    """Check every candidate of ``backends`` (and of ``precisions``: a precision or graph name, all
    when empty) against the saved reference outputs; every artifact file's checksum first."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    verify_files(directory, manifest)
    check = saved_reference(directory, manifest)
    found, skipped = candidates(manifest)
    chosen = [
        c
        for c in found
        if c.family() in backends
        and (not precisions or c.precision in precisions or c.graph in precisions or c.engine in precisions)
    ]
    if not chosen:
        raise InputError(
            str(directory),
            "nothing this host can check matches --backend / --precision",
            f"one of: {', '.join(c.label(manifest) for c in found) or 'none'}",
        )
    rows: list[ParityResult] = []
    failed = []
    for candidate in chosen:
        say(f"[check] {candidate.label(manifest)}")
        engine_file = manifest.engines[candidate.engine].file if candidate.engine else None
        try:
            with open_candidate(directory, manifest, candidate, threads, allow_engine_host_code) as runner:
                row = check(
                    runner,
                    candidate.graph,
                    candidate.precision,
                    _batch_sizes(manifest, candidate),
                    thresholds=export_thresholds(manifest, candidate.graph, candidate.precision),
                    neighbours=candidate.precision != "fp32" or candidate.engine is not None,
                    engine=engine_file,
                    progress=lambda s: say(f"[check] {s}"),
                )
        except IJepaDeployError as exc:  # it could not even run here: that is a failure of this host's check
            failed.append(f"{candidate.label(manifest)}: {exc.problem}")
            continue
        rows.append(row)
        if not row.passed:
            failed.append(candidate.label(manifest))
    host = copy.copy(manifest)
    host.parity = rows
    host.status = STATUS_PASSED if not failed and rows else STATUS_FAILED
    return HostCheck(directory, host, skipped, failed)
