"""OpenVINO backend (CPU): runs the artifact's OpenVINO IR of a graph (``.xml``, its ``.bin``
mapped from disk) or, for artifacts without one, the ONNX graph (external data read beside it).

OpenVINO is an optional extra (``pip install 'ijepa-deploy[openvino]'``), imported only when this
runner is built. The graph is compiled once, with the batch bounded to the artifact's range and the
inference precision set explicitly: ``f32`` for the fp32/fp16/int8 graphs, because on CPUs with
AVX512_BF16 or AMX OpenVINO picks bf16 by itself when no hint is given; ``bf16`` only when asked
for, and refused on CPUs without native bf16 rather than emulated. The precision that actually
runs is read back from the compiled model (``inference_precision``).

Concurrency: one compiled model, a fixed pool of infer requests (OpenVINO's optimal number for the
compiled configuration; 1 under the default LATENCY hint, where the CPU plugin runs one stream and
would serialise requests anyway). A call takes a free request, runs it synchronously (OpenVINO
releases the GIL) and returns it; outputs are copied out of the request before it is reused.
Callers beyond the pool size wait for a free request, so memory stays bounded.
"""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import ArtifactError, BackendError, BackendUnavailable, IJepaDeployError, InputError
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.records import GraphRecord
from ijepa_deploy.runtime.cpu_features import int8_dot_product
from ijepa_deploy.runtime.runner import Runner, RunnerOptions
from ijepa_deploy.spec import ExportSpec

INSTALL_HINT = "the openvino package (pip install 'ijepa-deploy[openvino]')"
INFERENCE_PRECISIONS = ("f32", "bf16")
# LATENCY: one stream using every thread (one call at a time is fastest). THROUGHPUT: several
# streams, each running its own infer request: for callers that keep several batches in flight
# (ijepa-embed-dataset), the pool then holds OpenVINO's optimal number of requests.
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
# Precisions that are a runtime mode rather than a graph: bf16 runs the fp32 graph with OpenVINO's
# bf16 inference hint (CPUs with AVX512_BF16 / AMX only).
RUNTIME_PRECISIONS = {"bf16": "fp32"}


def _import_openvino():
    import openvino

    return openvino


def openvino_status() -> tuple[bool, str]:
    """``(True, "OpenVINO 2026.4.1")`` or ``(False, plain reason)``. Never raises."""
    try:
        ov = _import_openvino()
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "openvino":
            return False, "openvino not installed"
        return False, f"openvino is installed but cannot be imported ({exc})"
    except Exception as exc:  # a broken wheel (missing shared library) raises OSError and friends
        return False, f"openvino is installed but cannot be imported ({exc})"
    return True, f"OpenVINO {getattr(ov, '__version__', '?').split('-')[0]}"


def cpu_capabilities(core) -> list[str]:
    return [str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def cpu_supports_bf16(core=None) -> bool:
    """True when OpenVINO's CPU plugin reports native bf16 (AVX512_BF16 or AMX)."""
    if core is None:
        core = _import_openvino().Core()
    return "BF16" in cpu_capabilities(core)


def openvino_variant(manifest: Manifest, precision: str) -> tuple[str, str]:
    """``(graph, inference precision)`` OpenVINO runs for ``precision``. The manifest says which graph
    is meant for OpenVINO (its record's ``for`` lists "openvino"); the C++ runtime applies the same
    rule. "int8" is the S8S8 (TensorRT Q/DQ) graph: OpenVINO runs it faster than the U8S8 int8-cpu
    graph on CPUs with VNNI or AMX (benchmarks/README.md); a graph variant named explicitly (e.g.
    "int8-cpu") is that graph."""
    if precision in RUNTIME_PRECISIONS:
        return RUNTIME_PRECISIONS[precision], precision
    meant = [v for v, g in manifest.graphs.items() if g.precision == precision and "openvino" in g.targets]
    return (meant[0] if meant else precision), "f32"


def openvino_int8_problem(manifest: Manifest, variant: str) -> str | None:
    """Why OpenVINO should not run an INT8 graph on this CPU, or None. Without VNNI / AMX its int8
    kernels add u8 x s8 products in saturating 16-bit sums (measured on an AVX2 EPYC: embedding
    cosine 0.989 where ONNX Runtime gives 0.9993 on the same graph) and run slower than its fp32."""
    graph = manifest.graphs.get(variant)
    if graph is None or graph.precision != "int8" or int8_dot_product():
        return None
    return (
        "this CPU has no int8 dot products (VNNI / AMX): OpenVINO's int8 kernels saturate 16-bit sums here "
        "and run slower than its fp32"
    )


def _check_options(inference_precision: str, performance_hint: str) -> None:
    if inference_precision not in INFERENCE_PRECISIONS:
        raise InputError("OpenVINO inference precision", f"{inference_precision!r}", f"one of {INFERENCE_PRECISIONS}")
    if performance_hint not in PERFORMANCE_HINTS:
        raise InputError("OpenVINO performance hint", f"{performance_hint!r}", f"one of {PERFORMANCE_HINTS}")


def _open_core(inference_precision: str):
    """``(openvino module, Core)``, refusing bf16 on a CPU that would only emulate it."""
    try:
        ov = _import_openvino()
    except ImportError as exc:
        raise BackendUnavailable("backend openvino", f"openvino cannot be imported ({exc})", INSTALL_HINT) from None
    core = ov.Core()
    if inference_precision == "bf16" and not cpu_supports_bf16(core):
        raise BackendUnavailable(
            "precision bf16",
            "this CPU has no native bf16 (OpenVINO reports "
            f"{cpu_capabilities(core)}); OpenVINO would emulate it, slower than fp32",
            "a CPU with AVX512_BF16 or AMX for bf16, or precision fp32 / int8 here",
        )
    return ov, core


def _read_model(core, graph: Path, spec: ExportSpec):
    """The graph as an OpenVINO model, which must have every output the manifest names."""
    try:
        model = core.read_model(str(graph))
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses; report which file
        raise BackendError(
            str(graph),
            f"OpenVINO cannot read the graph ({exc})",
            "a graph written by ijepa-export, its .data / .bin file beside it",
        ) from None
    names = {n for o in model.outputs for n in o.get_names()}
    missing = [n for n in spec.output_names if n not in names]
    if missing:
        raise ArtifactError(str(graph), f"graph lacks outputs {missing}", f"outputs {spec.output_names}")
    return model


def _compile(core, model, graph: Path, inference_precision: str, performance_hint: str, threads: int | None):
    """``model`` compiled for the CPU, refused if OpenVINO runs another precision than asked for."""
    config: dict[str, str | int] = {
        "INFERENCE_PRECISION_HINT": inference_precision,
        "PERFORMANCE_HINT": performance_hint,
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    try:
        compiled = core.compile_model(model, "CPU", config)
    except Exception as exc:
        raise BackendError(
            str(graph), f"OpenVINO cannot compile the graph for CPU ({exc})", "a graph written by ijepa-export"
        ) from None
    ran = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    if ran != inference_precision:  # never run a precision the caller did not ask for
        raise BackendUnavailable(
            str(graph), f"OpenVINO compiled with inference precision {ran}", f"{inference_precision} as requested"
        )
    return compiled


class OpenVinoRunner(Runner):
    backend = "openvino-cpu"
    name = "openvino"
    options_used = frozenset({"performance_hint"})

    def __init__(
        self,
        graph: Path,
        spec: ExportSpec,
        min_batch: int = 1,
        max_batch: int = 64,
        *,
        inference_precision: str = "f32",
        threads: int | None = None,
        performance_hint: str = "LATENCY",
    ):
        super().__init__(spec, min_batch, max_batch)
        self.graph = Path(graph)
        _check_options(inference_precision, performance_hint)
        ov, core = _open_core(inference_precision)
        model = _read_model(core, graph, spec)
        # Bound the dynamic batch to the artifact's range; the other axes are fixed in the spec.
        model.reshape(
            {
                t.name: ov.PartialShape(
                    [ov.Dimension(self.min_batch, self.max_batch), *(ov.Dimension(d) for d in t.shape[1:])]
                )
                for t in spec.inputs
            }
        )
        self.compiled = _compile(core, model, graph, inference_precision, performance_hint, threads)
        self.inference_precision = inference_precision  # _compile checked that it is what runs
        self.threads = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))
        self.output_names = spec.output_names
        size = max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._idle: queue.Queue = queue.Queue()
        for _ in range(size):
            self._idle.put(self.compiled.create_infer_request())
        self.pool_size = size

    @classmethod
    def variant_for(cls, manifest: Manifest, precision: str, options: RunnerOptions) -> str:
        return openvino_variant(manifest, precision)[0]

    @classmethod
    def graph_files(cls, record: GraphRecord) -> list[str]:
        return record.openvino_files  # its IR when the export wrote one: less memory than the ONNX graph

    @classmethod
    def _from_artifact(
        cls,
        directory: Path,
        manifest: Manifest,
        variant: str,
        options: RunnerOptions,
        *,
        precision: str,
        verify: bool,
        allow_unverified: bool,
    ) -> OpenVinoRunner:
        graph = cls.artifact_graph(directory, manifest, variant, verify)
        problem = openvino_int8_problem(manifest, variant)
        if problem and not allow_unverified:
            raise BackendUnavailable(
                f"precision {precision} on OpenVINO",
                problem,
                "backend onnxruntime for int8 on this CPU (its int8-cpu graph never "
                "saturates), or precision fp32 (allow_unverified=True runs it anyway)",
            )
        hint = precision if precision in RUNTIME_PRECISIONS else "f32"  # bf16: an inference mode, not a graph
        return cls(
            graph,
            manifest.io,
            manifest.batch.min,
            manifest.batch.max,
            inference_precision=hint,
            threads=options.threads,
            performance_hint=options.performance_hint or "LATENCY",
        )

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._idle is None:
            raise IJepaDeployError("openvino runner", "is closed", "a runner that is open (load the model again)")
        request = self._idle.get()
        try:
            # share_inputs: the checked arrays are contiguous and outlive this synchronous call;
            # share_outputs=False copies results out before the request goes back to the pool.
            result = request.infer(feed, share_inputs=True, share_outputs=False)
            return {name: result[name] for name in self.output_names}
        finally:
            self._idle.put(request)

    def close(self) -> None:
        self._idle = None  # type: ignore[assignment]  # run() after close() fails loudly
        self.compiled = None
