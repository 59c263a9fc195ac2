"""Each exported graph checked against the eager reference on the CPU backends that serve it:
ONNX Runtime (always) and OpenVINO (when installed, plus its bf16 mode on CPUs with native bf16).
Every check appends a parity row to the manifest and writes it, so a miss fails the export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ijepa_deploy.manifest import Manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import RetrievalResult
from ijepa_deploy.runtime.acceptance.parity import ParityCheck

CPU_ONLY = ["CPUExecutionProvider"]  # the graphs' own check; GPU providers get theirs (engine_parity)


def _neighbours(retrieval, candidate, precision: str, progress: Progress) -> RetrievalResult:
    progress.say(f"[parity] neighbour overlap@{retrieval.k} over {len(retrieval.pixels)} images")
    return retrieval(candidate, precision)


@dataclass
class GraphParity:
    """The parity checks of one export: the same reference, photos and neighbour check for every
    graph and backend. Without openvino installed the OpenVINO rows are skipped with a note, once."""

    out: Path
    spec: object
    manifest: Manifest
    reference: object
    pixels: object
    names: list
    retrieval: object
    progress: Progress
    batch_sizes: tuple[int, ...]
    max_batch: int
    threads: int | None = None

    def __post_init__(self):
        from ijepa_deploy.runtime.openvino_runner import cpu_supports_bf16, openvino_status

        self.openvino_available, reason = openvino_status()
        self.bf16 = False
        if not self.openvino_available:
            self._note(f"OpenVINO parity skipped: {reason} (pip install 'ijepa-deploy[openvino]')")
            return
        self.bf16 = cpu_supports_bf16()
        if not self.bf16:
            self._note("OpenVINO bf16 not verified: this CPU has no native bf16 (AVX512_BF16 / AMX); "
                       "load(precision='bf16') refuses this artifact until it is exported on such a CPU")

    def _note(self, message: str) -> None:
        self.progress.say(message)
        self.manifest.notes.append(message)

    def _check(self, candidate, variant: str, precision: str, reference_outputs: dict | None) -> ParityCheck:
        check = ParityCheck(self.reference, candidate, precision, self.batch_sizes,
                            reference_outputs=reference_outputs)
        result = check(self.pixels, self.names, variant, progress=lambda s: self.progress.say(f"[parity] {s}"))
        if self.retrieval is not None:
            result.add_retrieval(_neighbours(self.retrieval, candidate, precision, self.progress))
        self.manifest.parity.append(result)
        self.manifest.write(self.out)
        return check

    def onnxruntime(self, variant: str, precision: str, reference_outputs: dict | None = None) -> ParityCheck:
        """ONNX Runtime CPU parity of one graph; the returned check holds the reference outputs."""
        from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner

        graph = self.out / self.manifest.graphs[variant].file
        with OnnxRuntimeRunner(graph, self.spec, 1, self.max_batch, intra_op_threads=self.threads,
                               providers=CPU_ONLY) as candidate:
            return self._check(candidate, variant, precision, reference_outputs)

    def openvino(self, variant: str, precision: str, reference_outputs: dict) -> None:
        """OpenVINO CPU parity of one graph (f32 hint), and bf16 mode for the fp32 graph."""
        if not self.openvino_available:
            return
        from ijepa_deploy.runtime.openvino_runner import OpenVinoRunner

        graph = self.out / self.manifest.graphs[variant].file
        modes = [("f32", precision)] + ([("bf16", "bf16")] if variant == "fp32" and self.bf16 else [])
        for hint, parity_precision in modes:
            step = "parity " + (variant if hint == "f32" else hint) + " openvino"
            with self.progress.step(step, f"eager PyTorch vs OpenVINO CPU, {hint} inference ({graph.name})"):
                with OpenVinoRunner(graph, self.spec, 1, self.max_batch, inference_precision=hint,
                                    threads=self.threads) as candidate:
                    self._check(candidate, variant, parity_precision, reference_outputs)
