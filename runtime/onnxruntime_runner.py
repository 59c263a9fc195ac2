"""ONNX Runtime backend. CPU by default; CUDA / TensorRT execution providers when
``onnxruntime-gpu`` provides them (TensorRT EP with its engine cache enabled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ijepa_deploy.errors import ArtifactError, BackendError, InputError
from ijepa_deploy.runtime.runner import Runner
from ijepa_deploy.spec import ExportSpec

PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_EXECUTION_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


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


def gpu_execution_providers() -> list[str]:
    """The GPU execution providers this onnxruntime build offers (onnxruntime-gpu), in ORT's order."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    return [p for p in GPU_EXECUTION_PROVIDERS if p in available]


def provider_entry(name: str, cache_dir: Path | None) -> object:
    for entry in default_providers(cache_dir):
        if (entry[0] if isinstance(entry, tuple) else entry) == name:
            return entry
    return name


OPT_LEVELS = ("disable", "basic", "extended", "all")


def session_options(intra_op_threads: int | None = None, opt_level: str = "all", mem_arena: bool = True,
                    config_entries: dict | None = None, profile_prefix: str | None = None):
    """The ``SessionOptions`` every ONNX Runtime session of this project is created with."""
    import onnxruntime as ort

    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if opt_level not in levels:
        raise InputError("graph optimization level", f"unknown level {opt_level!r}", f"one of {OPT_LEVELS}")
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[opt_level]
    if intra_op_threads:
        options.intra_op_num_threads = int(intra_op_threads)
    options.enable_cpu_mem_arena = bool(mem_arena)
    for key, value in (config_entries or {}).items():
        options.add_session_config_entry(str(key), str(value))
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return options


class OnnxRuntimeRunner(Runner):
    """``options`` other than ``providers`` / ``cache_dir`` go to :func:`session_options`."""

    backend = "onnxruntime"

    def __init__(self, graph: Path, spec: ExportSpec, min_batch: int = 1, max_batch: int = 64, *,
                 providers: list | None = None, cache_dir: Path | None = None, **options):
        super().__init__(spec, min_batch, max_batch)
        import onnxruntime as ort

        options = self.session_options = session_options(**options)
        self.providers = providers if providers is not None else default_providers(cache_dir)
        try:
            self.session = ort.InferenceSession(str(graph), sess_options=options, providers=self.providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types; report which file
            raise BackendError(str(graph), f"ONNX Runtime cannot load the graph ({exc})",
                                   "a graph written by ijepa-export, with its .data file beside it") from None
        names = [o.name for o in self.session.get_outputs()]
        missing = [n for n in spec.output_names if n not in names]
        if missing:
            raise ArtifactError(str(graph), f"graph lacks outputs {missing}", f"outputs {spec.output_names}")
        self.output_names = spec.output_names
        self.backend = "onnxruntime-" + self.session.get_providers()[0].replace("ExecutionProvider", "").lower()

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, outputs))

    def close(self) -> None:
        self.session = None
