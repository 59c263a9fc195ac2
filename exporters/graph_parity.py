"""Each exported graph checked against eager fp32's saved outputs on the CPU backends that serve
it: ONNX Runtime (always) and OpenVINO (when installed, plus its bf16 mode on CPUs with native
bf16; its int8 kernels only on CPUs with int8 dot products). Every check appends a parity row to
the manifest and writes it; each ONNX Runtime session or OpenVINO compiled model is released
before the next one is made, so the export holds one engine's memory at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ijepa_deploy.manifest import Manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime.acceptance.parity import ReferenceParity
from ijepa_deploy.runtime.cpu_features import int8_dot_product
from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner
from ijepa_deploy.runtime.openvino_runner import OpenVinoRunner, cpu_supports_bf16, openvino_status

CPU_ONLY = ["CPUExecutionProvider"]  # the graphs' own check; GPU providers get theirs (engine_parity)


@dataclass
class GraphParity:
    """The parity checks of one export: one saved reference for every graph and backend. Without
    openvino installed the OpenVINO rows are skipped with a note, once."""

    out: Path
    spec: object
    manifest: Manifest
    check: ReferenceParity
    progress: Progress
    batch_sizes: tuple[int, ...]
    max_batch: int
    threads: int | None = None
    thresholds: dict[str, dict] = field(default_factory=dict)  # per precision: the export's own, e.g. INT8's target

    def __post_init__(self):
        self.openvino_available, reason = openvino_status()
        self.bf16 = self.int8 = False
        if not self.openvino_available:
            self._note(f"OpenVINO parity skipped: {reason} (pip install 'ijepa-deploy[openvino]')")
            return
        self.bf16 = cpu_supports_bf16()
        self.int8 = int8_dot_product()
        if not self.bf16:
            self._note("OpenVINO bf16 not verified: this CPU has no native bf16 (AVX512_BF16 / AMX); "
                       "load(precision='bf16') refuses this artifact until it is exported on such a CPU")

    def _note(self, message: str) -> None:
        self.progress.say(message)
        self.manifest.notes.append(message)

    def _check(self, candidate, variant: str, precision: str) -> None:
        result = self.check(candidate, variant, precision, self.batch_sizes,
                            thresholds=self.thresholds.get(precision), neighbours=precision != "fp32",
                            progress=lambda s: self.progress.say(f"[parity] {s}"))
        self.manifest.parity.append(result)
        self.manifest.write(self.out)

    def onnxruntime(self, variant: str, precision: str) -> None:
        """ONNX Runtime CPU parity of one graph."""
        graph = self.out / self.manifest.graphs[variant].file
        with self.progress.step(f"parity {variant}", f"eager PyTorch vs ONNX Runtime ({graph.name})"):
            with OnnxRuntimeRunner(graph, self.spec, 1, self.max_batch, intra_op_threads=self.threads,
                                   providers=CPU_ONLY) as candidate:
                self._check(candidate, variant, precision)

    def openvino(self, variant: str, precision: str) -> None:
        """OpenVINO CPU parity of one graph (f32 hint), and bf16 mode for the fp32 graph."""
        if not self.openvino_available:
            return
        if precision == "int8" and not self.int8:
            if not any("OpenVINO int8 not verified" in n for n in self.manifest.notes):
                self._note("OpenVINO int8 not verified: this CPU has no int8 dot products (VNNI / AMX), so "
                           "OpenVINO's int8 kernels saturate 16-bit sums here and run slower than fp32; the runtime "
                           "refuses OpenVINO int8 on such CPUs (ONNX Runtime serves int8 there)")
            return
        graph = self.out / self.manifest.graphs[variant].file
        modes = [("f32", precision)] + ([("bf16", "bf16")] if variant == "fp32" and self.bf16 else [])
        for hint, parity_precision in modes:
            step = "parity " + (variant if hint == "f32" else hint) + " openvino"
            with self.progress.step(step, f"eager PyTorch vs OpenVINO CPU, {hint} inference ({graph.name})"):
                with OpenVinoRunner(graph, self.spec, 1, self.max_batch, inference_precision=hint,
                                    threads=self.threads) as candidate:
                    self._check(candidate, variant, parity_precision)

    def all_backends(self, variant: str, precision: str) -> None:
        self.onnxruntime(variant, precision)
        self.openvino(variant, precision)
