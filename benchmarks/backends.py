"""What is timed: one ``Backend`` per report row, each a thin wrapper around the runner that
serves it. ONNX Runtime rows are ``OnnxRuntimeRunner``s from ``runtime.model.open_runner`` (the
object ``runtime.load()`` serves), TensorRT rows the runtime's ``TensorRTRunner``, and eager
PyTorch the exporters' ``TorchRunner`` reference. ``load`` returns a callable
pixels -> {output name: float32 array}."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ijepa_deploy.benchmarks.options import COMPILE, EAGER, ORT_PROVIDERS, BenchOptions
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.exporters.reference import TorchRunner, eager_from_manifest
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.runtime.model import open_runner
from ijepa_deploy.runtime.onnxruntime_runner import default_providers, session_options, session_settings
from ijepa_deploy.runtime.runner import RunnerOptions


class Unavailable(Exception):
    """A backend that cannot run on this machine; the message is the reason shown in the report."""

    @classmethod
    def refused(cls, exc: IJepaDeployError) -> Unavailable:
        """The runtime's refusal to open a graph, as a one-line reason: file name and first line."""
        first = (exc.problem.strip().splitlines() or [""])[0]
        return cls(f"{Path(exc.subject).name}: {first[:300]}")


class Backend:
    name = "base"
    variant = "fp32"
    precision = "fp32"
    runner = None
    unverified: str | None = None  # why this row's graph/engine is not verified (benchmarked on --allow-unverified)

    @property
    def label(self) -> str:
        return f"{self.name} {self.variant}"

    def details(self) -> dict:
        return {}

    def load(self):
        raise NotImplementedError

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
        self.runner = None


def _as_float32(run):
    return lambda pixels: {k: np.asarray(v, dtype=np.float32) for k, v in run(pixels).items()}


class TorchBackend(Backend):
    """Eager PyTorch (the reference) or ``torch.compile`` of the same weights."""

    def __init__(self, manifest: Manifest, loaded_holder: dict, compiled: bool):
        self.manifest = manifest
        self.holder = loaded_holder  # shared: eager and compile use the same weights
        self.compiled = compiled
        self.name = COMPILE if compiled else EAGER

    def details(self) -> dict:
        d = {
            "attention": "sdpa (transformers default)",
            "dtype": "float32",
            "grad": "inference_mode",
            "runner": "ijepa_deploy.exporters.reference.TorchRunner",
        }
        if self.compiled:
            d["compile"] = "torch.compile(model) default mode, inductor; compile time = first calls"
        return d

    def load(self):
        import dataclasses

        import torch

        if "loaded" not in self.holder:
            self.holder["loaded"] = eager_from_manifest(self.manifest)
        loaded = self.holder["loaded"]
        if self.compiled:
            try:
                loaded = dataclasses.replace(loaded, model=torch.compile(loaded.model))
            except Exception as exc:  # torch.compile raises many backend-specific types
                raise Unavailable(f"torch.compile failed: {type(exc).__name__}: {exc}") from None
        batch = self.manifest.batch
        self.runner = TorchRunner(loaded, self.manifest.io, batch.min, batch.max)
        return self.runner.run


class OrtBackend(Backend):
    """One graph of the artifact on one ONNX Runtime execution provider."""

    def __init__(self, directory: Path, manifest: Manifest, variant: str, provider: str, opts: BenchOptions):
        self.directory = directory
        self.manifest = manifest
        self.variant = variant
        self.provider_key = provider
        self.provider = ORT_PROVIDERS[provider]
        self.name = f"onnxruntime-{provider}"
        self.opts = opts
        graph = manifest.graphs.get(variant)
        self.precision = graph.precision if graph else variant

    def details(self) -> dict:
        graph = self.manifest.graphs.get(self.variant)
        entry = graph.to_dict() if graph else {}
        return {
            "graph": entry.get("file"),
            "provider": self.provider,
            "runner": "ijepa_deploy.runtime.model.open_runner -> OnnxRuntimeRunner",
            "session": {
                **describe_session_options(session_options(**session_settings(self.opts.ort_options()))),
                "config_entries": dict(self.opts.ort_config),
            },
            "graph_record": {k: v for k, v in entry.items() if k not in ("ops", "file", "data_files")},
        }

    def providers(self) -> list:
        if self.provider_key == "cpu":
            return ["CPUExecutionProvider"]
        return [
            p
            for p in default_providers(self.directory / ".trt-cache")
            if (p[0] if isinstance(p, tuple) else p) in (self.provider, "CPUExecutionProvider")
        ]

    def open(self, profile_prefix: str | None = None):
        """The runner ``load()`` would serve for this graph, with the bench's session options.
        Checksums are not verified here: the end-to-end measurement does that through ``load()``.
        The row times the graph it names: load(precision="int8") on a CPU host serves the int8-cpu
        graph, this row's "int8" is TensorRT's S8S8 Q/DQ graph (hence ``variant``)."""
        options = replace(self.opts.ort_options(), providers=self.providers(), profile_prefix=profile_prefix)
        try:
            return open_runner(
                self.directory,
                self.manifest,
                "onnxruntime",
                self.precision,
                verify=False,
                variant=self.variant,
                allow_unverified=bool(self.unverified),
                options=options,
            )
        except IJepaDeployError as exc:
            raise Unavailable.refused(exc) from None

    def load(self):
        self.runner = self.open()
        return _as_float32(self.runner.run)


def describe_session_options(options) -> dict:
    """The settings of an ``onnxruntime.SessionOptions`` that a report records."""
    return {
        "graph_optimization_level": str(options.graph_optimization_level).rsplit(".", 1)[-1],
        "intra_op_num_threads": options.intra_op_num_threads,
        "inter_op_num_threads": options.inter_op_num_threads,
        "execution_mode": str(options.execution_mode).rsplit(".", 1)[-1],
        "enable_cpu_mem_arena": options.enable_cpu_mem_arena,
        "enable_profiling": options.enable_profiling,
    }


class OpenVinoBackend(Backend):
    """One graph of the artifact (or ``bf16``: the fp32 graph with the bf16 hint) on OpenVINO CPU,
    through ``open_runner(..., backend="openvino")``: the runner ``load()`` serves."""

    name = "openvino-cpu"

    def __init__(self, directory: Path, manifest: Manifest, variant: str, threads: int):
        self.directory = directory
        self.manifest = manifest
        self.variant = variant
        self.threads = threads
        graph = manifest.graphs.get("fp32" if variant == "bf16" else variant)
        self.precision = "bf16" if variant == "bf16" else (graph.precision if graph else variant)

    def details(self) -> dict:
        graph = self.manifest.graphs.get("fp32" if self.variant == "bf16" else self.variant)
        d = {
            "graph": graph.file if graph else None,
            "runner": "ijepa_deploy.runtime.model.open_runner -> OpenVinoRunner",
            "threads": self.threads,
        }
        if self.runner is not None:
            d["inference_precision"] = self.runner.inference_precision  # read back from the compiled model
        return d

    def load(self):
        try:
            self.runner = open_runner(
                self.directory,
                self.manifest,
                "openvino",
                self.variant,
                verify=False,
                allow_unverified=bool(self.unverified),
                options=RunnerOptions(threads=self.threads),
            )
        except IJepaDeployError as exc:
            raise Unavailable.refused(exc) from None
        return _as_float32(self.runner.run)


class TensorRTBackend(Backend):
    """One engine of the artifact through the runtime's TensorRT runner."""

    name = "tensorrt"

    def __init__(self, directory: Path, manifest: Manifest, variant: str, unverified: str | None = None):
        self.directory = directory
        self.manifest = manifest
        self.variant = variant
        self.unverified = unverified
        engine = manifest.engines.get(variant)
        self.precision = engine.precision if engine else variant

    def details(self) -> dict:
        engine = self.manifest.engines.get(self.variant)
        entry = engine.to_dict() if engine else {}
        return {"engine": entry.get("file"), "record": {k: v for k, v in entry.items() if k != "file"}}

    def load(self):
        try:
            self.runner = open_runner(
                self.directory,
                self.manifest,
                backend="tensorrt",
                precision=self.variant,
                allow_unverified=bool(self.unverified),
            )
        except IJepaDeployError as exc:
            raise Unavailable(str(exc)[:400]) from None
        return _as_float32(self.runner.run)
