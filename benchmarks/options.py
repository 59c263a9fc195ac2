"""What ``ijepa-bench`` runs with (``BenchOptions``) and the names its rows use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ijepa_deploy.benchmarks.machine import usable_cores
from ijepa_deploy.runtime.onnxruntime_runner import OPT_LEVELS
from ijepa_deploy.runtime.runner import RunnerOptions

STATUS_OK = "ok"
STATUS_UNAVAILABLE = "unavailable"
STATUS_FAILED = "failed"

EAGER = "torch-eager"
COMPILE = "torch-compile"
ORT_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}

__all__ = [
    "BenchOptions",
    "COMPILE",
    "EAGER",
    "OPT_LEVELS",
    "ORT_PROVIDERS",
    "STATUS_FAILED",
    "STATUS_OK",
    "STATUS_UNAVAILABLE",
]


@dataclass
class BenchOptions:
    artifact: Path
    output: Path | None = None
    batch_sizes: tuple[int, ...] | None = None  # default: 1, 2, 4, ... up to max_batch
    max_batch: int = 8
    threads: int | None = None  # default: the cores this process may use
    warmup: int = 1
    min_iters: int = 3
    min_seconds: float = 5.0
    max_iters: int = 200
    skip_compile: bool = False
    graphs: tuple[str, ...] | None = None  # restrict manifest.graphs (default all)
    providers: tuple[str, ...] = ("cpu", "cuda", "tensorrt")
    profile: bool = False
    profile_batches: tuple[int, ...] = (1,)
    profile_iters: int = 3
    memory_probe: bool = True
    end_to_end: bool = True
    gemm_size: int = 4096
    ort_opt_level: str = "all"
    ort_mem_arena: bool = True
    ort_config: dict = field(default_factory=dict)  # session config entries, key -> value
    max_backend_seconds: float | None = None  # per row: larger batches are skipped once spent
    paired_rounds: int = 3  # A/B rounds eager vs target graphs at the target batches (0: off)
    command: str = ""
    quiet: bool = False
    allow_unverified: bool = False  # checked by the CLI before any timing (cli/bench.verify_artifact)
    # --cpp (benchmarks/cpp_rows.py): C++ runtime vs Python runtime, paired rounds
    cpp: bool = False
    cpp_driver: Path | None = None  # default: build (or find up to date) benchmarks' ijepa_bench_driver
    cpp_precision: str = "fp32"  # the graph both sides run
    cpp_rounds: int = 5
    # --serve (benchmarks/serving.py): served vs direct, interleaved rounds per client count
    serve: bool = False
    serve_clients: tuple[int, ...] = (1, 8, 64)
    serve_requests: int = 2  # per client per round
    serve_rounds: int = 3
    serve_backend: str = "onnxruntime"
    serve_precision: str = "fp32"
    serve_preprocess_instances: int = 8
    serve_queue_delay_us: int = 5000

    def resolved_threads(self) -> int:
        return int(self.threads) if self.threads else usable_cores()

    def ort_options(self) -> RunnerOptions:
        """The bench's ONNX Runtime session settings, as the runtime's runner options."""
        return RunnerOptions(
            intra_op_threads=self.resolved_threads(),
            opt_level=self.ort_opt_level,
            mem_arena=self.ort_mem_arena,
            config_entries=dict(self.ort_config),
        )
