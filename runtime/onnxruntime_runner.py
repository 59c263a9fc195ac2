"""ONNX Runtime backend. CPU by default; CUDA / TensorRT execution providers when
``onnxruntime-gpu`` provides them (TensorRT EP with its engine cache enabled)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import ArtifactError, BackendError, InputError
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.runtime.runner import Runner, RunnerOptions
from ijepa_deploy.spec import ExportSpec

PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_EXECUTION_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def default_providers(cache_dir: Path | None = None) -> list:
    import onnxruntime as ort  # lazy: 0.29 s to import; OpenVINO- and TensorRT-only callers never need it

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
    import onnxruntime as ort  # lazy: 0.29 s to import; OpenVINO- and TensorRT-only callers never need it

    available = set(ort.get_available_providers())
    return [p for p in GPU_EXECUTION_PROVIDERS if p in available]


def provider_entry(name: str, cache_dir: Path | None) -> object:
    for entry in default_providers(cache_dir):
        if (entry[0] if isinstance(entry, tuple) else entry) == name:
            return entry
    return name


def onnxruntime_variant(manifest: Manifest, precision: str, providers: list | None = None) -> str:
    """The graph ONNX Runtime should run for ``precision``: "int8" on CPU-only providers means the
    artifact's "int8-cpu" graph when it has one (U8S8 Q/DQ, ~2x faster than fp32 on x86; the
    TensorRT-style S8S8 "int8" graph is barely faster than fp32 there)."""
    if precision != "int8" or "int8-cpu" not in manifest.graphs:
        return precision
    if providers is None:
        providers = default_providers()
    names = [p[0] if isinstance(p, (tuple, list)) else p for p in providers]
    return "int8-cpu" if all(n == "CPUExecutionProvider" for n in names) else precision


OPT_LEVELS = ("disable", "basic", "extended", "all")


def session_options(
    intra_op_threads: int | None = None,
    opt_level: str = "all",
    mem_arena: bool = True,
    config_entries: Mapping[str, str] | None = None,
    profile_prefix: str | None = None,
):
    """The ``SessionOptions`` every ONNX Runtime session of this project is created with."""
    import onnxruntime as ort  # lazy: 0.29 s to import; OpenVINO- and TensorRT-only callers never need it

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
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


def session_settings(options: RunnerOptions) -> dict:
    """The :func:`session_options` arguments ``options`` asks for (``threads`` are the intra-op
    threads unless those are given)."""
    return {
        "intra_op_threads": options.intra_op_threads or options.threads,
        "opt_level": options.opt_level or "all",
        "mem_arena": True if options.mem_arena is None else options.mem_arena,
        "config_entries": options.config_entries,
        "profile_prefix": options.profile_prefix,
    }


class OnnxRuntimeRunner(Runner):
    """One ONNX graph in an ``InferenceSession``; the keywords other than ``providers`` /
    ``cache_dir`` are :func:`session_options`'."""

    backend = name = "onnxruntime"
    options_used = frozenset(
        {"providers", "cache_dir", "intra_op_threads", "opt_level", "mem_arena", "config_entries", "profile_prefix"}
    )

    def __init__(
        self,
        graph: Path,
        spec: ExportSpec,
        min_batch: int = 1,
        max_batch: int = 64,
        *,
        providers: list | None = None,
        cache_dir: Path | None = None,
        intra_op_threads: int | None = None,
        opt_level: str = "all",
        mem_arena: bool = True,
        config_entries: Mapping[str, str] | None = None,
        profile_prefix: str | None = None,
    ):
        super().__init__(spec, min_batch, max_batch)
        import onnxruntime as ort  # lazy: 0.29 s to import; OpenVINO- and TensorRT-only callers never need it

        self.graph = Path(graph)
        options = self.session_options = session_options(
            intra_op_threads, opt_level, mem_arena, config_entries, profile_prefix
        )
        self.providers = providers if providers is not None else default_providers(cache_dir)
        try:
            self.session = ort.InferenceSession(str(graph), sess_options=options, providers=self.providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types; report which file
            raise BackendError(
                str(graph),
                f"ONNX Runtime cannot load the graph ({exc})",
                "a graph written by ijepa-export, with its .data file beside it",
            ) from None
        names = [o.name for o in self.session.get_outputs()]
        missing = [n for n in spec.output_names if n not in names]
        if missing:
            raise ArtifactError(str(graph), f"graph lacks outputs {missing}", f"outputs {spec.output_names}")
        self.output_names = spec.output_names
        self.backend = "onnxruntime-" + self.session.get_providers()[0].replace("ExecutionProvider", "").lower()

    @classmethod
    def variant_for(cls, manifest: Manifest, precision: str, options: RunnerOptions) -> str:
        return onnxruntime_variant(manifest, precision, options.providers)

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
    ) -> OnnxRuntimeRunner:
        graph = cls.artifact_graph(directory, manifest, variant, verify)
        return cls(
            graph,
            manifest.io,
            manifest.batch.min,
            manifest.batch.max,
            providers=options.providers,
            cache_dir=options.cache_dir,
            **session_settings(options),
        )

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, outputs))

    def close(self) -> None:
        self.session = None
