"""ONNX Runtime backend. CPU by default; CUDA / TensorRT execution providers when
``onnxruntime-gpu`` provides them (TensorRT EP with its engine cache enabled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.runtime.runner import Runner
from ijepa_deploy.spec import ExportSpec

PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def default_providers(cache_dir: Path | None = None) -> list:
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    providers: list = []
    for name in PREFERRED:
        if name not in available:
            continue
        if name == "TensorrtExecutionProvider":
            options: dict[str, bool | str] = {"trt_engine_cache_enable": True, "trt_timing_cache_enable": True}
            if cache_dir is not None:
                options["trt_engine_cache_path"] = str(cache_dir)
                options["trt_timing_cache_path"] = str(cache_dir)
            providers.append((name, options))
        else:
            providers.append(name)
    return providers


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, graph: Path, spec: ExportSpec, min_batch: int = 1, max_batch: int = 64, *,
                 providers: list | None = None, intra_op_threads: int | None = None,
                 cache_dir: Path | None = None):
        super().__init__(spec, min_batch, max_batch)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            options.intra_op_num_threads = int(intra_op_threads)
        self.providers = providers if providers is not None else default_providers(cache_dir)
        try:
            self.session = ort.InferenceSession(str(graph), sess_options=options, providers=self.providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types; report which file
            raise IJepaDeployError(str(graph), f"ONNX Runtime cannot load the graph ({exc})",
                                   "a graph written by ijepa-export, with its .data file beside it") from None
        names = [o.name for o in self.session.get_outputs()]
        missing = [n for n in spec.output_names if n not in names]
        if missing:
            raise IJepaDeployError(str(graph), f"graph lacks outputs {missing}", f"outputs {spec.output_names}")
        self.output_names = spec.output_names
        self.backend = "onnxruntime-" + self.session.get_providers()[0].replace("ExecutionProvider", "").lower()

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, outputs))

    def close(self) -> None:
        self.session = None
