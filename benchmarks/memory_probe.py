"""Load time and peak RSS per backend, each measured in a fresh process (so one backend's memory
does not hide in another's): the child loads the backend and runs one batch-1 inference."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ijepa_deploy.benchmarks.backends import (
    Backend,
    OpenVinoBackend,
    OrtBackend,
    TensorRTBackend,
    TorchBackend,
    Unavailable,
)
from ijepa_deploy.benchmarks.options import COMPILE, EAGER, STATUS_OK, BenchOptions
from ijepa_deploy.child_process import run_step
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.memory import current_rss_gib, rss_split_gib

PROBE_TIMEOUT_S = 900


@dataclass
class ProbeJob:
    """Runs in the child: ``kind`` is "torch", "ort" (with ``provider``), "openvino" or "tensorrt"."""

    artifact: str
    kind: str
    variant: str
    threads: int
    provider: str = "cpu"
    opt_level: str = "all"
    mem_arena: bool = True
    ort_config: dict = field(default_factory=dict)

    def backend(self) -> Backend:
        directory = Path(self.artifact)
        manifest = read_manifest(directory)
        if self.kind == "torch":
            import torch

            torch.set_num_threads(self.threads)
            return TorchBackend(manifest, {}, compiled=False)
        if self.kind == "ort":
            opts = BenchOptions(
                artifact=directory,
                threads=self.threads,
                ort_opt_level=self.opt_level,
                ort_mem_arena=self.mem_arena,
                ort_config=self.ort_config,
            )
            return OrtBackend(directory, manifest, self.variant, self.provider, opts)
        if self.kind == "openvino":
            return OpenVinoBackend(directory, manifest, self.variant, self.threads)
        return TensorRTBackend(directory, manifest, self.variant)

    def __call__(self) -> dict:
        backend = self.backend()
        if self.kind == "ort":
            import onnxruntime  # noqa: F401  (imported before the baseline: library pages are not the model)
        if self.kind == "openvino":
            import openvino  # noqa: F401  (likewise)
        baseline = current_rss_gib()
        t0 = time.perf_counter()
        try:
            fn = backend.load()
        except Unavailable as exc:
            return {"error": str(exc)}
        load_seconds = time.perf_counter() - t0
        after_load = current_rss_gib()
        shape = backend.manifest.io.inputs[0].shape
        pixels = np.zeros((1, *shape[1:]), dtype=np.float32)
        t0 = time.perf_counter()
        fn(pixels)
        first_run = time.perf_counter() - t0
        anon, file_backed = rss_split_gib()
        return {
            "baseline_rss_gib": baseline,
            "after_load_rss_gib": after_load,
            "anon_rss_gib": anon,
            "file_rss_gib": file_backed,
            "load_seconds": load_seconds,
            "first_run_batch1_seconds": first_run,
        }


def probe_jobs(rows: list[dict], directory: Path, opts: BenchOptions) -> list[tuple[dict, ProbeJob]]:
    """One job per row that ran (torch.compile shares eager's memory and is left out)."""
    jobs = []
    for row in rows:
        if row["status"] != STATUS_OK or row["backend"] == COMPILE:
            continue
        kind, provider = "tensorrt", "cpu"
        if row["backend"] == EAGER:
            kind = "torch"
        elif row["backend"].startswith("onnxruntime-"):
            kind, provider = "ort", row["backend"].split("-", 1)[1]
        elif row["backend"] == "openvino-cpu":
            kind = "openvino"
        jobs.append(
            (
                row,
                ProbeJob(
                    str(directory.resolve()),
                    kind,
                    row["variant"],
                    opts.resolved_threads(),
                    provider,
                    opts.ort_opt_level,
                    opts.ort_mem_arena,
                    dict(opts.ort_config),
                ),
            )
        )
    return jobs


def probe_memory(job: ProbeJob, timeout: float = PROBE_TIMEOUT_S) -> dict:
    """The job's figures plus the child's own peak RSS, or ``{"error": why}``."""
    try:
        result, _, peak = run_step(job, isolate=True, timeout=timeout, env={"OMP_NUM_THREADS": str(job.threads)})
    except IJepaDeployError as exc:
        return {"error": exc.problem[:300]}
    except Exception as exc:  # whatever the backend raised in the child: the row records it
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return result if "error" in result else {**result, "peak_rss_gib": peak}
