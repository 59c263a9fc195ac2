"""Engines held to the graphs' bar: every TensorRT engine (and every graph run through ONNX
Runtime's CUDA / TensorRT execution providers) gets the same check against eager fp32's saved
outputs as the graphs, plus the neighbour-overlap check, with the thresholds the export used for
the graph it came from.

An engine is checked at batch sizes inside its optimization profile: min, opt, max and an odd size
between (odd sizes catch kernels tuned for even/power-of-two batches). The result is an ordinary
parity entry (the shape ``ParityCheck`` returns) with ``engine`` naming the engine file; the engine
record gets ``status`` ``passed`` or ``failed`` and the runtime refuses anything but ``passed``.

The reference is the artifact's saved outputs (``reference_outputs.npz``), so a GPU host needs no
torch; with the user's own photos, or for an artifact from before saved references, eager fp32 runs
once on the CPU (not the GPU's TF32 convolutions) and is reused for every engine.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ijepa_deploy.errors import BackendUnavailable, IJepaDeployError
from ijepa_deploy.exporters.export_run import ExportRun
from ijepa_deploy.exporters.reference import ReferenceFromModel, eager_from_manifest
from ijepa_deploy.manifest import STATUS_FAILED, STATUS_PASSED, Manifest, verify_files
from ijepa_deploy.manifest_schema import resolve_inside
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import ParityResult
from ijepa_deploy.runtime.acceptance.parity import DEFAULT_BATCH_SIZES, ReferenceParity, export_thresholds
from ijepa_deploy.runtime.acceptance.reference import REFERENCE_FILE, ReferenceOutputs
from ijepa_deploy.runtime.acceptance.retrieval import DEFAULT_IMAGES as REFERENCE_PHOTOS
from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner, gpu_execution_providers, provider_entry
from ijepa_deploy.runtime.preprocess import Preprocessor

ENGINE_UNVERIFIED = "unverified"  # built, parity not run yet (or interrupted); passed/failed as the manifest's


def reference_parity(
    directory: Path, manifest: Manifest, parity_paths: list[Path] | None = None, progress: Progress | None = None
) -> ReferenceParity:
    """The check engines and GPU providers are held to: the artifact's saved reference outputs (no
    torch needed), or with ``parity_paths`` (the user's photos) or an artifact from before saved
    references, eager fp32 computed now from the model the manifest names (torch)."""
    progress = progress or Progress(quiet=True)
    preprocess = Preprocessor(manifest.preprocessing)
    if parity_paths is None and REFERENCE_FILE in manifest.files:
        verify_files(directory, manifest, [REFERENCE_FILE])
        reference = ReferenceOutputs.load(resolve_inside(directory, REFERENCE_FILE))
        return ReferenceParity(reference, reference.pixels(preprocess))
    with progress.step("load eager", f"{manifest.model.source} (the parity reference)"):
        loaded = eager_from_manifest(manifest)
    with progress.step("eager reference", f"eager PyTorch fp32 on {REFERENCE_PHOTOS} photos (CPU)"):
        reference = ReferenceFromModel(
            loaded, manifest.io, manifest.preprocessing, REFERENCE_PHOTOS, max(DEFAULT_BATCH_SIZES), parity_paths
        )()
    return ReferenceParity(reference, reference.pixels(preprocess))


def record_engine_parity(manifest: Manifest, variant: str, result: ParityResult) -> None:
    """Put ``result`` into the parity section (replacing the previous check of the same engine file)
    and set the engine record's status from it."""
    engine = manifest.engines[variant]
    manifest.parity = [r for r in manifest.parity if r.engine != engine.file] + [result]
    engine.status = STATUS_PASSED if result.passed else STATUS_FAILED


# -- ONNX Runtime's GPU execution providers ------------------------------------------------------
def onnxruntime_gpu_parity(
    directory: Path,
    manifest: Manifest,
    parity: ReferenceParity,
    batch_sizes: tuple[int, ...],
    progress: Progress,
    providers: list[str] | None = None,
    open_runner=None,
) -> list[ParityResult]:
    """Each graph ONNX Runtime may serve on a GPU (all but the CPU-only int8-cpu graph) through each
    GPU execution provider present, checked like the CPU run. Returns the parity entries (appended
    to ``manifest.parity``); a provider ORT silently falls back from is an error, not a pass."""
    providers = gpu_execution_providers() if providers is None else providers
    open_runner = open_runner or (
        lambda graph, entry: OnnxRuntimeRunner(
            graph, manifest.io, 1, manifest.batch.max, providers=[entry, "CPUExecutionProvider"]
        )
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="ijepa-ort-trt-cache-") as cache:  # TensorRT EP plans: not artifact files
        for provider in providers:
            name = provider.replace("ExecutionProvider", "").lower()
            for variant, graph in manifest.graphs.items():
                if "onnxruntime-cpu" in graph.targets:
                    continue
                with progress.step(
                    f"parity {variant} {name}", f"eager PyTorch vs ONNX Runtime {provider} ({graph.file})"
                ):
                    path = resolve_inside(Path(directory), graph.file)
                    with open_runner(path, provider_entry(provider, Path(cache))) as runner:
                        if runner.backend != f"onnxruntime-{name}":
                            raise BackendUnavailable(
                                f"ONNX Runtime {provider}",
                                f"session fell back to {runner.backend}",
                                "a working onnxruntime-gpu install (CUDA / cuDNN / TensorRT "
                                "libraries on the library path)",
                            )
                        result = parity(
                            runner,
                            variant,
                            graph.precision,
                            batch_sizes,
                            thresholds=export_thresholds(manifest, variant, graph.precision),
                        )
                manifest.parity.append(result)
                results.append(result)
    return results


def onnxruntime_gpu_step(run: ExportRun, parity: ReferenceParity) -> bool:
    """The export's GPU-provider step. False when a provider could not run a graph at all (a note
    says why); parity misses are in the entries themselves."""
    try:
        onnxruntime_gpu_parity(run.out, run.manifest, parity, tuple(run.opts.batch_sizes), run.progress)
        return True
    except IJepaDeployError as exc:
        run.manifest.notes.append(f"ONNX Runtime GPU parity failed: {exc.format()}")
        run.progress.say(f"[parity] FAILED: {exc.format()}")
        return False
    finally:
        run.manifest.write(run.out)
