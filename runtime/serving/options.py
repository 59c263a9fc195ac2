"""What ``ijepa-serve`` serves and how: one dataclass, checked before anything starts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ijepa_deploy.errors import InputError

LOOPBACK = "127.0.0.1"
# Triton's own default ports; tests and second instances pass their own.
HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
MAX_IMAGE_BYTES = 32 << 20
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class ServeOptions:
    artifact: Path
    name: str = "ijepa"
    backend: str = "onnxruntime"  # passed to load() unchanged: any backend the runtime has
    precision: str = "fp32"
    address: str = LOOPBACK  # Triton's default is every interface; ours is loopback
    http_port: int = HTTP_PORT
    grpc_port: int = GRPC_PORT
    metrics_port: int = METRICS_PORT
    max_batch: int | None = None  # None: the artifact's max batch
    preferred_batch_sizes: list[int] = field(default_factory=list)
    max_queue_delay_us: int = 1000
    instances: int = 1
    preprocess_instances: int = 4
    max_queue: int = 128  # requests waiting per model; past it Triton rejects at once
    queue_timeout_ms: int = 0  # 0: no timeout; else requests queued longer are rejected
    max_images: int | None = None  # images per request on <name>; None: the max batch
    max_image_bytes: int = MAX_IMAGE_BYTES
    max_image_pixels: int | None = None  # None: Pillow's decompression-bomb limit
    exit_timeout_s: int = 20
    verbose: bool = False
    # passed to load(): off by default, as there (serving an unverified artifact or engine is for
    # debugging; a version-compatible engine runs host code from the engine file in this process)
    allow_unverified: bool = False
    allow_engine_host_code: bool = False

    def check(self, artifact_max_batch: int) -> None:
        """Raise IJepaDeployError for any option that cannot work with this artifact."""
        if not _NAME.match(self.name):
            raise InputError(
                "--name",
                f"model name {self.name!r} is not allowed",
                "letters, digits, '.', '_' and '-' (Triton's model-name rule)",
            )
        for flag, port in (
            ("--http-port", self.http_port),
            ("--grpc-port", self.grpc_port),
            ("--metrics-port", self.metrics_port),
        ):
            if not 1 <= port <= 65535:
                raise InputError(flag, f"port {port} is out of range", "1..65535")
        if len({self.http_port, self.grpc_port, self.metrics_port}) != 3:
            raise InputError(
                "ports",
                f"HTTP, gRPC and metrics ports are not distinct "
                f"({self.http_port}, {self.grpc_port}, {self.metrics_port})",
                "three different ports",
            )
        if self.max_batch is None:
            self.max_batch = artifact_max_batch
        if not 1 <= self.max_batch <= artifact_max_batch:
            raise InputError(
                "--max-batch",
                f"{self.max_batch} is outside the artifact's batch range",
                f"1..{artifact_max_batch} (re-export with a larger --max-batch)",
            )
        bad = [b for b in self.preferred_batch_sizes if not 1 <= b <= self.max_batch]
        if bad:
            raise InputError(
                "--preferred-batch-sizes", f"{bad} outside 1..{self.max_batch}", "sizes within the max batch"
            )
        if self.max_images is None:
            self.max_images = self.max_batch
        positive = {
            "--instances": self.instances,
            "--preprocess-instances": self.preprocess_instances,
            "--max-queue": self.max_queue,
            "--max-images": self.max_images,
            "--max-image-bytes": self.max_image_bytes,
            "--exit-timeout": self.exit_timeout_s,
        }
        for flag, value in positive.items():
            if value < 1:
                raise InputError(flag, f"{value} is not positive", "an integer >= 1")
        for flag, value in (
            ("--max-queue-delay-us", self.max_queue_delay_us),
            ("--queue-timeout-ms", self.queue_timeout_ms),
        ):
            if value < 0:
                raise InputError(flag, f"{value} is negative", "an integer >= 0")
        if self.max_image_pixels is not None and self.max_image_pixels < 1:
            raise InputError("--max-image-pixels", f"{self.max_image_pixels} is not positive", "an integer >= 1")

    @property
    def pixels_name(self) -> str:
        return f"{self.name}_pixels"

    @property
    def client_host(self) -> str:
        """Where a client on this machine reaches the server (a wildcard bind is reached on loopback)."""
        return LOOPBACK if self.address in ("0.0.0.0", "::", "") else self.address
