"""Each exported graph checked against eager fp32's saved outputs on the CPU backends that serve
it: ONNX Runtime (always) and OpenVINO (when installed, plus its bf16 mode on CPUs with native
bf16; its int8 kernels only on CPUs with int8 dot products). The graphs OpenVINO serves are
converted to OpenVINO IR first and checked as IR, the form the runtimes open (openvino_ir). Every
check appends a parity row to the manifest and writes it; each ONNX Runtime session or OpenVINO
compiled model is released before the next one is made, so the export holds one engine's memory at
a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ijepa_deploy.exporters.export_run import ExportRun
from ijepa_deploy.exporters.openvino_ir import IrFromGraph
from ijepa_deploy.runtime.acceptance.parity import ReferenceParity
from ijepa_deploy.runtime.cpu_features import int8_dot_product
from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner
from ijepa_deploy.runtime.openvino_runner import OpenVinoRunner, cpu_supports_bf16, openvino_status

CPU_ONLY = ["CPUExecutionProvider"]  # the graphs' own check; GPU providers get theirs (engine_parity)


@dataclass
class GraphParity:
    """The parity checks of one export: one saved reference for every graph and backend. Without
    openvino installed the OpenVINO rows are skipped with a note, once."""

    run: ExportRun
    check: ReferenceParity
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
            self._note(
                "OpenVINO bf16 not verified: this CPU has no native bf16 (AVX512_BF16 / AMX); "
                "load(precision='bf16') refuses this artifact until it is exported on such a CPU"
            )

    def _note(self, message: str) -> None:
        self.run.progress.say(message)
        self.run.manifest.notes.append(message)

    def _check(self, candidate, variant: str, precision: str) -> None:
        result = self.check(
            candidate,
            variant,
            precision,
            tuple(self.run.opts.batch_sizes),
            thresholds=self.thresholds.get(precision),
            neighbours=precision != "fp32",
            progress=lambda s: self.run.progress.say(f"[parity] {s}"),
        )
        self.run.manifest.parity.append(result)
        self.run.manifest.write(self.run.out)

    def onnxruntime(self, variant: str, precision: str) -> None:
        """ONNX Runtime CPU parity of one graph."""
        graph = self.run.out / self.run.manifest.graphs[variant].file
        with self.run.progress.step(f"parity {variant}", f"eager PyTorch vs ONNX Runtime ({graph.name})"):
            with OnnxRuntimeRunner(
                graph,
                self.run.spec,
                1,
                self.run.opts.max_batch,
                intra_op_threads=self.run.opts.threads,
                providers=CPU_ONLY,
            ) as candidate:
                self._check(candidate, variant, precision)

    def openvino(self, variant: str, precision: str) -> None:
        """OpenVINO CPU parity of one graph (f32 hint), and bf16 mode for the fp32 graph."""
        if not self.openvino_available:
            return
        if precision == "int8" and not self.int8:
            if not any("OpenVINO int8 not verified" in n for n in self.run.manifest.notes):
                self._note(
                    "OpenVINO int8 not verified: this CPU has no int8 dot products (VNNI / AMX), so "
                    "OpenVINO's int8 kernels saturate 16-bit sums here and run slower than fp32; the runtime "
                    "refuses OpenVINO int8 on such CPUs (ONNX Runtime serves int8 there)"
                )
            return
        graph = self._openvino_graph(variant)
        modes = [("f32", precision)] + ([("bf16", "bf16")] if variant == "fp32" and self.bf16 else [])
        for hint, parity_precision in modes:
            step = "parity " + (variant if hint == "f32" else hint) + " openvino"
            with self.run.progress.step(step, f"eager PyTorch vs OpenVINO CPU, {hint} inference ({graph.name})"):
                with OpenVinoRunner(
                    graph,
                    self.run.spec,
                    1,
                    self.run.opts.max_batch,
                    inference_precision=hint,
                    threads=self.run.opts.threads,
                ) as candidate:
                    self._check(candidate, variant, parity_precision)

    def _openvino_graph(self, variant: str) -> Path:
        """What OpenVINO will open at run time: the graph's IR, written now, for the graphs it serves
        (their record's ``for`` lists openvino); the ONNX file for the others, checked as a graph."""
        record = self.run.manifest.graphs[variant]
        if "openvino" not in record.targets:
            return self.run.out / record.file
        with self.run.progress.step(f"openvino ir {variant}", f"{record.file} -> OpenVINO IR (weights mapped at load)"):
            return IrFromGraph(self.run.out, self.run.manifest, variant)()

    def all_backends(self, variant: str, precision: str) -> None:
        self.onnxruntime(variant, precision)
        self.openvino(variant, precision)
