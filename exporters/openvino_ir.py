"""An artifact graph converted to OpenVINO IR (``.xml`` + ``.bin``) for the graphs OpenVINO serves.

Why: OpenVINO copies the weights of an ONNX graph onto the heap when it reads it; from IR the CPU
plugin uses the ``.bin`` through a memory map: file-backed pages that every process on the host
shares and the kernel can reclaim (ViT-B: anonymous memory 0.70 -> 0.38 GiB, benchmarks/README.md,
issue 19). Converting at load time instead would write the whole model on every start.

The IR is written with ``compress_to_fp16=False`` (the default would halve fp32 weights to fp16, a
different graph from the one checked) and recorded in the manifest before its parity check runs;
that check (the graph's OpenVINO rows) then runs on the IR, which is what the runtimes open.
"""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.manifest import Manifest
from ijepa_deploy.records import OpenVinoIR


def ir_names(onnx_file: str) -> tuple[str, str]:
    """``model_int8.onnx`` -> (``model_int8.xml``, ``model_int8.bin``)."""
    stem = onnx_file[: -len(".onnx")] if onnx_file.endswith(".onnx") else onnx_file
    return f"{stem}.xml", f"{stem}.bin"


class IrFromGraph:
    """Write the IR of one graph of the artifact in ``out`` and record it (files and checksums,
    ``graphs[variant].openvino_ir``); returns the .xml path. Peak memory: OpenVINO's in-memory
    model of the graph, released before returning."""

    def __init__(self, out: Path, manifest: Manifest, variant: str):
        self.out, self.manifest, self.variant = Path(out), manifest, variant

    def __call__(self) -> Path:
        import openvino as ov  # lazy: an optional extra; the exporter runs without it

        graph = self.manifest.graphs[self.variant]
        xml, weights = ir_names(graph.file)
        model = ov.Core().read_model(str(self.out / graph.file))
        ov.save_model(model, str(self.out / xml), compress_to_fp16=False)
        del model  # the IR is on disk; the runner maps it instead of holding a second copy
        self.manifest.record_file(self.out, xml, role="openvino-ir")
        self.manifest.record_file(self.out, weights, role="openvino-ir-weights")
        graph.openvino_ir = OpenVinoIR(file=xml, weights=weights, converter=f"openvino {ov.__version__.split('-')[0]}")
        self.manifest.write(self.out)
        return self.out / xml
