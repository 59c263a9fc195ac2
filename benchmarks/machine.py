"""Probing the machine a run happens on: CPU, memory, GPU, library versions and contention."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from ijepa_deploy import __version__

_INTERESTING_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512dq",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "sve",
    "asimd",
)


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU, memory, GPU, OS and library versions, recorded in every report."""
    memory_gib = None
    try:
        import psutil

        memory_gib = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {
        "cpu": cpu_info(),
        "memory_gib": memory_gib,
        "gpu": gpu_info(),
        "os": platform.platform(),
        "libraries": library_versions(),
        "loadavg_start": loadavg(),
        **engine_info(),
    }


def cpu_info() -> dict:
    cpu: dict = {"model": platform.processor() or platform.machine(), "flags": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: the platform module's name is all there is
        text = ""
    fields: dict = {}
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    if fields:
        cpu["model"] = fields.get("model name", cpu["model"])
        cpu["family"] = fields.get("cpu family")
        cpu["model_number"] = fields.get("model")
        flags = set(fields.get("flags", fields.get("Features", "")).split())
        cpu["flags"] = [f for f in _INTERESTING_FLAGS if f in flags]
        cpu["hypervisor"] = "hypervisor" in flags
    try:
        import psutil

        cpu["physical_cores"] = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    cpu["logical_cores"] = os.cpu_count()
    cpu["usable_cores"] = usable_cores()
    return cpu


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def gpu_info() -> dict:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return {"present": False, "reason": "no nvidia-smi on PATH (no NVIDIA driver)"}
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {"present": False, "reason": f"nvidia-smi failed ({exc})"}
    rows = [r.strip() for r in out.stdout.splitlines() if r.strip()]
    gpu = {"present": bool(rows), "devices": rows, "query": "nvidia-smi"}
    if not rows:
        gpu["reason"] = (out.stderr.strip().splitlines() or ["nvidia-smi listed no GPU"])[0]
    return gpu


def library_versions() -> dict:
    libs = {"python": platform.python_version(), "ijepa_deploy": __version__}
    for dist in (
        "torch",
        "onnxruntime",
        "onnxruntime-gpu",
        "onnx",
        "transformers",
        "numpy",
        "pillow",
        "matplotlib",
        "tensorrt",
        "cuda-python",
    ):
        version = _dist_version(dist)
        if version is not None or dist in ("torch", "onnxruntime", "tensorrt"):
            libs[dist] = version
    return libs


def engine_info() -> dict:
    """ONNX Runtime's providers and torch's CPU backends."""
    extra: dict = {}
    try:
        import onnxruntime as ort

        extra["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        pass
    try:
        import torch
    except ImportError:
        return extra
    extra["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    extra["torch_mkl"] = bool(torch.backends.mkl.is_available())
    extra["torch_cuda"] = bool(torch.cuda.is_available())
    extra["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return extra


def loadavg() -> list | None:
    """1/5/15-minute load averages: other work on a shared machine skews timings; this records it."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# A point whose CPU stall (below) exceeds this share of its wall time was slowed by other processes:
# the sweep re-measures it once, the plots draw it hollow and report.md lists it.
STALL_LIMIT = 0.10


def stalled(point: dict) -> bool:
    """Whether a sweep point ran under a CPU stall above :data:`STALL_LIMIT`."""
    return (point.get("cpu_stall_fraction") or 0.0) > STALL_LIMIT


def cpu_stall_us() -> float | None:
    """Linux PSI: total microseconds some runnable task waited for a CPU. Its growth over a timed
    point divided by the point's wall time is how contended the machine was while it ran."""
    try:
        with open("/proc/pressure/cpu") as fh:
            first = fh.readline().split()
        return float(dict(kv.split("=") for kv in first[1:])["total"])
    except (OSError, KeyError, ValueError, IndexError):
        return None
