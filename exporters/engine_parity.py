"""Engines held to the graphs' bar: every TensorRT engine (and every graph run through ONNX
Runtime's CUDA / TensorRT execution providers) gets the same ParityCheck against eager fp32 as the
graphs, plus the neighbour-overlap check, with the graphs' per-precision thresholds.

An engine is checked at batch sizes inside its optimization profile: min, opt, max and an odd size
between (odd sizes catch kernels tuned for even/power-of-two batches). The result is an ordinary
parity entry (the shape ``ParityCheck`` returns) with ``engine`` naming the engine file; the engine
record gets ``status`` ``passed`` or ``failed`` and the runtime refuses anything but ``passed``.

Eager fp32 runs on the CPU, as at export: it is the reference, so it must not pick up the GPU's
TF32 convolutions. It runs once per batch of photos and is reused for every engine.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.manifest import STATUS_FAILED, STATUS_PASSED, Manifest
from ijepa_deploy.manifest_schema import resolve_inside
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import EngineProfile, ParityResult
from ijepa_deploy.runtime.runner import Runner
from ijepa_deploy.spec import primary_output

ENGINE_UNVERIFIED = "unverified"  # built, parity not run yet (or interrupted); passed/failed as the manifest's
REFERENCE_CHUNK = 8  # eager batches: bounds the reference's activation memory at max batch 64+
GPU_EXECUTION_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def profile_batch_sizes(profile: EngineProfile) -> tuple[int, ...]:
    """min, opt, max of an engine profile and an odd size strictly between min and max (the one
    nearest their midpoint that is not already listed), ascending."""
    lo, opt, hi = profile.min, profile.opt, profile.max
    sizes = {lo, opt, hi}
    middle = (lo + hi) // 2
    odd = [n for n in range(lo + 1, hi) if n % 2 and n not in sizes]
    if odd:
        sizes.add(min(odd, key=lambda n: (abs(n - middle), n)))
    return tuple(sorted(sizes))


@dataclass
class EagerParity:
    """Parity + neighbour overlap of candidate runners against eager fp32 on the parity photos.

    ``reference`` is the eager runner; None loads the artifact's model from its manifest (hub id,
    local directory or seeded preset) on first use. Reference outputs are computed once for the
    largest count asked and sliced for smaller ones (the photo sequence is deterministic)."""

    manifest: Manifest
    parity_paths: list[Path] | None = None
    retrieval_images: int = 24
    k: int = 5
    reference: Runner | None = None
    progress: Progress = field(default_factory=lambda: Progress(quiet=True))
    _pixels: np.ndarray | None = field(default=None, repr=False)
    _names: list[str] = field(default_factory=list, repr=False)
    _outputs: dict | None = field(default=None, repr=False)

    def _reference(self) -> Runner:
        if self.reference is None:
            from ijepa_deploy.exporters.reference import TorchRunner, eager_from_manifest

            with self.progress.step("load eager", f"{self.manifest.model.source} (the parity reference)"):
                loaded = eager_from_manifest(self.manifest)
            self.reference = TorchRunner(loaded, self.manifest.io, 1, REFERENCE_CHUNK)
        return self.reference

    def photos(self, count: int) -> tuple[np.ndarray, list[str], dict]:
        """``count`` parity photos, their names and eager's outputs on them."""
        if self._pixels is None or len(self._pixels) < count:
            from ijepa_deploy.runtime.photos import photo_batch
            from ijepa_deploy.runtime.preprocess import Preprocessor

            pixels, names = photo_batch(Preprocessor(self.manifest.preprocessing), count, self.parity_paths)
            reference = self._reference()
            with self.progress.step("eager reference", f"eager PyTorch fp32 on {count} photos (CPU)"):
                chunks = [reference.run(pixels[i:i + REFERENCE_CHUNK]) for i in range(0, count, REFERENCE_CHUNK)]
            self._pixels, self._names = pixels, names
            self._outputs = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
        outputs = {name: value[:count] for name, value in self._outputs.items()}
        return self._pixels[:count], self._names[:count], outputs

    def __call__(self, candidate: Runner, graph: str, precision: str, batch_sizes: tuple[int, ...],
                 engine: str | None = None) -> ParityResult:
        from ijepa_deploy.runtime.acceptance.parity import ParityCheck
        from ijepa_deploy.runtime.acceptance.retrieval import RetrievalCheck

        top = max(batch_sizes)
        pixels, names, outputs = self.photos(max(top, self.retrieval_images))
        check = ParityCheck(self._reference(), candidate, precision, tuple(batch_sizes),
                            reference_outputs={name: value[:top] for name, value in outputs.items()})
        result = check(pixels, names, graph, progress=lambda s: self.progress.say(f"[parity] {s}"))
        output = primary_output(self.manifest.task)
        n = self.retrieval_images
        self.progress.say(f"[parity] neighbour overlap@{self.k} over {n} images")
        retrieval = RetrievalCheck(self._reference(), pixels[:n], names[:n], output, self.k,
                                   reference_vectors=outputs[output][:n])
        result.add_retrieval(retrieval(candidate, precision))
        result.engine = engine
        return result


def record_engine_parity(manifest: Manifest, variant: str, result: ParityResult) -> None:
    """Put ``result`` into the parity section (replacing the previous check of the same engine file)
    and set the engine record's status from it."""
    engine = manifest.engines[variant]
    manifest.parity = [r for r in manifest.parity if r.engine != engine.file] + [result]
    engine.status = STATUS_PASSED if result.passed else STATUS_FAILED


# -- ONNX Runtime's GPU execution providers ------------------------------------------------------
def gpu_execution_providers() -> list[str]:
    """The GPU execution providers this onnxruntime build offers (onnxruntime-gpu), in ORT's order."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    return [p for p in GPU_EXECUTION_PROVIDERS if p in available]


def provider_entry(name: str, cache_dir: Path | None) -> object:
    from ijepa_deploy.runtime.onnxruntime_runner import default_providers

    for entry in default_providers(cache_dir):
        if (entry[0] if isinstance(entry, tuple) else entry) == name:
            return entry
    return name


def onnxruntime_gpu_parity(directory: Path, manifest: Manifest, parity: EagerParity, batch_sizes: tuple[int, ...],
                           progress: Progress, providers: list[str] | None = None,
                           open_runner=None) -> list[ParityResult]:
    """Each graph ONNX Runtime may serve on a GPU (all but the CPU-only int8-cpu graph) through each
    GPU execution provider present, checked like the CPU run. Returns the parity entries (appended
    to ``manifest.parity``); a provider ORT silently falls back from is an error, not a pass."""
    from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner

    providers = gpu_execution_providers() if providers is None else providers
    open_runner = open_runner or (lambda graph, entry: OnnxRuntimeRunner(
        graph, manifest.io, 1, manifest.batch.max, providers=[entry, "CPUExecutionProvider"]))
    results = []
    with tempfile.TemporaryDirectory(prefix="ijepa-ort-trt-cache-") as cache:  # TensorRT EP plans: not artifact files
        for provider in providers:
            name = provider.replace("ExecutionProvider", "").lower()
            for variant, graph in manifest.graphs.items():
                if "onnxruntime-cpu" in graph.targets:
                    continue
                with progress.step(f"parity {variant} {name}",
                                   f"eager PyTorch vs ONNX Runtime {provider} ({graph.file})"):
                    path = resolve_inside(Path(directory), graph.file)
                    with open_runner(path, provider_entry(provider, Path(cache))) as runner:
                        if runner.backend != f"onnxruntime-{name}":
                            raise IJepaDeployError(f"ONNX Runtime {provider}", f"session fell back to {runner.backend}",
                                                   "a working onnxruntime-gpu install (CUDA / cuDNN / TensorRT "
                                                   "libraries on the library path)")
                        result = parity(runner, variant, graph.precision, batch_sizes)
                manifest.parity.append(result)
                results.append(result)
    return results


def gpu_parity_reference(manifest: Manifest, reference: Runner, parity_paths: list[Path] | None,
                         batch_sizes: tuple[int, ...], retrieval_images: int, k: int,
                         progress: Progress) -> EagerParity | None:
    """When onnxruntime-gpu offers CUDA / TensorRT execution providers, eager's outputs for their
    check are computed now, while the export's eager model is still loaded. None otherwise."""
    if not gpu_execution_providers():
        return None
    parity = EagerParity(manifest, parity_paths, retrieval_images, k, reference, progress)
    parity.photos(max(max(batch_sizes), retrieval_images))
    return parity


def onnxruntime_gpu_step(directory: Path, manifest: Manifest, parity: EagerParity, batch_sizes: tuple[int, ...],
                         progress: Progress) -> bool:
    """The export's GPU-provider step. False when a provider could not run a graph at all (a note
    says why); parity misses are in the entries themselves."""
    try:
        onnxruntime_gpu_parity(directory, manifest, parity, batch_sizes, progress)
        return True
    except IJepaDeployError as exc:
        manifest.notes.append(f"ONNX Runtime GPU parity failed: {exc.format()}")
        progress.say(f"[parity] FAILED: {exc.format()}")
        return False
    finally:
        manifest.write(directory)
